package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

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

func TestPayloadRoundTrip(t *testing.T) {
	in := quote{Symbol: "XYZ", Qty: -7, Note: []byte{0, 1, 2}}
	for name, c := range map[string]codec.Codec[quote]{"cbor": codec.CBOR[quote](), "json": codec.JSON[quote]()} {
		t.Run(name, func(t *testing.T) {
			b, err := c.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
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
