package secure

import (
	"fmt"

	"github.com/flynn/noise"
)

// Mode chooses the handshake. The zero value, Off, is no encryption.
type Mode uint8

const (
	// Off: plaintext frames, no handshake.
	Off Mode = iota
	// PSK: both sides hold one 32-byte pre-shared key (Noise NNpsk0). Each
	// proves it holds the key; traffic keys come from fresh ephemeral keys
	// per connection, so a later leak of the pre-shared key does not open
	// recorded traffic. Neither side has a public identity.
	PSK
	// ServerKey: the client pins the server's static public key (Noise
	// NK). Only the holder of the matching private key can complete the
	// handshake and read the session; the client stays anonymous at this
	// layer (the HELLO's auth bytes, now encrypted, identify it as before).
	ServerKey
	// Mutual: both sides have static keys (Noise XK). The client pins the
	// server's key as in ServerKey, and proves its own key to the server,
	// which sees it verified in its authorization hook. XK rather than IK:
	// both reach the HELLO after one round trip (XK's third message travels
	// with the sealed HELLO), but XK sends the client's static key only
	// under keys that include an ephemeral-ephemeral exchange, so its
	// identity stays hidden from anyone who later steals the server's key,
	// and its first message carries no client identity that could be
	// replayed to the server.
	Mutual
)

var modeNames = [...]string{Off: "off", PSK: "psk", ServerKey: "server-key", Mutual: "mutual"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode parses a mode's name as String writes it ("off", "psk",
// "server-key", "mutual").
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if name == s {
			return Mode(m), nil
		}
	}
	return Off, fmt.Errorf("%w: unknown mode %q (off, psk, server-key, mutual)", ErrConfig, s)
}

// Protocol returns the Noise protocol name of the mode's handshake, for
// example "Noise_XK_25519_ChaChaPoly_BLAKE2s"; "" for Off.
func (m Mode) Protocol() string {
	if p, ok := m.pattern(); ok {
		name := p.Name
		if m == PSK {
			name += "psk0"
		}
		return "Noise_" + name + "_25519_ChaChaPoly_BLAKE2s"
	}
	return ""
}

func (m Mode) pattern() (noise.HandshakePattern, bool) {
	switch m {
	case PSK:
		return noise.HandshakeNN, true
	case ServerKey:
		return noise.HandshakeNK, true
	case Mutual:
		return noise.HandshakeXK, true
	}
	return noise.HandshakePattern{}, false
}

// suite is the cipher suite of every mode: X25519, ChaCha20-Poly1305 and
// BLAKE2s, as WireGuard uses; all three are in golang.org/x/crypto and in
// the audited @noble libraries a JavaScript client uses.
var suite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2s)

// Config configures the secure layer of one side. Which fields a mode
// needs:
//
//	mode        client                    server
//	PSK         PSK                       PSK
//	ServerKey   ServerKey                 Static
//	Mutual      ServerKey, Static         Static, KnownClient (optional)
type Config struct {
	// Mode chooses the handshake; Off (the zero value) is plaintext.
	Mode Mode
	// PSK is the pre-shared key of PSK mode.
	PSK PresharedKey
	// Static is this side's key pair: the server's in ServerKey and Mutual
	// mode, the client's in Mutual mode.
	Static KeyPair
	// ServerKey is the server's public key the client pins (ServerKey and
	// Mutual mode).
	ServerKey PublicKey
	// KnownClient decides, in Mutual mode on the server, whether a client
	// that proved it holds key may continue; false fails its handshake with
	// ErrUnknownClientKey. Nil admits every client that proves a key, and
	// leaves the decision to the application's authorization hook, which
	// sees the verified key. It runs inside the machine's Step: keep it fast
	// and free of I/O.
	KnownClient func(key PublicKey) bool
}

// Validate checks that cfg has what its mode needs on the given side,
// including that the static public key belongs to its private key (one
// X25519 operation: machines validate once, not per connection).
func (c *Config) Validate(server bool) error { return c.check(server, true) }

func (c *Config) check(server, derive bool) error {
	switch c.Mode {
	case Off:
		return nil
	case PSK:
		if c.PSK == (PresharedKey{}) {
			return fmt.Errorf("%w: psk mode needs a pre-shared key", ErrConfig)
		}
		return nil
	case ServerKey, Mutual:
		if server || c.Mode == Mutual {
			if c.Static.Private == (PrivateKey{}) || c.Static.Public.IsZero() {
				return fmt.Errorf("%w: %s mode needs this side's static key pair", ErrConfig, c.Mode)
			}
			if derive {
				if kp, err := c.Static.Private.KeyPair(); err != nil || kp.Public != c.Static.Public {
					return fmt.Errorf("%w: the static public key does not belong to its private key", ErrConfig)
				}
			}
		}
		if !server && c.ServerKey.IsZero() {
			return fmt.Errorf("%w: %s mode needs the server's public key on the client", ErrConfig, c.Mode)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown mode %d", ErrConfig, uint8(c.Mode))
}
