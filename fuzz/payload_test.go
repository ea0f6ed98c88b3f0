package fuzz

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/bettersocket/bettersocket/codec"
)

// appValue is a typical application payload type for the typed API: text,
// numbers, lists, maps, bytes, recursion and a free-form field.
type appValue struct {
	Name  string         `cbor:"name" json:"name"`
	N     int64          `cbor:"n" json:"n"`
	F     float64        `cbor:"f" json:"f"`
	Tags  []string       `cbor:"tags,omitempty" json:"tags,omitempty"`
	Attrs map[string]int `cbor:"attrs,omitempty" json:"attrs,omitempty"`
	Blob  []byte         `cbor:"blob,omitempty" json:"blob,omitempty"`
	Next  *appValue      `cbor:"next,omitempty" json:"next,omitempty"`
	Any   any            `cbor:"any,omitempty" json:"any,omitempty"`
}

// checkPayload runs one payload codec over data: an error must wrap
// codec.ErrPayload; a decoded value must encode, and its encoding must be a
// fixed point of decode+encode (bytes are compared, not values: NaN is not
// DeepEqual to itself).
//
// Two inputs found by this target once broke that and are kept as seeds.
// 0db04cccc2c39a00: a map whose keys -17 and 1(-17) (an epoch time) were
// distinct on the wire but re-encoded alike, when the encoder wrote times
// as bare Unix seconds (dropping their fractions too). 39e713593f7d92e2: an
// epoch time in a year RFC 3339 cannot write, decoded, then not encodable.
// The codec now writes times as tagged RFC 3339 text and big.Ints as
// bignums, and decodes times into any as RFC 3339 text, refusing the
// years it cannot hold.
//
// One exception, found by this target in a CI smoke run (testdata/fuzz/
// FuzzPayload/7ffc64b84c5bfb89): a map with several NaN keys. NaN is not
// equal to itself, so the decoder's duplicate-key check lets them all in,
// they encode to the same bytes, and the deterministic encoder orders them
// as Go's map iteration happens to give them: the encoding of such a value
// is not a fixed point. Such keys can never be looked up either; the codec
// stays safe, and the check skips values that hold one.
func checkPayload[T any](t *testing.T, name string, c codec.Codec[T], data []byte) {
	v, err := c.Unmarshal(data)
	if err != nil {
		if !errors.Is(err, codec.ErrPayload) {
			t.Fatalf("%s: Unmarshal error %v does not wrap codec.ErrPayload", name, err)
		}
		return
	}
	b, err := c.Marshal(v)
	if err != nil {
		t.Fatalf("%s: decoded %#v, which does not encode: %v", name, v, err)
	}
	if hasNaNKey(reflect.ValueOf(v)) {
		return
	}
	v2, err := c.Unmarshal(b)
	if err != nil {
		t.Fatalf("%s: decoded %#v, re-encoded as %q, which fails to decode: %v", name, v, b, err)
	}
	b2, err := c.Marshal(v2)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("%s: encoding is not a fixed point: %q then %q (%v)", name, b, b2, err)
	}
}

// FuzzPayload feeds arbitrary bytes to the typed payload codecs that the
// adapters' generic API uses on what peers send: CBOR and JSON, into an
// application struct and into any.
//
// Invariants: no panic; errors wrap codec.ErrPayload; whatever decodes
// encodes again, and that encoding decodes and encodes to the same bytes.
func FuzzPayload(f *testing.F) {
	for _, v := range []appValue{
		{Name: "a", N: -1, F: 1.5, Tags: []string{"x"}, Attrs: map[string]int{"k": 1}, Blob: []byte{0}, Next: &appValue{Name: "b"}, Any: []any{"s", 1.0}},
		{},
	} {
		b, _ := codec.CBOR[appValue]().Marshal(v)
		f.Add(b)
		b, _ = codec.JSON[appValue]().Marshal(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPayload(t, "cbor struct", codec.CBOR[appValue](), data)
		checkPayload(t, "cbor any", codec.CBOR[any](), data)
		checkPayload(t, "json struct", codec.JSON[appValue](), data)
		checkPayload(t, "json any", codec.JSON[any](), data)
	})
}

// hasNaNKey reports whether v holds, at any depth, a map with a NaN key.
func hasNaNKey(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		return !v.IsNil() && hasNaNKey(v.Elem())
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if hasNaNKey(v.Index(i)) {
				return true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && hasNaNKey(v.Field(i)) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if k := it.Key(); isNaN(k) || hasNaNKey(k) || hasNaNKey(it.Value()) {
				return true
			}
		}
	}
	return false
}

func isNaN(v reflect.Value) bool {
	for v.Kind() == reflect.Interface && !v.IsNil() {
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.IsNaN(v.Float())
	}
	return false
}
