package fuzz

import (
	"errors"
	"io"
	"reflect"
	"slices"
	"testing"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// decodeSentinels are the kinds a *codec.DecodeError may carry.
var decodeSentinels = []error{codec.ErrTooLarge, codec.ErrEmpty, codec.ErrMalformed, codec.ErrUnknownType, codec.ErrTrailingBytes}

// checkDecodeError asserts that err is a *codec.DecodeError of exactly one
// sentinel kind whose offset lies inside a message of n bytes.
func checkDecodeError(t testing.TB, err error, n int) {
	t.Helper()
	var de *codec.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("decode error %T %v is not a *codec.DecodeError", err, err)
	}
	kinds := 0
	for _, s := range decodeSentinels {
		if errors.Is(err, s) {
			kinds++
		}
	}
	if kinds != 1 {
		t.Fatalf("decode error %v matches %d sentinel kinds, want 1", err, kinds)
	}
	if de.Offset < 0 || de.Offset > n {
		t.Fatalf("decode error offset %d outside a message of %d bytes", de.Offset, n)
	}
}

// frameBytes is the number of variable-length bytes a frame holds: what the
// decoder had to allocate for it.
func frameBytes(f proto.Frame) int {
	switch f := f.(type) {
	case *proto.Hello:
		n := len(f.Auth)
		if f.Resume != nil {
			n += len(f.Resume.Token) + len(f.Resume.ID)
		}
		return n
	case *proto.Welcome:
		return len(f.Token) + len(f.ID)
	case *proto.Data:
		return len(f.Payload) + len(f.Room) + len(f.Name)
	case *proto.Request:
		return len(f.Payload) + len(f.Name)
	case *proto.Publish:
		return len(f.Payload) + len(f.Room) + len(f.Name)
	case *proto.Response:
		n := len(f.Payload)
		if f.Error != nil {
			n += len(f.Error.Message)
		}
		return n
	case *proto.Close:
		return len(f.Reason)
	case *proto.Join:
		return len(f.Room)
	case *proto.Leave:
		return len(f.Room)
	}
	return 0
}

// decodeAll runs d over msg to the end, checking the decoder's promises for
// any input, and returns clones of the frames it decoded and whether the
// whole message decoded without error.
func decodeAll(t testing.TB, d *codec.Decoder, msg []byte) (frames []proto.Frame, ok bool) {
	t.Helper()
	if err := d.Reset(msg); err != nil {
		checkDecodeError(t, err, len(msg))
		if d.More() {
			t.Fatalf("More() after a failed Reset")
		}
		return nil, false
	}
	ok = true
	for i := 0; ; i++ {
		if i > len(msg) {
			t.Fatalf("more frames than bytes in %x", msg)
		}
		f, err := d.Next()
		if err == io.EOF {
			if f != nil {
				t.Fatalf("Next returned a frame with io.EOF")
			}
			return frames, ok
		}
		if err != nil {
			checkDecodeError(t, err, len(msg))
			if f != nil {
				t.Fatalf("Next returned a frame with error %v", err)
			}
			if d.More() {
				t.Fatalf("More() after error %v", err)
			}
			ok = false
			continue // the next call must be io.EOF
		}
		if err := proto.Validate(f); err != nil {
			t.Fatalf("decoded an invalid frame %v: %v", f, err)
		}
		frames = append(frames, codec.Clone(f))
	}
}

// FuzzDecode feeds arbitrary bytes to the codec as one transport message.
//
// Invariants: no panic; every error is a *codec.DecodeError of exactly one
// sentinel kind with an offset inside the message, and the decoder stops at
// it; every decoded frame is valid, holds no more variable-length bytes than
// the message had (no amplification), re-encodes deterministically and
// decodes back to a deep-equal value; the re-encoded message (all frames
// back to back) decodes to the same frame sequence and is a fixed point of
// decode+encode; codec.Decode succeeds exactly when the message is one
// well-formed frame; a size limit below the message length refuses it with
// ErrTooLarge before reading.
func FuzzDecode(f *testing.F) {
	var enc codec.Encoder
	d := codec.NewDecoder(codec.Limits{})
	again := codec.NewDecoder(codec.Limits{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		frames, ok := decodeAll(t, d, msg)

		held := 0
		var reenc []byte
		for _, fr := range frames {
			held += frameBytes(fr)
			b, err := codec.Encode(fr)
			if err != nil {
				t.Fatalf("re-encoding decoded %v: %v", fr, err)
			}
			if b2, _ := codec.Encode(fr); !slices.Equal(b, b2) {
				t.Fatalf("encoding of %v is not deterministic: %x then %x", fr, b, b2)
			}
			back, err := codec.Decode(b, codec.Limits{})
			if err != nil {
				t.Fatalf("decoded %#v, re-encoded as %x, which fails to decode: %v", fr, b, err)
			}
			if !reflect.DeepEqual(back, fr) {
				t.Fatalf("round trip changed the frame\n got: %#v\nwant: %#v\nbytes %x", back, fr, b)
			}
			if reenc, err = enc.Append(reenc, fr); err != nil {
				t.Fatalf("Encoder.Append(%v): %v", fr, err)
			}
		}
		if held > len(msg) {
			t.Fatalf("%d frames hold %d bytes, more than the %d-byte message", len(frames), held, len(msg))
		}

		// The re-encoded message decodes to the same sequence and is
		// canonical: decoding and encoding it again changes nothing.
		if len(frames) > 0 {
			got, ok2 := decodeAll(t, again, reenc)
			if !ok2 || !reflect.DeepEqual(got, frames) {
				t.Fatalf("re-encoded message %x decodes to %v (ok=%v), want %v", reenc, got, ok2, frames)
			}
			var canon []byte
			for _, fr := range got {
				canon, _ = enc.Append(canon, fr)
			}
			if !slices.Equal(canon, reenc) {
				t.Fatalf("re-encoding is not a fixed point: %x then %x", reenc, canon)
			}
		}
		// codec.Decode: exactly one well-formed frame.
		one, err := codec.Decode(msg, codec.Limits{})
		switch {
		case err != nil:
			checkDecodeError(t, err, len(msg))
			if ok && len(frames) == 1 {
				t.Fatalf("Decode failed (%v) on a message holding exactly one good frame %v", err, frames[0])
			}
		case !ok || len(frames) != 1:
			t.Fatalf("Decode accepted %v, but the decoder saw %d frames (ok=%v)", one, len(frames), ok)
		case !reflect.DeepEqual(one, frames[0]):
			t.Fatalf("Decode and Decoder disagree\n Decode: %#v\nDecoder: %#v", one, frames[0])
		}

		// A limit one byte below the message refuses it before reading.
		if len(msg) > 1 {
			_, err := codec.Decode(msg, codec.Limits{MaxMessageSize: len(msg) - 1})
			if !errors.Is(err, codec.ErrTooLarge) {
				t.Fatalf("Decode with limit %d of a %d-byte message: %v, want ErrTooLarge", len(msg)-1, len(msg), err)
			}
		}
	})
}
