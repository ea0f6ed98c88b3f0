package codec

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/bettersocket/bettersocket/proto"
)

// The hand-written paths (DATA, ACK, unnamed REQUEST, RESPONSE without an
// error) must agree with the library's: the
// same bytes out, and on any input the fast decoder accepts, the same frame
// and rest as the library's decoding followed by checkShape.

func hotFrames(r *rand.Rand) []proto.Frame {
	uints := []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1}
	u := func() uint64 {
		if r.IntN(2) == 0 {
			return uints[r.IntN(len(uints))]
		}
		return r.Uint64() >> r.IntN(64)
	}
	var fs []proto.Frame
	for range 300 {
		var payload []byte
		switch r.IntN(4) {
		case 0: // nil
		case 1:
			payload = []byte{}
		default:
			payload = make([]byte, r.IntN(300))
			for i := range payload {
				payload[i] = byte(r.Uint32())
			}
		}
		room := []string{"", "r", "héllo", strings.Repeat("x", 30)}[r.IntN(4)]
		fs = append(fs, &proto.Data{Seq: u(), Ack: u(), Payload: payload, Room: room}, &proto.Ack{Ack: u()},
			&proto.Request{Seq: u(), Ack: u(), ID: u(), Payload: payload},
			&proto.Response{Seq: u(), Ack: u(), ID: u(), Payload: payload})
	}
	return fs
}

// libraryEncode encodes f through the CBOR library.
func libraryEncode(t *testing.T, f proto.Frame) []byte {
	var v any
	switch f := f.(type) {
	case *proto.Data:
		v = &wireData{T: proto.TypeData, Seq: f.Seq, Ack: f.Ack, Payload: f.Payload, Room: f.Room}
	case *proto.Ack:
		v = &wireAck{T: proto.TypeAck, Ack: f.Ack}
	case *proto.Request:
		v = &wireRequest{T: proto.TypeRequest, Seq: f.Seq, Ack: f.Ack, ID: f.ID, Payload: f.Payload}
	case *proto.Response:
		v = &wireResponse{T: proto.TypeResponse, Seq: f.Seq, Ack: f.Ack, ID: f.ID, Payload: f.Payload}
	}
	var buf bytes.Buffer
	if err := encMode.MarshalToBuffer(v, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// libraryDecode decodes b's first frame through the CBOR library.
func libraryDecode(b []byte) (proto.Frame, []byte, bool) {
	var f proto.Frame
	var rest []byte
	var err error
	switch {
	case len(b) > 1 && b[1] == byte(proto.TypeData):
		var w wireData
		rest, err = decMode.UnmarshalFirst(b, &w)
		f = &proto.Data{Seq: w.Seq, Ack: w.Ack, Payload: w.Payload, Room: w.Room}
	case len(b) > 1 && b[1] == byte(proto.TypeAck):
		var w wireAck
		rest, err = decMode.UnmarshalFirst(b, &w)
		f = &proto.Ack{Ack: w.Ack}
	case len(b) > 1 && b[1] == byte(proto.TypeRequest):
		var w wireRequest
		rest, err = decMode.UnmarshalFirst(b, &w)
		f = &proto.Request{Seq: w.Seq, Ack: w.Ack, ID: w.ID, Payload: w.Payload}
	case len(b) > 1 && b[1] == byte(proto.TypeResponse):
		var w wireResponse
		rest, err = decMode.UnmarshalFirst(b, &w)
		if w.Error != nil {
			return nil, nil, false // the fast path takes only a null error
		}
		f = &proto.Response{Seq: w.Seq, Ack: w.Ack, ID: w.ID, Payload: w.Payload}
	default:
		return nil, nil, false
	}
	if err != nil || checkShape(f.Type(), b[:len(b)-len(rest)]) != nil {
		return nil, nil, false
	}
	return f, rest, true
}

func fastDecode(b []byte) (proto.Frame, []byte, bool) {
	switch {
	case len(b) > 1 && b[1] == byte(proto.TypeAck):
		var f proto.Ack
		rest, ok := fastAck(b, &f)
		return &f, rest, ok
	case len(b) > 1 && b[1] == byte(proto.TypeRequest):
		var f proto.Request
		rest, ok := fastRequest(b, &f)
		return &f, rest, ok
	case len(b) > 1 && b[1] == byte(proto.TypeResponse):
		var f proto.Response
		rest, ok := fastResponse(b, &f)
		return &f, rest, ok
	}
	var f proto.Data
	rest, ok := fastData(b, &f)
	return &f, rest, ok
}

func TestFastPathsMatchLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	trailer := []byte{0x82, 0x03, 0x01}
	for _, f := range hotFrames(r) {
		var e Encoder
		got, err := e.Append(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		if want := libraryEncode(t, f); !bytes.Equal(got, want) {
			t.Fatalf("%#v: encoded % x, library % x", f, got, want)
		}
		msg := append(got, trailer...)
		ff, rest, ok := fastDecode(msg)
		if !ok || !reflect.DeepEqual(ff, f) || !bytes.Equal(rest, trailer) {
			t.Fatalf("%#v: fast decode of its own encoding: %#v, rest % x, ok %v", f, ff, rest, ok)
		}
		// Every truncation and many corruptions: where the fast path
		// accepts, the library agrees.
		for n := range len(msg) {
			agree(t, msg[:n])
		}
		for range 40 {
			bad := bytes.Clone(msg)
			bad[r.IntN(len(bad))] = byte(r.Uint32())
			agree(t, bad)
		}
	}
	// Layouts the fast path leaves to the library: a non-shortest head,
	// a null room, an undefined payload, invalid UTF-8, a longer array; a
	// named REQUEST, a RESPONSE with an error or an undefined one.
	for _, b := range [][]byte{
		{0x85, 0x05, 0x18, 0x01, 0x00, 0x40, 0x60},
		{0x85, 0x05, 0x01, 0x00, 0x40, 0xf6},
		{0x85, 0x05, 0x01, 0x00, 0xf7, 0x60},
		{0x85, 0x05, 0x01, 0x00, 0x40, 0x61, 0xff},
		{0x86, 0x05, 0x01, 0x00, 0x40, 0x60, 0x00},
		{0x82, 0x03, 0x5f},
		{0x86, 0x06, 0x01, 0x00, 0x02, 0x40, 0x61, 0x6d},
		{0x86, 0x07, 0x01, 0x00, 0x02, 0xf6, 0x82, 0x01, 0x60},
		{0x86, 0x07, 0x01, 0x00, 0x02, 0x40, 0xf7},
	} {
		agree(t, b)
	}
}

func agree(t *testing.T, b []byte) {
	t.Helper()
	ff, frest, ok := fastDecode(b)
	if !ok {
		return
	}
	lf, lrest, lok := libraryDecode(b)
	if !lok || !reflect.DeepEqual(ff, lf) || !bytes.Equal(frest, lrest) {
		t.Fatalf("% x: fast %#v rest % x; library %#v rest % x ok %v", b, ff, frest, lf, lrest, lok)
	}
}

func FuzzFastPathsMatchLibrary(f *testing.F) {
	f.Add([]byte{0x85, 0x05, 0x01, 0x00, 0x40, 0x60})
	f.Add([]byte{0x82, 0x03, 0x19, 0x01, 0x00})
	f.Add([]byte{0x85, 0x06, 0x01, 0x00, 0x02, 0x41, 0x2a})
	f.Add([]byte{0x86, 0x07, 0x01, 0x01, 0x02, 0xf6, 0xf6})
	f.Fuzz(func(t *testing.T, b []byte) { agree(t, b) })
}

// TestPayloadCopies: the payloads of a message's frames are the decoder's
// copies, not views of the message, and each one is capped at its length,
// so that writing to one or appending to it leaves the others alone.
func TestPayloadCopies(t *testing.T) {
	var e Encoder
	var msg []byte
	sizes := []int{-1, 0, 1, 64, 256, 257, 700, 64}
	for i, n := range sizes {
		var p []byte
		if n >= 0 {
			p = bytes.Repeat([]byte{byte(i)}, n)
		}
		var err error
		if msg, err = e.Append(msg, &proto.Data{Seq: uint64(i + 1), Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	d := NewDecoder(Limits{})
	var got [][]byte
	for range 3 {
		if err := d.Reset(msg); err != nil {
			t.Fatal(err)
		}
		for {
			f, err := d.Next()
			if err != nil {
				break
			}
			got = append(got, f.(*proto.Data).Payload)
		}
	}
	for i := range msg {
		msg[i] = 0xff // the payloads are not views of the message
	}
	for i, p := range got {
		if len(p) != cap(p) {
			t.Fatalf("payload %d: len %d, cap %d", i, len(p), cap(p))
		}
		_ = append(p, 0xee) // reallocates
		for j := range p {
			p[j] = byte(i) // touches only its own bytes
		}
	}
	for i, p := range got {
		n := sizes[i%len(sizes)]
		if (p == nil) != (n < 0) || len(p) != max(n, 0) {
			t.Fatalf("payload %d: %d bytes (nil %v), want %d", i, len(p), p == nil, n)
		}
		if !bytes.Equal(p, bytes.Repeat([]byte{byte(i)}, len(p))) {
			t.Fatalf("payload %d overwritten: % x", i, p)
		}
	}
}
