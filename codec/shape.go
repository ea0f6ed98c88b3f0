package codec

import (
	"fmt"

	"github.com/bettersocket/bettersocket/proto"
)

// The CBOR library is lenient in two ways a strict wire format must not be:
// it decodes null and undefined into any field as the zero value, and it
// accepts an array of small integers where a byte string is expected. After
// the library has checked that a frame is well-formed and fits its struct,
// checkShape walks the frame's elements once and requires each to have
// exactly the major type the layout in doc.go gives it.
//
// Schema letters: u unsigned integer, b byte string, B byte string or null,
// t text string, f boolean, L limits [u u u], R resume [b B u u] or null,
// E error [u t] or null.
var shapes = [...]string{
	proto.TypeHello:     "uuRBL",
	proto.TypeWelcome:   "uubBuufuL",
	proto.TypeAck:       "uu",
	proto.TypeHeartbeat: "uuu",
	proto.TypeData:      "uuuBt",
	proto.TypeRequest:   "uuuuB",
	proto.TypeResponse:  "uuuuBE",
	proto.TypeClose:     "uut",
	proto.TypeJoin:      "uuuut",
	proto.TypeLeave:     "uuuut",
	proto.TypePublish:   "uuuutB",
}

// Frames that may carry a name (DATA, REQUEST, PUBLISH) have it as an
// optional last element, a text string: their named form has one element
// more than shapes gives.
var hasName = [...]bool{
	proto.TypeData:    true,
	proto.TypeRequest: true,
	proto.TypePublish: true,
}

// named reports whether frame b, of a type that may carry a name, has the
// element count of its named form. Only the array header is read; the
// caller checked it (peekType).
func named(b []byte, schema string) bool {
	return int(b[0]&0x1f) == len(schema)+1
}

const (
	majorUint  = 0
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorOther = 7
	cborFalse  = 0xf4
	cborTrue   = 0xf5
	cborNull   = 0xf6
)

// head reads the initial byte and argument of the item at b[off]. The frame
// was already checked well-formed, with definite lengths only.
func head(b []byte, off int) (major byte, arg uint64, next int) {
	ib := b[off]
	major, info := ib>>5, ib&0x1f
	off++
	switch {
	case info < 24:
		return major, uint64(info), off
	case info == 24:
		return major, uint64(b[off]), off + 1
	case info == 25:
		return major, uint64(b[off])<<8 | uint64(b[off+1]), off + 2
	case info == 26:
		var v uint64
		for _, c := range b[off : off+4] {
			v = v<<8 | uint64(c)
		}
		return major, v, off + 4
	default: // 27: the well-formedness check rules out 28..31 here
		var v uint64
		for _, c := range b[off : off+8] {
			v = v<<8 | uint64(c)
		}
		return major, v, off + 8
	}
}

// checkShape verifies the element types of frame b (one complete frame).
func checkShape(t proto.FrameType, b []byte) error {
	_, n, off := head(b, 0)
	schema := shapes[t]
	if int(t) < len(hasName) && hasName[t] && int(n) == len(schema)+1 {
		schema += "t"
	}
	if int(n) != len(schema) {
		return fmt.Errorf("%d elements, want %d", n, len(schema))
	}
	var err error
	for i := 0; i < len(schema) && err == nil; i++ {
		off, err = checkItem(b, off, schema[i], i)
	}
	return err
}

func checkItem(b []byte, off int, kind byte, i int) (int, error) {
	ib := b[off]
	major, arg, next := head(b, off)
	want := ""
	switch kind {
	case 'u':
		if major == majorUint {
			return next, nil
		}
		want = "unsigned integer"
	case 'b', 'B':
		if major == majorBytes {
			return next + int(arg), nil
		}
		if kind == 'B' && ib == cborNull {
			return next, nil
		}
		want = "byte string"
	case 't':
		if major == majorText {
			return next + int(arg), nil
		}
		want = "text string"
	case 'f':
		if ib == cborFalse || ib == cborTrue {
			return next, nil
		}
		want = "boolean"
	case 'L', 'R', 'E':
		if kind != 'L' && ib == cborNull {
			return next, nil
		}
		sub := "uuu"
		switch kind {
		case 'R':
			sub = "bBuu"
		case 'E':
			sub = "ut"
		}
		if major == majorArray && int(arg) == len(sub) {
			var err error
			for j := 0; j < len(sub) && err == nil; j++ {
				next, err = checkItem(b, next, sub[j], j)
			}
			return next, err
		}
		want = fmt.Sprintf("array of %d", len(sub))
	}
	return 0, fmt.Errorf("element %d: want %s, got initial byte 0x%02x", i, want, ib)
}
