package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// ErrPayload is wrapped by every error a payload [Codec] returns: the value
// could not be encoded, or the bytes do not decode into the wanted type.
// Test with errors.Is.
var ErrPayload = errors.New("codec: bad payload")

// Codec converts values of an application type T to message payloads and
// back. It is what the typed helpers of package adapters use, so that
// applications send and receive their own types. Implementations must be
// safe for concurrent use, and Unmarshal must return an error (never panic)
// for any input.
type Codec[T any] interface {
	// Marshal encodes v into a new slice.
	Marshal(v T) ([]byte, error)
	// Unmarshal decodes data into a new T. The result does not alias data.
	Unmarshal(data []byte) (T, error)
}

var (
	payloadEnc cbor.EncMode
	payloadDec cbor.DecMode
)

func init() {
	var err error
	// Core deterministic encoding: the same value gives the same bytes.
	enc := cbor.CoreDetEncOptions()
	// A time.Time keeps its nanoseconds and its offset: RFC 3339 text under
	// tag 0, as encoding/json writes it. (The library's default, integer
	// Unix seconds, drops both without a word.)
	enc.Time, enc.TimeTag = cbor.TimeRFC3339Nano, cbor.EncTagRequired
	// A big.Int is always a bignum (tag 2 or 3), even when it fits an
	// integer, so that a value decoded into any encodes as it came: a
	// bignum key must not become equal to an integer key of the same map.
	enc.BigIntConvert = cbor.BigIntConvertNone
	payloadEnc, err = enc.EncMode()
	if err != nil {
		panic("codec: bug: " + err.Error())
	}
	// The payload is already bounded by the message size limit; these caps
	// bound what a hostile payload can make the decoder build from it.
	payloadDec, err = cbor.DecOptions{
		MaxNestedLevels:  32,
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      1 << 16,
		IndefLength:      cbor.IndefLengthForbidden,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		// Into any, a time (tag 0 or 1) arrives as its RFC 3339 text, as
		// from JSON, epoch times in UTC: the same bytes give the same value
		// on every machine, and a time no RFC 3339 text can hold (a year
		// past 9999) is refused here rather than when it is sent on.
		TimeTagToAny: cbor.TimeTagToRFC3339Nano,
		// Strict: a map key that names no field of the struct it decodes
		// into is an error, so that a payload meant for another type is
		// refused rather than decoded into zero values.
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic("codec: bug: " + err.Error())
	}
}

// CBOR returns the default payload codec: CBOR (RFC 8949) with
// deterministic encoding, through github.com/fxamacker/cbor/v2. Struct
// fields follow that package's rules (the `cbor` tag, falling back to
// `json`). A time.Time is written as RFC 3339 text with nanoseconds and
// its offset under tag 0 (the zero time as null), so it survives the trip
// whole, as with JSON; it is read from that, from tag 1 epoch numbers, or
// from untagged text or numbers. Decoded into any, a time is its RFC 3339
// text, as with JSON. A big.Int is always written as a bignum.
//
// Decoding is strict: data whose shape does not fit T (a text where T has
// a number, an array where T is a struct) or that has a map key naming no
// field of the struct it decodes into fails with [ErrPayload], rather than
// leaving fields zero. A missing field stays zero. So a receiver must learn
// a new field before its senders send it.
func CBOR[T any]() Codec[T] { return cborCodec[T]{} }

// JSON returns a payload codec using encoding/json, for peers that prefer
// text (a browser, a debugging session). Its rules are encoding/json's: a
// number decoded into any is a float64, exact only up to 2^53, so integers
// beyond that belong in typed fields (int64, uint64), which decode exactly.
// Decoding is strict as CBOR's is: an object key naming no field
// (json.Decoder.DisallowUnknownFields) and data after the value are errors.
func JSON[T any]() Codec[T] { return jsonCodec[T]{} }

type cborCodec[T any] struct{}

func (cborCodec[T]) Marshal(v T) ([]byte, error) {
	b, err := payloadEnc.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: cbor: encoding %T: %w", ErrPayload, v, err)
	}
	return b, nil
}

func (cborCodec[T]) Unmarshal(data []byte) (T, error) {
	var v T
	if err := payloadDec.Unmarshal(data, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("%w: cbor: decoding %T: %w", ErrPayload, zero, err)
	}
	return v, nil
}

type jsonCodec[T any] struct{}

func (jsonCodec[T]) Marshal(v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: json: encoding %T: %w", ErrPayload, v, err)
	}
	return b, nil
}

func (jsonCodec[T]) Unmarshal(data []byte) (T, error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&v)
	if err == nil {
		if _, tokErr := dec.Token(); tokErr != io.EOF {
			err = errors.New("data after the value")
		}
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%w: json: decoding %T: %w", ErrPayload, zero, err)
	}
	return v, nil
}
