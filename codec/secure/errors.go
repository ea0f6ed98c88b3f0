package secure

import "errors"

// Errors of the secure layer. Every error this package returns wraps exactly
// one of them; test with errors.Is. Their text names the kind of failure and
// nothing about keys or internal state.
var (
	// ErrWrongPSK: the peer's handshake does not verify under this side's
	// pre-shared key: the peers hold different keys, or the message was
	// tampered with.
	ErrWrongPSK = errors.New("secure: wrong pre-shared key or tampered handshake")
	// ErrWrongServerKey: the client pinned a server key that is not the
	// server's (seen by the server, which cannot decrypt the client's first
	// message, and by a client talking to an impostor), or the message was
	// tampered with.
	ErrWrongServerKey = errors.New("secure: wrong server key or tampered handshake")
	// ErrUnknownClientKey: in mutual mode, the client proved a static key
	// the server does not know (Config.KnownClient refused it).
	ErrUnknownClientKey = errors.New("secure: unknown client key")
	// ErrHandshake: a handshake message failed to verify for another reason
	// (tampered, or out of step with the handshake).
	ErrHandshake = errors.New("secure: handshake failed")
	// ErrAuth: a sealed record failed authentication: a flipped bit, a
	// forged record, or one sealed under other keys.
	ErrAuth = errors.New("secure: message authentication failed")
	// ErrReplay: the record (sealed or handshake) was received before, or
	// its nonce is too old for the replay window.
	ErrReplay = errors.New("secure: replayed message")
	// ErrReflected: a sealed record that this side's own direction sealed
	// came back to it.
	ErrReflected = errors.New("secure: reflected message")
	// ErrTruncated: a record is shorter than its header says, or shorter
	// than its authentication tag.
	ErrTruncated = errors.New("secure: truncated message")
	// ErrDowngrade: the peer sent plaintext where encryption is required,
	// or offers another mode than the one configured.
	ErrDowngrade = errors.New("secure: encryption required")
	// ErrEarly: a sealed record arrived before the handshake completed (on
	// a datagram link, it overtook the last handshake message).
	ErrEarly = errors.New("secure: sealed message before the handshake completed")
	// ErrMalformed: the bytes are not a record of this layer.
	ErrMalformed = errors.New("secure: malformed record")
	// ErrExhausted: 2^64-1 records were sealed under one key; the
	// connection must be replaced (a new connection has fresh keys).
	ErrExhausted = errors.New("secure: nonces exhausted")
	// ErrConfig: the configuration is incomplete or inconsistent.
	ErrConfig = errors.New("secure: invalid configuration")
)

// Droppable reports whether a datagram link should drop a record that
// failed with err and carry on: duplicates and reordering are normal there
// (ErrReplay, ErrEarly), and a well-framed forged or reflected record
// (ErrAuth, ErrReflected) must not let whoever can inject one end the
// connection. Malformed framing (ErrTruncated, ErrMalformed) still ends it,
// as a malformed plaintext message does. On a stream link every error ends
// the connection.
func Droppable(err error) bool {
	return errors.Is(err, ErrReplay) || errors.Is(err, ErrEarly) || errors.Is(err, ErrAuth) || errors.Is(err, ErrReflected)
}
