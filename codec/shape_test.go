package codec

import (
	"errors"
	"testing"
)

// TestShapeRejectsLenientForms pins the inputs the CBOR library alone would
// accept: null for a scalar field, an integer array for a byte string, a
// byte string for text, an integer for a boolean.
func TestShapeRejectsLenientForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"null ack", []byte{0x82, 0x03, 0xf6}},
		{"undefined ack", []byte{0x82, 0x03, 0xf7}},
		{"array as payload", []byte{0x85, 0x05, 0x01, 0x00, 0x82, 0x01, 0x02, 0x60}},
		{"bytes as room", []byte{0x85, 0x05, 0x01, 0x00, 0x40, 0x41, 'r'}},
		{"null room", []byte{0x85, 0x05, 0x01, 0x00, 0x40, 0xf6}},
		{"int as bool", []byte{0x89, 0x02, 0x01, 0x50, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0x40, 0x01, 0x01, 0x01, 0x00, 0x83, 0, 0, 0}},
		{"null limits", []byte{0x85, 0x01, 0x01, 0xf6, 0xf6, 0xf6}},
		{"null close code", []byte{0x83, 0x08, 0xf6, 0x60}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode(tc.in, Limits{})
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(% x) = %v, %v; want ErrMalformed", tc.in, f, err)
			}
		})
	}
}

// TestShapeAcceptsNulls pins the fields that may legitimately be null.
func TestShapeAcceptsNulls(t *testing.T) {
	for _, in := range [][]byte{
		{0x85, 0x05, 0x01, 0x00, 0xf6, 0x60},                   // DATA with nil payload
		{0x85, 0x01, 0x01, 0xf6, 0xf6, 0x83, 0x00, 0x00, 0x00}, // HELLO without resume or auth
		{0x86, 0x07, 0x01, 0x00, 0x02, 0xf6, 0xf6},             // RESPONSE with nil payload and no error
	} {
		if _, err := Decode(in, Limits{}); err != nil {
			t.Errorf("Decode(% x): %v", in, err)
		}
	}
}
