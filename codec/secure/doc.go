// Package secure is the optional encryption layer of the wire protocol: a
// Noise handshake per connection (github.com/flynn/noise, X25519,
// ChaCha20-Poly1305, BLAKE2s) before HELLO, then every transport message
// sealed with an explicit nonce. It is sans-I/O like the rest of the core:
// bytes in, bytes out, randomness injected.
//
// # Modes
//
//	PSK        Noise NNpsk0  a 32-byte key both sides hold
//	ServerKey  Noise NK      the client pins the server's static public key
//	Mutual     Noise XK      the client pins the server's key and proves its own
//
// Every mode derives fresh traffic keys per connection from ephemeral keys,
// one key per direction.
//
// # Records
//
// A transport message is one or more records back to back (so that a driver
// may join messages, as it does with plaintext frame sequences):
//
//	handshake  e1 | mode (1 byte) | length (uint16 BE) | Noise handshake message
//	sealed     kind (1) | nonce (uint64 BE) | length (uint32 BE) | ciphertext and tag
//
// A sealed record's kind is e2 from the client and e3 from the server; its
// 13-byte header is the AEAD's associated data and its nonce the AEAD nonce.
// Nonces count from 0 per direction and connection. The receiver keeps a
// sliding window of WindowSize (1,984) nonces, as WireGuard does: a record is
// accepted once, in any order within the window, and only after it
// authenticates. So the layer works over links that lose, duplicate and
// reorder messages. None of the kind bytes can begin a plaintext frame (a
// CBOR array), so plaintext where a record is required is recognised and
// refused ([ErrDowngrade]), as is a handshake record of another mode.
//
// The client's first handshake record opens the connection; with Mutual
// mode the client's third handshake message and its sealed HELLO travel
// together, so every mode reaches HELLO after one round trip.
//
// # Errors
//
// Every refusal wraps one sentinel error (errors.Is): [ErrWrongPSK],
// [ErrWrongServerKey], [ErrUnknownClientKey], [ErrHandshake], [ErrAuth]
// (a flipped bit or forged record), [ErrReplay], [ErrReflected],
// [ErrTruncated], [ErrDowngrade], [ErrEarly], [ErrMalformed]. On a stream
// link each ends the connection; on a datagram link [Droppable] ones are
// dropped and the connection carries on.
//
// What the layer protects and what it does not (sizes, timing, that a
// connection exists, anything once keys leak) is set out in the threat
// model of the repository's README, section Encryption.
//
// testdata/vectors.json holds known-answer vectors (fixed keys and
// randomness, the records they produce) for other implementations.
package secure
