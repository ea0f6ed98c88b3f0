package codec_test

import (
	"errors"
	"io"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// Generators of valid frames: every field ranges over everything
// proto.Validate accepts, byte slices are sometimes nil and sometimes empty.

func genBytes(max int) *rapid.Generator[[]byte] {
	return rapid.OneOf(
		rapid.Just([]byte(nil)),
		rapid.Just([]byte{}),
		rapid.SliceOfN(rapid.Byte(), 1, max),
	)
}

func genText(min, maxBytes int) *rapid.Generator[string] {
	return rapid.StringN(min, -1, maxBytes)
}

// genU64 favours the edges of the range, where encodings change length.
func genU64() *rapid.Generator[uint64] {
	return rapid.OneOf(
		rapid.Uint64(),
		rapid.SampledFrom([]uint64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<64 - 1}),
	)
}

func genSeq() *rapid.Generator[uint64] {
	return rapid.Custom(func(t *rapid.T) uint64 {
		if s := genU64().Draw(t, "seq"); s != 0 {
			return s
		}
		return 1
	})
}

func genLimits() *rapid.Generator[proto.Limits] {
	return rapid.Custom(func(t *rapid.T) proto.Limits {
		return proto.Limits{
			MaxMessageSize: rapid.Uint32().Draw(t, "maxMessage"),
			MaxInflight:    rapid.Uint32().Draw(t, "maxInflight"),
			MaxRequests:    rapid.Uint32().Draw(t, "maxRequests"),
		}
	})
}

func genClientID() *rapid.Generator[proto.ClientID] {
	return rapid.Custom(func(t *rapid.T) proto.ClientID {
		var id proto.ClientID
		copy(id[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "id"))
		return id
	})
}

func genDuration() *rapid.Generator[time.Duration] {
	return rapid.Custom(func(t *rapid.T) time.Duration {
		ms := rapid.Int64Range(1, int64(proto.MaxDuration/time.Millisecond)).Draw(t, "ms")
		return time.Duration(ms) * time.Millisecond
	})
}

var genFrame = rapid.OneOf(
	rapid.Custom(func(t *rapid.T) proto.Frame {
		f := &proto.Hello{
			Version: genU64().Draw(t, "version"),
			Auth:    genBytes(300).Draw(t, "auth"),
			Limits:  genLimits().Draw(t, "limits"),
		}
		if rapid.Bool().Draw(t, "resume") {
			f.Resume = &proto.Resume{
				ID:    genClientID().Draw(t, "id"),
				Token: genBytes(proto.MaxTokenLen).Draw(t, "token"),
				Ack:   genU64().Draw(t, "ack"),
			}
		}
		return f
	}),
	rapid.Custom(func(t *rapid.T) proto.Frame {
		f := &proto.Welcome{
			Version:     genU64().Draw(t, "version"),
			ID:          genClientID().Draw(t, "id"),
			Token:       genBytes(proto.MaxTokenLen).Draw(t, "token"),
			Heartbeat:   genDuration().Draw(t, "heartbeat"),
			IdleTimeout: genDuration().Draw(t, "idle"),
			Resumed:     rapid.Bool().Draw(t, "resumed"),
			Ack:         genU64().Draw(t, "ack"),
			Limits:      genLimits().Draw(t, "limits"),
		}
		if f.ID.IsZero() {
			f.ID[15] = 1
		}
		return f
	}),
	rapid.Custom(func(t *rapid.T) proto.Frame {
		return &proto.Ack{Ack: genU64().Draw(t, "ack")}
	}),
	rapid.Custom(func(t *rapid.T) proto.Frame {
		return &proto.Heartbeat{Ack: genU64().Draw(t, "ack"), Echo: genU64().Draw(t, "echo")}
	}),
	rapid.Custom(func(t *rapid.T) proto.Frame {
		return &proto.Data{
			Seq: genSeq().Draw(t, "seq"), Ack: genU64().Draw(t, "ack"),
			Payload: genBytes(300).Draw(t, "payload"),
			Room:    genText(0, proto.MaxRoomLen).Draw(t, "room"),
		}
	}),
	rapid.Custom(func(t *rapid.T) proto.Frame {
		return &proto.Request{
			Seq: genSeq().Draw(t, "seq"), Ack: genU64().Draw(t, "ack"), ID: genU64().Draw(t, "id"),
			Payload: genBytes(300).Draw(t, "payload"),
		}
	}),
	rapid.Custom(func(t *rapid.T) proto.Frame {
		f := &proto.Response{Seq: genSeq().Draw(t, "seq"), Ack: genU64().Draw(t, "ack"), ID: genU64().Draw(t, "id")}
		if rapid.Bool().Draw(t, "error") {
			f.Error = &proto.Error{
				Code:    proto.ErrorCode(rapid.Uint32().Draw(t, "code")),
				Message: genText(0, proto.MaxReasonLen).Draw(t, "message"),
			}
		} else {
			f.Payload = genBytes(300).Draw(t, "payload")
		}
		return f
	}),
	rapid.Custom(func(t *rapid.T) proto.Frame {
		return &proto.Close{
			Code:   proto.CloseCode(rapid.Uint16().Draw(t, "code")),
			Reason: genText(0, proto.MaxReasonLen).Draw(t, "reason"),
		}
	}),
	rapid.Custom(func(t *rapid.T) proto.Frame {
		return &proto.Join{
			Seq: genSeq().Draw(t, "seq"), Ack: genU64().Draw(t, "ack"), ID: genU64().Draw(t, "id"),
			Room: genText(1, proto.MaxRoomLen).Draw(t, "room"),
		}
	}),
	rapid.Custom(func(t *rapid.T) proto.Frame {
		return &proto.Leave{
			Seq: genSeq().Draw(t, "seq"), Ack: genU64().Draw(t, "ack"), ID: genU64().Draw(t, "id"),
			Room: genText(1, proto.MaxRoomLen).Draw(t, "room"),
		}
	}),
)

// TestPropertyRoundTrip: every valid frame survives Encode then Decode
// exactly, and encoding is deterministic.
func TestPropertyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := genFrame.Draw(t, "frame")
		if err := proto.Validate(f); err != nil {
			t.Fatalf("generator bug: %v", err)
		}
		b, err := codec.Encode(f)
		if err != nil {
			t.Fatalf("Encode(%v): %v", f, err)
		}
		if again, _ := codec.Encode(f); !slices.Equal(b, again) {
			t.Fatalf("Encode is not deterministic: %x then %x", b, again)
		}
		got, err := codec.Decode(b, codec.Limits{})
		if err != nil {
			t.Fatalf("Decode(Encode(%v)) = %v (bytes %x)", f, err, b)
		}
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip\n got: %#v\nwant: %#v", got, f)
		}
	})
}

// TestPropertyMessage: any sequence of valid frames packed with
// Encoder.Append comes back in order from one Decoder.
func TestPropertyMessage(t *testing.T) {
	var e codec.Encoder
	d := codec.NewDecoder(codec.Limits{})
	rapid.Check(t, func(t *rapid.T) {
		frames := rapid.SliceOfN(genFrame, 1, 20).Draw(t, "frames")
		var msg []byte
		for _, f := range frames {
			var err error
			if msg, err = e.Append(msg, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Reset(msg); err != nil {
			t.Fatal(err)
		}
		for i, want := range frames {
			got, err := d.Next()
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("frame %d\n got: %#v\nwant: %#v", i, got, want)
			}
		}
		if _, err := d.Next(); err != io.EOF {
			t.Fatalf("after the last frame: %v, want io.EOF", err)
		}
	})
}

// checkDecode runs a Decoder over msg to the end and checks what the
// decoder promises for any input: no panic, errors are *DecodeError with one
// sentinel kind and an offset inside the message, frames are valid and
// survive a re-encoding.
func checkDecode(t *rapid.T, d *codec.Decoder, msg []byte) {
	check := func(err error) {
		var de *codec.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("error %T %v is not a *codec.DecodeError", err, err)
		}
		kinds := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				kinds++
			}
		}
		if kinds != 1 {
			t.Fatalf("error %v matches %d sentinels, want 1", err, kinds)
		}
		if de.Offset < 0 || de.Offset > len(msg) {
			t.Fatalf("offset %d outside a message of %d bytes", de.Offset, len(msg))
		}
	}
	if err := d.Reset(msg); err != nil {
		check(err)
		return
	}
	for i := 0; ; i++ {
		if i > len(msg) {
			t.Fatalf("more frames than bytes in %x", msg)
		}
		f, err := d.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			check(err)
			if f != nil {
				t.Fatalf("Next returned a frame with error %v", err)
			}
			if d.More() {
				t.Fatalf("More() = true after an error")
			}
			continue // the next call must be io.EOF
		}
		if err := proto.Validate(f); err != nil {
			t.Fatalf("decoded an invalid frame %v: %v", f, err)
		}
		c := codec.Clone(f)
		b, err := codec.Encode(c)
		if err != nil {
			t.Fatalf("re-encoding decoded %v: %v", f, err)
		}
		again, err := codec.Decode(b, codec.Limits{})
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("decoded %#v, re-encoded as %x, decoded again as %#v, %v", c, b, again, err)
		}
	}
}

// TestPropertyRandomBytes: arbitrary bytes never make the decoder panic.
func TestPropertyRandomBytes(t *testing.T) {
	d := codec.NewDecoder(codec.Limits{})
	rapid.Check(t, func(t *rapid.T) {
		msg := rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "msg")
		checkDecode(t, d, msg)
		if _, err := codec.Decode(msg, codec.Limits{MaxMessageSize: 64}); err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode error %T %v is not a *codec.DecodeError", err, err)
			}
		}
	})
}

// TestPropertyMutations: valid messages with random damage never make the
// decoder panic either. Mutations near valid input reach much deeper into
// the decoder than random bytes do.
func TestPropertyMutations(t *testing.T) {
	var e codec.Encoder
	d := codec.NewDecoder(codec.Limits{})
	interesting := []byte{0x00, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x20, 0x40, 0x5b, 0x5f, 0x60, 0x7b, 0x7f,
		0x80, 0x9b, 0x9f, 0xa0, 0xbb, 0xbf, 0xc0, 0xc2, 0xd8, 0xf4, 0xf5, 0xf6, 0xf7, 0xf9, 0xfb, 0xff}
	rapid.Check(t, func(t *rapid.T) {
		frames := rapid.SliceOfN(genFrame, 1, 4).Draw(t, "frames")
		var msg []byte
		for _, f := range frames {
			msg, _ = e.Append(msg, f)
		}
		for range rapid.IntRange(1, 4).Draw(t, "mutations") {
			if len(msg) == 0 {
				break
			}
			i := rapid.IntRange(0, len(msg)-1).Draw(t, "at")
			switch rapid.IntRange(0, 6).Draw(t, "how") {
			case 0: // flip bits
				msg[i] ^= rapid.Byte().Draw(t, "xor") | 1
			case 1: // an interesting byte
				msg[i] = rapid.SampledFrom(interesting).Draw(t, "byte")
			case 2: // insert a byte
				msg = slices.Insert(msg, i, rapid.SampledFrom(interesting).Draw(t, "byte"))
			case 3: // delete bytes
				msg = slices.Delete(msg, i, min(len(msg), i+rapid.IntRange(1, 9).Draw(t, "n")))
			case 4: // truncate
				msg = msg[:i]
			case 5: // duplicate a range
				j := rapid.IntRange(i, len(msg)).Draw(t, "to")
				msg = slices.Insert(msg, j, slices.Clone(msg[i:j])...)
			case 6: // a huge length or count header
				msg = slices.Insert(msg, i, rapid.SampledFrom([]byte{0x5b, 0x7b, 0x9b, 0xbb}).Draw(t, "major"),
					0x80, 0, 0, 0, 0, 0, 0, 0)
			}
		}
		checkDecode(t, d, msg)
	})
}
