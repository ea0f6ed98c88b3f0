package secure

import (
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"io"
)

// KeyLen is the length of every key of this package: X25519 private and
// public keys and pre-shared keys.
const KeyLen = 32

// PublicKey is an X25519 public key. Its text form (String, MarshalText) is
// standard base64, 44 characters, as WireGuard writes keys.
type PublicKey [KeyLen]byte

// PrivateKey is an X25519 private key. Its text form is standard base64;
// String redacts it so that it does not end up in logs by accident.
type PrivateKey [KeyLen]byte

// PresharedKey is a 32-byte symmetric key shared by client and server in
// [PSK] mode. Its text form is standard base64; String redacts it.
type PresharedKey [KeyLen]byte

// KeyPair is a static X25519 key pair.
type KeyPair struct {
	Private PrivateKey
	Public  PublicKey
}

// GenerateKeyPair draws a new key pair from rand (crypto/rand.Reader in
// production).
func GenerateKeyPair(rand io.Reader) (KeyPair, error) {
	var k PrivateKey
	if _, err := io.ReadFull(rand, k[:]); err != nil {
		return KeyPair{}, fmt.Errorf("secure: reading random key: %w", err)
	}
	return k.KeyPair()
}

// GeneratePSK draws a new pre-shared key from rand.
func GeneratePSK(rand io.Reader) (PresharedKey, error) {
	var k PresharedKey
	if _, err := io.ReadFull(rand, k[:]); err != nil {
		return k, fmt.Errorf("secure: reading random key: %w", err)
	}
	return k, nil
}

// KeyPair derives the public key of k.
func (k PrivateKey) KeyPair() (KeyPair, error) {
	priv, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		return KeyPair{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	kp := KeyPair{Private: k}
	copy(kp.Public[:], priv.PublicKey().Bytes())
	return kp, nil
}

// IsZero reports whether k is all zero (unset).
func (k PublicKey) IsZero() bool { return k == PublicKey{} }

func (k PublicKey) String() string { return encodeKey(k) }

// MarshalText returns the base64 text of k.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(encodeKey(k)), nil }

// UnmarshalText parses the base64 text of a public key.
func (k *PublicKey) UnmarshalText(b []byte) error { return decodeKey((*[KeyLen]byte)(k), b, "public") }

// String redacts the key; use MarshalText for its text form.
func (k PrivateKey) String() string { return "secure.PrivateKey(redacted)" }

// MarshalText returns the base64 text of k.
func (k PrivateKey) MarshalText() ([]byte, error) { return []byte(encodeKey(k)), nil }

// UnmarshalText parses the base64 text of a private key.
func (k *PrivateKey) UnmarshalText(b []byte) error {
	return decodeKey((*[KeyLen]byte)(k), b, "private")
}

// String redacts the key; use MarshalText for its text form.
func (k PresharedKey) String() string { return "secure.PresharedKey(redacted)" }

// MarshalText returns the base64 text of k.
func (k PresharedKey) MarshalText() ([]byte, error) { return []byte(encodeKey(k)), nil }

// UnmarshalText parses the base64 text of a pre-shared key.
func (k *PresharedKey) UnmarshalText(b []byte) error {
	return decodeKey((*[KeyLen]byte)(k), b, "pre-shared")
}

// ParsePublicKey parses the base64 text of a public key.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	return k, k.UnmarshalText([]byte(s))
}

// ParsePrivateKey parses the base64 text of a private key and derives its
// key pair.
func ParsePrivateKey(s string) (KeyPair, error) {
	var k PrivateKey
	if err := k.UnmarshalText([]byte(s)); err != nil {
		return KeyPair{}, err
	}
	return k.KeyPair()
}

// ParsePSK parses the base64 text of a pre-shared key.
func ParsePSK(s string) (PresharedKey, error) {
	var k PresharedKey
	return k, k.UnmarshalText([]byte(s))
}

func encodeKey(k [KeyLen]byte) string { return base64.StdEncoding.EncodeToString(k[:]) }

func decodeKey(dst *[KeyLen]byte, text []byte, what string) error {
	var buf [KeyLen + 3]byte
	if base64.StdEncoding.EncodedLen(KeyLen) != len(text) {
		return fmt.Errorf("%w: a %s key is %d characters of base64, got %d", ErrConfig, what, base64.StdEncoding.EncodedLen(KeyLen), len(text))
	}
	n, err := base64.StdEncoding.Strict().Decode(buf[:], text)
	if err != nil || n != KeyLen {
		return fmt.Errorf("%w: a %s key is %d bytes in standard base64", ErrConfig, what, KeyLen)
	}
	copy(dst[:], buf[:KeyLen])
	return nil
}
