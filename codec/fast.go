package codec

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/bettersocket/bettersocket/proto"
)

// The frames of the hot paths, DATA and ACK, and the unnamed REQUEST and
// the RESPONSE without an error of a round trip, are encoded and decoded by
// hand instead of through the CBOR library's reflection, which costs more
// than everything else a message goes through. The bytes are the same as
// the library's (shortest heads, null for a nil payload), and the decoder
// takes only the exact layout of doc.go; anything else it leaves to the
// library's path, which then accepts or rejects it as before.

// appendHead appends a CBOR head of the major type with the shortest
// encoding of arg.
func appendHead(dst []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(dst, m|byte(arg))
	case arg <= 0xff:
		return append(dst, m|24, byte(arg))
	case arg <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(arg))
	case arg <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(arg))
	default:
		return binary.BigEndian.AppendUint64(append(dst, m|27), arg)
	}
}

// appendData appends the encoding of a DATA frame.
func appendData(dst []byte, f *proto.Data) []byte {
	dst = append(dst, majorArray<<5|5, byte(proto.TypeData))
	dst = appendHead(dst, majorUint, f.Seq)
	dst = appendHead(dst, majorUint, f.Ack)
	dst = appendPayload(dst, f.Payload)
	dst = appendHead(dst, majorText, uint64(len(f.Room)))
	return append(dst, f.Room...)
}

// appendRequest appends the encoding of an unnamed REQUEST frame.
func appendRequest(dst []byte, f *proto.Request) []byte {
	dst = append(dst, majorArray<<5|5, byte(proto.TypeRequest))
	dst = appendHead(dst, majorUint, f.Seq)
	dst = appendHead(dst, majorUint, f.Ack)
	dst = appendHead(dst, majorUint, f.ID)
	return appendPayload(dst, f.Payload)
}

// appendResponse appends the encoding of a RESPONSE frame without an error.
func appendResponse(dst []byte, f *proto.Response) []byte {
	dst = append(dst, majorArray<<5|6, byte(proto.TypeResponse))
	dst = appendHead(dst, majorUint, f.Seq)
	dst = appendHead(dst, majorUint, f.Ack)
	dst = appendHead(dst, majorUint, f.ID)
	return append(appendPayload(dst, f.Payload), cborNull)
}

// appendPayload appends a payload: null when nil, else a byte string.
func appendPayload(dst, p []byte) []byte {
	if p == nil {
		return append(dst, cborNull)
	}
	return append(appendHead(dst, majorBytes, uint64(len(p))), p...)
}

// appendAck appends the encoding of an ACK frame.
func appendAck(dst []byte, f *proto.Ack) []byte {
	return appendHead(append(dst, majorArray<<5|2, byte(proto.TypeAck)), majorUint, f.Ack)
}

// readHead reads the head of the item at b[off], which must be of the
// major type, with bounds checks; ok is false when it is truncated, of
// another type or not a definite-length head.
func readHead(b []byte, off int, major byte) (arg uint64, next int, ok bool) {
	if off >= len(b) || b[off]>>5 != major {
		return 0, 0, false
	}
	info := b[off] & 0x1f
	off++
	if info < 24 {
		return uint64(info), off, true
	}
	rest := b[off:]
	switch {
	case info == 24 && len(rest) >= 1:
		return uint64(rest[0]), off + 1, true
	case info == 25 && len(rest) >= 2:
		return uint64(binary.BigEndian.Uint16(rest)), off + 2, true
	case info == 26 && len(rest) >= 4:
		return uint64(binary.BigEndian.Uint32(rest)), off + 4, true
	case info == 27 && len(rest) >= 8:
		return binary.BigEndian.Uint64(rest), off + 8, true
	}
	return 0, 0, false
}

// readUint reads an unsigned integer at b[off].
func readUint(b []byte, off int) (uint64, int, bool) { return readHead(b, off, majorUint) }

// readString reads a byte or text string of the major type at b[off] and
// returns its content, aliasing b.
func readString(b []byte, off int, major byte) ([]byte, int, bool) {
	n, next, ok := readHead(b, off, major)
	if !ok || n > uint64(len(b)-next) {
		return nil, 0, false
	}
	return b[next : next+int(n)], next + int(n), true
}

// fastData decodes a DATA frame of the exact layout into f and returns the
// rest of b; ok is false when b is anything else (the caller then uses the
// library's path). The payload is a fresh copy. f's Room is reused when the
// frame names the same room: the decoder passes the DATA it decoded last,
// and the frames of a broadcast stream all name one room, which then costs
// neither an allocation nor a UTF-8 check per frame.
func fastData(b []byte, f *proto.Data) (rest []byte, ok bool) {
	if len(b) < 2 || b[0] != majorArray<<5|5 || b[1] != byte(proto.TypeData) {
		return nil, false
	}
	seq, off, ok := readUint(b, 2)
	if !ok {
		return nil, false
	}
	ack, off, ok := readUint(b, off)
	if !ok {
		return nil, false
	}
	payload, off, ok := readPayload(b, off)
	if !ok {
		return nil, false
	}
	room, off, ok := readString(b, off, majorText)
	if !ok {
		return nil, false
	}
	if string(room) != f.Room {
		if !utf8.Valid(room) {
			return nil, false
		}
		f.Room = string(room)
	}
	// Field by field rather than a composite literal, which would be built
	// aside and copied in through the GC's bulk write barrier.
	f.Seq, f.Ack, f.Payload = seq, ack, payload
	if f.Name != "" {
		f.Name = ""
	}
	return b[off:], true
}

// fastAck decodes an ACK frame of the exact layout, as fastData.
func fastAck(b []byte, f *proto.Ack) (rest []byte, ok bool) {
	if len(b) < 2 || b[0] != majorArray<<5|2 || b[1] != byte(proto.TypeAck) {
		return nil, false
	}
	ack, off, ok := readUint(b, 2)
	if !ok {
		return nil, false
	}
	*f = proto.Ack{Ack: ack}
	return b[off:], true
}

// readPayload reads a payload at b[off]: null (nil) or a byte string, of
// which it returns a fresh copy.
func readPayload(b []byte, off int) ([]byte, int, bool) {
	if off < len(b) && b[off] == cborNull {
		return nil, off + 1, true
	}
	p, next, ok := readString(b, off, majorBytes)
	if !ok {
		return nil, 0, false
	}
	c := make([]byte, len(p))
	copy(c, p) // make and copy together: the copy's memory is not cleared first
	return c, next, true
}

// fastRequest decodes an unnamed REQUEST frame of the exact layout, as
// fastData.
func fastRequest(b []byte, f *proto.Request) (rest []byte, ok bool) {
	if len(b) < 2 || b[0] != majorArray<<5|5 || b[1] != byte(proto.TypeRequest) {
		return nil, false
	}
	seq, ack, id, payload, off, ok := readCall(b)
	if !ok {
		return nil, false
	}
	// Field by field, as in fastData.
	f.Seq, f.Ack, f.ID, f.Payload = seq, ack, id, payload
	if f.Name != "" {
		f.Name = ""
	}
	return b[off:], true
}

// fastResponse decodes a RESPONSE frame of the exact layout whose error is
// null, as fastData.
func fastResponse(b []byte, f *proto.Response) (rest []byte, ok bool) {
	if len(b) < 2 || b[0] != majorArray<<5|6 || b[1] != byte(proto.TypeResponse) {
		return nil, false
	}
	seq, ack, id, payload, off, ok := readCall(b)
	if !ok || off >= len(b) || b[off] != cborNull {
		return nil, false
	}
	f.Seq, f.Ack, f.ID, f.Payload = seq, ack, id, payload
	f.Error = nil
	return b[off+1:], true
}

// readCall reads the sequence number, acknowledgement, ID and payload that
// follow the type of a REQUEST or RESPONSE frame.
func readCall(b []byte) (seq, ack, id uint64, payload []byte, off int, ok bool) {
	if seq, off, ok = readUint(b, 2); !ok {
		return
	}
	if ack, off, ok = readUint(b, off); !ok {
		return
	}
	if id, off, ok = readUint(b, off); !ok {
		return
	}
	payload, off, ok = readPayload(b, off)
	return
}
