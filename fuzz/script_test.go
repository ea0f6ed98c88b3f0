package fuzz

import (
	"encoding/binary"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// A fuzz input for the machine targets is a small program: a stream of
// operations, each an op byte followed by its operands. script reads it;
// prog writes it (the corpus generator uses prog, so seeds are real
// conversations in exactly the encoding the targets read). Reads past the
// end yield zeros, so every byte string is a valid program.

// t0 is the start of virtual time in every target.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

type script struct{ b []byte }

func (s *script) more() bool { return len(s.b) > 0 }

func (s *script) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	b := s.b[0]
	s.b = s.b[1:]
	return b
}

func (s *script) flag() bool { return s.byte()&1 == 1 }

func (s *script) u16() uint16 { return uint16(s.byte())<<8 | uint16(s.byte()) }

// bytes returns the next n bytes, or fewer at the end of the input.
func (s *script) bytes(n int) []byte {
	n = min(n, len(s.b))
	b := s.b[:n:n]
	s.b = s.b[n:]
	return b
}

// u64 reads a number: one byte below 0xf0 is itself (small values are what
// sequence numbers, acks and IDs near a session's state look like), 0xf0
// starts 8 big-endian bytes, 0xf1..0xf4 are the edges of the range, and
// 0xf5..0xff start 2 big-endian bytes.
func (s *script) u64() uint64 {
	b := s.byte()
	switch {
	case b < 0xf0:
		return uint64(b)
	case b == 0xf0:
		var x [8]byte
		copy(x[:], s.bytes(8))
		return binary.BigEndian.Uint64(x[:])
	case b == 0xf1:
		return 1<<64 - 1
	case b == 0xf2:
		return 1 << 63
	case b == 0xf3:
		return 1<<32 - 1
	case b == 0xf4:
		return 1 << 32
	}
	return uint64(s.u16())
}

// blob reads a byte string: a length byte (0: nil, 0xfe: empty, 0xff: a
// 2-byte length follows) and that many bytes. The result is a copy: the
// machines take ownership of what they are given.
func (s *script) blob() []byte {
	n := int(s.byte())
	switch n {
	case 0:
		return nil
	case 0xfe:
		return []byte{}
	case 0xff:
		n = int(s.u16())
	}
	return append([]byte{}, s.bytes(n)...)
}

// known holds what a hostile peer could have learned or guessed: client
// IDs and resume tokens seen earlier in the same run.
type known struct {
	ids    []proto.ClientID
	tokens [][]byte
}

func (k *known) addID(id proto.ClientID) {
	if id.IsZero() {
		return
	}
	for _, x := range k.ids {
		if x == id {
			return
		}
	}
	k.ids = append(k.ids, id)
}

func (k *known) addToken(tok []byte) {
	if len(k.tokens) < 64 {
		k.tokens = append(k.tokens, append([]byte{}, tok...))
	}
}

// id reads a client ID: one of the known ones, or 16 raw bytes.
func (s *script) id(k *known) proto.ClientID {
	var id proto.ClientID
	if b := s.byte(); b < 0x80 && len(k.ids) > 0 {
		return k.ids[int(b)%len(k.ids)]
	}
	copy(id[:], s.bytes(16))
	return id
}

// token reads a resume token: one of the known ones, or a blob.
func (s *script) token(k *known) []byte {
	if b := s.byte(); b < 0x80 && len(k.tokens) > 0 {
		return append([]byte{}, k.tokens[int(b)%len(k.tokens)]...)
	}
	return s.blob()
}

func (s *script) limits() proto.Limits {
	return proto.Limits{MaxMessageSize: uint32(s.u64()), MaxInflight: uint32(s.u64()), MaxRequests: uint32(s.u64())}
}

// duration reads a millisecond duration up to a little beyond
// proto.MaxDuration, so that both valid and invalid values occur.
func (s *script) duration() time.Duration {
	return time.Duration(s.u64()%uint64((proto.MaxDuration+time.Hour)/time.Millisecond)) * time.Millisecond
}

var closeCodes = []proto.CloseCode{
	proto.CloseNormal, proto.CloseGoingAway, proto.CloseProtocolError, proto.CloseTooLarge, proto.ClosePolicy,
	proto.CloseSessionExpired, proto.CloseOverloaded, proto.CloseHandshakeTimeout, proto.CloseIdleTimeout,
	proto.CloseUnsupportedVersion, proto.CloseSuperseded,
}

// frame reads one frame of any type with fields from the script. The frame
// is encoded without validation, so invalid field values reach the decoder
// of the machine under test.
func (s *script) frame(k *known) proto.Frame {
	switch proto.FrameType(s.byte()%10 + 1) {
	case proto.TypeHello:
		h := &proto.Hello{Version: s.u64()}
		if s.flag() {
			h.Resume = &proto.Resume{ID: s.id(k), Token: s.token(k), Ack: s.u64()}
		}
		h.Auth = s.blob()
		h.Limits = s.limits()
		return h
	case proto.TypeWelcome:
		return &proto.Welcome{
			Version: s.u64(), ID: s.id(k), Token: s.token(k),
			Heartbeat: s.duration(), IdleTimeout: s.duration(),
			Resumed: s.flag(), Ack: s.u64(), Limits: s.limits(),
		}
	case proto.TypeAck:
		return &proto.Ack{Ack: s.u64()}
	case proto.TypeHeartbeat:
		return &proto.Heartbeat{Ack: s.u64(), Echo: s.u64()}
	case proto.TypeData:
		return &proto.Data{Seq: s.u64(), Ack: s.u64(), Payload: s.blob(), Room: string(s.blob())}
	case proto.TypeRequest:
		return &proto.Request{Seq: s.u64(), Ack: s.u64(), ID: s.u64(), Payload: s.blob()}
	case proto.TypeResponse:
		r := &proto.Response{Seq: s.u64(), Ack: s.u64(), ID: s.u64()}
		if s.flag() {
			r.Error = &proto.Error{Code: proto.ErrorCode(s.u64()), Message: string(s.blob())}
		} else {
			r.Payload = s.blob()
		}
		return r
	case proto.TypeClose:
		c := &proto.Close{}
		if b := s.byte(); b < 0x80 {
			c.Code = closeCodes[int(b)%len(closeCodes)]
		} else {
			c.Code = proto.CloseCode(s.u16())
		}
		c.Reason = string(s.blob())
		return c
	case proto.TypeJoin:
		return &proto.Join{Seq: s.u64(), Ack: s.u64(), ID: s.u64(), Room: string(s.blob())}
	default:
		return &proto.Leave{Seq: s.u64(), Ack: s.u64(), ID: s.u64(), Room: string(s.blob())}
	}
}

// message reads a few frames (1 to 8) and packs them into one transport
// message.
func (s *script) message(k *known) []byte {
	var enc codec.Encoder
	var msg []byte
	for range s.byte()%8 + 1 {
		msg, _ = enc.Append(msg, s.frame(k))
	}
	return msg
}

// prog writes programs in the encoding script reads.
type prog struct{ b []byte }

func (p *prog) byte(b byte) *prog { p.b = append(p.b, b); return p }

func (p *prog) u16(v uint16) *prog { p.b = append(p.b, byte(v>>8), byte(v)); return p }

func (p *prog) u64(v uint64) *prog {
	switch {
	case v < 0xf0:
		return p.byte(byte(v))
	case v <= 0xffff:
		return p.byte(0xf5).u16(uint16(v))
	}
	p.byte(0xf0)
	p.b = binary.BigEndian.AppendUint64(p.b, v)
	return p
}

func (p *prog) blob(b []byte) *prog {
	switch {
	case b == nil:
		return p.byte(0)
	case len(b) == 0:
		return p.byte(0xfe)
	case len(b) < 0xfe:
		p.byte(byte(len(b)))
	default:
		p.byte(0xff).u16(uint16(len(b)))
		b = b[:min(len(b), 0xffff)]
	}
	p.b = append(p.b, b...)
	return p
}
