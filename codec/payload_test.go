package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/codec"
)

type quote struct {
	Symbol string `cbor:"s" json:"symbol"`
	Qty    int    `cbor:"q" json:"qty"`
	Note   []byte `cbor:"n,omitempty" json:"note,omitempty"`
}

func TestPayloadCBORExactBytes(t *testing.T) {
	b, err := codec.CBOR[quote]().Marshal(quote{Symbol: "AB", Qty: 3})
	if err != nil {
		t.Fatal(err)
	}
	// map(2) {"q": 3, "s": "AB"}: keys sorted by core deterministic rules.
	const want = "a26171036173624142"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("encoding = %s, want %s", got, want)
	}
}

func TestPayloadJSONExactBytes(t *testing.T) {
	b, err := codec.JSON[quote]().Marshal(quote{Symbol: "AB", Qty: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"symbol":"AB","qty":3}`; got != want {
		t.Fatalf("encoding = %s, want %s", got, want)
	}
}

// payloadRoundTrip runs in through both payload codecs, each in a subtest, and
// calls check with what came back and the encoding.
func payloadRoundTrip[T any](t *testing.T, in T, check func(t *testing.T, out T, b []byte)) {
	for name, c := range map[string]codec.Codec[T]{"cbor": codec.CBOR[T](), "json": codec.JSON[T]()} {
		t.Run(name, func(t *testing.T) {
			b, err := c.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			check(t, out, b)
		})
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	in := quote{Symbol: "XYZ", Qty: -7, Note: []byte{0, 1, 2}}
	payloadRoundTrip(t, in, func(t *testing.T, out quote, b []byte) {
		if out.Symbol != in.Symbol || out.Qty != in.Qty || !bytes.Equal(out.Note, in.Note) {
			t.Fatalf("round trip = %+v, want %+v", out, in)
		}
		// The decoded value must not alias the payload.
		for i := range b {
			b[i] = 0xff
		}
		if !bytes.Equal(out.Note, []byte{0, 1, 2}) {
			t.Fatalf("decoded bytes alias the payload: %v", out.Note)
		}
	})
}

// A time.Time crosses whole, nanoseconds and offset, under either codec;
// the CBOR form is RFC 3339 text under tag 0. A big.Int is a bignum even
// when small, and both come back equal.
func TestPayloadTimesAndBigIntsSurvive(t *testing.T) {
	type stamped struct {
		At   time.Time `cbor:"at" json:"at"`
		Zero time.Time `cbor:"z" json:"z"`
		N    *big.Int  `cbor:"n" json:"n"`
	}
	in := stamped{At: time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.FixedZone("", 3600)), N: big.NewInt(5)}
	payloadRoundTrip(t, in, func(t *testing.T, out stamped, _ []byte) {
		if !out.At.Equal(in.At) || out.At.Format(time.RFC3339Nano) != in.At.Format(time.RFC3339Nano) {
			t.Fatalf("time %v came back as %v", in.At, out.At)
		}
		if !out.Zero.IsZero() || out.N.Cmp(in.N) != 0 {
			t.Fatalf("zero time %v, big.Int %v came back as %v, %v", in.Zero, in.N, out.Zero, out.N)
		}
	})
	b, err := codec.CBOR[stamped]().Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	// {"n": 2(h'05'), "z": null, "at": 0("2026-11-26T12:00:00.123456789+01:00")}
	const want = "a3616ec24105617af6626174c078233230323" +
		"62d31312d32365431323a30303a30302e3132333435363738392b30313a3030"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("encoding = %s, want %s", got, want)
	}
}

// Into any, a time arrives as RFC 3339 text, as from JSON: an epoch time
// in UTC whatever the machine's zone, a tagged text time as it was written.
// A time no RFC 3339 text can hold is refused.
func TestPayloadTimesIntoAny(t *testing.T) {
	c := codec.CBOR[any]()
	for _, tc := range []struct{ hex, want string }{
		{"c130", "1969-12-31T23:59:43Z"},                       // 1(-17)
		{"c1fb41dac3cc2dfe0000", "2026-12-01T20:40:23.96875Z"}, // 1(1796157623.96875)
		{"c0781b323032362d31312d32365431323a30303a30302e352b30313a3030", "2026-11-26T12:00:00.5+01:00"},
	} {
		data, _ := hex.DecodeString(tc.hex)
		v, err := c.Unmarshal(data)
		if err != nil || v != tc.want {
			t.Errorf("%s decoded into any = %#v, %v; want %q", tc.hex, v, err, tc.want)
		}
	}
	// 1(2^62): a year far past 9999.
	data, _ := hex.DecodeString("c11b4000000000000000")
	if v, err := c.Unmarshal(data); !errors.Is(err, codec.ErrPayload) {
		t.Fatalf("an epoch time past year 9999 decoded into any as %#v, %v; want an error wrapping ErrPayload", v, err)
	}
}

func TestPayloadDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		c    codec.Codec[quote]
		data []byte
	}{
		{"cbor truncated", codec.CBOR[quote](), []byte{0xa2, 0x61}},
		{"cbor wrong type", codec.CBOR[quote](), []byte{0x05}},
		{"cbor indefinite", codec.CBOR[quote](), []byte{0xbf, 0xff}},
		{"cbor empty", codec.CBOR[quote](), nil},
		{"json garbage", codec.JSON[quote](), []byte("{not json")},
		{"json wrong type", codec.JSON[quote](), []byte(`{"qty":"x"}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.c.Unmarshal(tc.data)
			if !errors.Is(err, codec.ErrPayload) {
				t.Fatalf("err = %v, want ErrPayload", err)
			}
			if v.Symbol != "" || v.Qty != 0 || v.Note != nil {
				t.Fatalf("value on error = %+v, want zero", v)
			}
		})
	}
}

func TestPayloadEncodeErrors(t *testing.T) {
	if _, err := codec.CBOR[chan int]().Marshal(make(chan int)); !errors.Is(err, codec.ErrPayload) {
		t.Fatalf("cbor err = %v, want ErrPayload", err)
	}
	if _, err := codec.JSON[chan int]().Marshal(make(chan int)); !errors.Is(err, codec.ErrPayload) {
		t.Fatalf("json err = %v, want ErrPayload", err)
	}
}

func TestPayloadDuplicateMapKeyRefused(t *testing.T) {
	// {"s": "a", "s": "b"}
	data := []byte{0xa2, 0x61, 's', 0x61, 'a', 0x61, 's', 0x61, 'b'}
	if _, err := codec.CBOR[quote]().Unmarshal(data); !errors.Is(err, codec.ErrPayload) {
		t.Fatalf("err = %v, want ErrPayload", err)
	}
}

func FuzzPayloadCBOR(f *testing.F) {
	good, _ := codec.CBOR[quote]().Marshal(quote{Symbol: "s", Qty: 1, Note: []byte("n")})
	f.Add(good)
	f.Add([]byte{0x9f, 0x9f, 0x9f})
	f.Add([]byte{0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := codec.CBOR[quote]()
		v, err := c.Unmarshal(data)
		if err != nil {
			if !errors.Is(err, codec.ErrPayload) {
				t.Fatalf("error %v does not wrap ErrPayload", err)
			}
			return
		}
		b, err := c.Marshal(v)
		if err != nil {
			t.Fatalf("re-encoding a decoded value: %v", err)
		}
		w, err := c.Unmarshal(b)
		if err != nil || w.Symbol != v.Symbol || w.Qty != v.Qty || !bytes.Equal(w.Note, v.Note) {
			t.Fatalf("re-decoding: %+v, %v; want %+v", w, err, v)
		}
	})
}

func ExampleCBOR() {
	c := codec.CBOR[quote]()
	b, _ := c.Marshal(quote{Symbol: "AB", Qty: 3})
	v, _ := c.Unmarshal(b)
	_, err := c.Unmarshal([]byte("junk"))
	fmt.Println(v.Symbol, v.Qty, errors.Is(err, codec.ErrPayload))
	// Output: AB 3 true
}

// TestStrictDecoding: a payload meant for another type is an error, not a
// value with zero fields; a payload that lacks fields is fine.
func TestStrictDecoding(t *testing.T) {
	type quote struct {
		Symbol string
		Qty    int
	}
	type other struct {
		Name  string
		Count int
	}
	type partial struct{ Symbol string }
	for name, c := range map[string]struct {
		marshalOther   func(other) ([]byte, error)
		marshalPartial func(partial) ([]byte, error)
		marshalText    func(string) ([]byte, error)
		unmarshal      func([]byte) (quote, error)
	}{
		"cbor": {codec.CBOR[other]().Marshal, codec.CBOR[partial]().Marshal, codec.CBOR[string]().Marshal, codec.CBOR[quote]().Unmarshal},
		"json": {codec.JSON[other]().Marshal, codec.JSON[partial]().Marshal, codec.JSON[string]().Marshal, codec.JSON[quote]().Unmarshal},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := c.marshalOther(other{Name: "x", Count: 3})
			if err != nil {
				t.Fatal(err)
			}
			if v, err := c.unmarshal(b); !errors.Is(err, codec.ErrPayload) {
				t.Errorf("other into quote = %+v, %v; want ErrPayload", v, err)
			}
			b, _ = c.marshalText("AAPL")
			if v, err := c.unmarshal(b); !errors.Is(err, codec.ErrPayload) {
				t.Errorf("a string into quote = %+v, %v; want ErrPayload", v, err)
			}
			b, _ = c.marshalPartial(partial{Symbol: "AAPL"})
			if v, err := c.unmarshal(b); err != nil || v != (quote{Symbol: "AAPL"}) {
				t.Errorf("partial into quote = %+v, %v", v, err)
			}
		})
	}
	if _, err := codec.JSON[quote]().Unmarshal([]byte(`{"Symbol":"A"} {}`)); !errors.Is(err, codec.ErrPayload) {
		t.Errorf("JSON with a second value: %v, want ErrPayload", err)
	}
	if v, err := codec.JSON[quote]().Unmarshal([]byte(" {\"Qty\":2}\n")); err != nil || v.Qty != 2 {
		t.Errorf("JSON with surrounding space = %+v, %v", v, err)
	}
}
