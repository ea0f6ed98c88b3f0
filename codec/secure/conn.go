package secure

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/flynn/noise"
	"golang.org/x/crypto/chacha20poly1305"
)

// Record kinds: the first byte of every record. None of them can start a
// plaintext frame (a CBOR array, 0x80-0x9f), so each side tells a record
// from plaintext by one byte: that is how a downgrade is refused.
const (
	kindHandshake    byte = 0xe1 // client or server: a Noise handshake message
	kindClientSealed byte = 0xe2 // client to server: a sealed transport message
	kindServerSealed byte = 0xe3 // server to client
)

const (
	handshakeHeader = 4  // kind, mode, length (uint16, big-endian)
	sealedHeader    = 13 // kind, nonce (uint64, big-endian), length (uint32, big-endian)
	tagLen          = 16
	// maxHandshake bounds a handshake message; the largest this layer
	// writes is XK's third, 64 bytes.
	maxHandshake = 256
	// Overhead is what sealing adds to a transport message: the record
	// header and the authentication tag. A machine keeps its plaintext
	// messages within the peer's limit minus Overhead.
	Overhead = sealedHeader + tagLen
)

// prologue binds every handshake to this protocol: a peer of another
// protocol, or another version of this layer, cannot complete one.
var prologue = []byte("bettersocket secure v1")

// Conn is the secure layer of one connection: the handshake, then the
// sealed channel. It is sans-I/O: records go in through Read and come out of
// Start, Read (a handshake answer) and Seal. A Conn is used for one
// connection only: a new connection gets a new Conn, with fresh ephemeral
// keys. It is not safe for concurrent use.
type Conn struct {
	cfg    *Config
	server bool
	hs     *noise.HandshakeState // nil once complete

	lastIn   []byte // the last handshake record read
	lastOut  []byte // the last handshake record written
	finalOut bool   // this side wrote the handshake's final message

	done               bool
	send, recv         aead
	sendKind, recvKind byte
	next               uint64 // next nonce to seal with
	win                window
	peer               PublicKey
	hash               []byte
	ad                 [sealedHeader]byte
}

// NewConn starts the secure layer of one connection on the client
// (server false) or server side. rand supplies the ephemeral keys: the
// machine's injected randomness, so simulated runs replay exactly. It checks
// that cfg has the keys its mode needs, but not that the static key pair
// matches: call cfg.Validate once beforehand.
func NewConn(cfg *Config, server bool, rand io.Reader) (*Conn, error) {
	return newConn(cfg, server, rand, prologue)
}

func newConn(cfg *Config, server bool, rand io.Reader, prologue []byte) (*Conn, error) {
	if err := cfg.check(server, false); err != nil {
		return nil, err
	}
	pattern, ok := cfg.Mode.pattern()
	if !ok {
		return nil, fmt.Errorf("%w: mode %s has no handshake", ErrConfig, cfg.Mode)
	}
	nc := noise.Config{
		CipherSuite: suite,
		Random:      rand,
		Pattern:     pattern,
		Initiator:   !server,
		Prologue:    prologue,
	}
	c := &Conn{cfg: cfg, server: server}
	switch cfg.Mode {
	case PSK:
		nc.PresharedKey = cfg.PSK[:]
		nc.PresharedKeyPlacement = 0
	case ServerKey, Mutual:
		if server || cfg.Mode == Mutual {
			nc.StaticKeypair = noise.DHKey{Private: cfg.Static.Private[:], Public: cfg.Static.Public[:]}
		}
		if !server {
			nc.PeerStatic = cfg.ServerKey[:]
			c.peer = cfg.ServerKey
		}
	}
	hs, err := noise.NewHandshakeState(nc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.hs = hs
	if server {
		c.sendKind, c.recvKind = kindServerSealed, kindClientSealed
	} else {
		c.sendKind, c.recvKind = kindClientSealed, kindServerSealed
	}
	return c, nil
}

// Start returns the client's first handshake record, to be written before
// anything else on the connection.
func (c *Conn) Start() ([]byte, error) {
	if c.server || c.lastOut != nil {
		return nil, errors.New("secure: Start is for a new client Conn only")
	}
	return c.write()
}

// write produces the next handshake message as a record.
func (c *Conn) write() ([]byte, error) {
	rec := make([]byte, handshakeHeader, handshakeHeader+96)
	rec[0], rec[1] = kindHandshake, byte(c.cfg.Mode)
	rec, cs1, cs2, err := c.hs.WriteMessage(rec, nil)
	if err != nil {
		// Only the randomness can fail here.
		return nil, fmt.Errorf("secure: writing handshake: %w", err)
	}
	binary.BigEndian.PutUint16(rec[2:], uint16(len(rec)-handshakeHeader))
	c.lastOut = rec
	if cs1 != nil {
		c.finalOut = true
		if err := c.complete(cs1, cs2); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// Established reports whether the handshake is complete: Seal works and
// sealed records are accepted.
func (c *Conn) Established() bool { return c.done }

// PeerKey returns the peer's verified static public key: the client's on
// the server in Mutual mode, the pinned server key on the client in
// ServerKey and Mutual mode; zero otherwise and before the handshake
// completes.
func (c *Conn) PeerKey() PublicKey {
	if !c.done {
		return PublicKey{}
	}
	return c.peer
}

// HandshakeHash returns the Noise handshake hash once the handshake is
// complete: a value both sides share and nobody else can produce, for
// channel binding. Nil before.
func (c *Conn) HandshakeHash() []byte { return c.hash }

// Resend returns the handshake record a datagram link should send again
// while it waits for the peer: the last one this side wrote, unless the
// peer's answer to it already arrived. Nil when there is nothing to resend.
func (c *Conn) Resend() []byte {
	if c.done && !c.finalOut {
		return nil
	}
	return c.lastOut
}

// Read takes the first record off msg. For a handshake record it advances
// the handshake and returns the record to send in answer (reply, nil when
// this side has nothing to say); for a sealed record it returns the opened
// plaintext, appended to dst[:0]. rest is what follows the record in msg.
//
// The errors wrap this package's sentinels. A duplicate handshake record
// fails with ErrReplay and also returns, as reply, this side's answer to it,
// which a datagram link sends again (its first sending may be what was
// lost). Where the record's end is known (ErrReplay, ErrReflected, ErrAuth,
// ErrEarly), rest is valid after an error, so that a datagram link can drop
// the record and go on.
func (c *Conn) Read(dst, msg []byte) (plain, reply, rest []byte, err error) {
	if len(msg) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: empty message", ErrTruncated)
	}
	switch k := msg[0]; {
	case k>>5 == 4:
		return nil, nil, nil, fmt.Errorf("%w: the peer sent plaintext", ErrDowngrade)
	case k == kindHandshake:
		if len(msg) < handshakeHeader {
			return nil, nil, nil, fmt.Errorf("%w: handshake header", ErrTruncated)
		}
		if Mode(msg[1]) != c.cfg.Mode {
			return nil, nil, nil, fmt.Errorf("%w: the peer offers mode %s, this side requires %s", ErrDowngrade, Mode(msg[1]), c.cfg.Mode)
		}
		n := int(binary.BigEndian.Uint16(msg[2:]))
		if n > maxHandshake {
			return nil, nil, nil, fmt.Errorf("%w: handshake message of %d bytes", ErrMalformed, n)
		}
		if len(msg)-handshakeHeader < n {
			return nil, nil, nil, fmt.Errorf("%w: handshake message", ErrTruncated)
		}
		rec := msg[:handshakeHeader+n]
		reply, err = c.handshake(rec)
		return nil, reply, msg[len(rec):], err
	case k == kindClientSealed || k == kindServerSealed:
		if len(msg) < sealedHeader {
			return nil, nil, nil, fmt.Errorf("%w: record header", ErrTruncated)
		}
		n := binary.BigEndian.Uint32(msg[9:])
		if uint64(n) > uint64(len(msg)-sealedHeader) || n < tagLen {
			return nil, nil, nil, fmt.Errorf("%w: sealed record", ErrTruncated)
		}
		end := sealedHeader + int(n)
		rest = msg[end:]
		if k == c.sendKind {
			return nil, nil, rest, fmt.Errorf("%w: a record of this side's own direction", ErrReflected)
		}
		if !c.done {
			return nil, nil, rest, ErrEarly
		}
		nonce := binary.BigEndian.Uint64(msg[1:])
		if !c.win.fresh(nonce) {
			return nil, nil, rest, fmt.Errorf("%w: nonce %d", ErrReplay, nonce)
		}
		plain, err := c.recv.open(dst[:0], nonce, msg[:sealedHeader], msg[sealedHeader:end])
		if err != nil {
			return nil, nil, rest, ErrAuth
		}
		c.win.mark(nonce)
		return plain, nil, rest, nil
	}
	return nil, nil, nil, fmt.Errorf("%w: record kind 0x%02x", ErrMalformed, msg[0])
}

// handshake reads one handshake record and writes the answer, if any.
func (c *Conn) handshake(rec []byte) ([]byte, error) {
	if c.lastIn != nil && bytes.Equal(rec, c.lastIn) {
		// Our answer to it may have been lost: hand it out again.
		var again []byte
		if !c.done || c.finalOut {
			again = c.lastOut
		}
		return again, fmt.Errorf("%w: handshake message", ErrReplay)
	}
	if c.done {
		return nil, fmt.Errorf("%w: handshake message after the handshake", ErrReplay)
	}
	idx := c.hs.MessageIndex()
	payload, cs1, cs2, err := c.hs.ReadMessage(nil, rec[handshakeHeader:])
	if err != nil {
		return nil, c.readFailed(idx, err)
	}
	if len(payload) != 0 {
		return nil, fmt.Errorf("%w: handshake payload", ErrMalformed)
	}
	c.lastIn = append([]byte(nil), rec...)
	if cs1 != nil {
		return nil, c.complete(cs1, cs2)
	}
	return c.write()
}

// readFailed names why the handshake message number idx did not verify.
func (c *Conn) readFailed(idx int, err error) error {
	if errors.Is(err, noise.ErrShortMessage) {
		return fmt.Errorf("%w: handshake message", ErrTruncated)
	}
	switch {
	case c.cfg.Mode == PSK:
		return ErrWrongPSK
	case idx <= 1: // ServerKey, Mutual: the first two depend on the server's key
		return ErrWrongServerKey
	}
	return ErrHandshake
}

func (c *Conn) complete(cs1, cs2 *noise.CipherState) error {
	initToResp, err1 := newAEAD(cs1)
	respToInit, err2 := newAEAD(cs2)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("secure: %w", err)
	}
	if c.server {
		c.send, c.recv = respToInit, initToResp
	} else {
		c.send, c.recv = initToResp, respToInit
	}
	c.hash = c.hs.ChannelBinding()
	if c.server && c.cfg.Mode == Mutual {
		copy(c.peer[:], c.hs.PeerStatic())
	}
	c.hs = nil
	c.done = true
	if c.server && c.cfg.Mode == Mutual && c.cfg.KnownClient != nil && !c.cfg.KnownClient(c.peer) {
		return ErrUnknownClientKey
	}
	return nil
}

// Seal appends plain to dst as one sealed record, under the next nonce.
func (c *Conn) Seal(dst, plain []byte) ([]byte, error) {
	if !c.done {
		return dst, errors.New("secure: Seal before the handshake completed")
	}
	if c.next == math.MaxUint64 {
		return dst, ErrExhausted
	}
	if len(plain) > math.MaxUint32-tagLen {
		return dst, fmt.Errorf("%w: %d bytes", ErrMalformed, len(plain))
	}
	n := c.next
	c.next++
	c.ad[0] = c.sendKind
	binary.BigEndian.PutUint64(c.ad[1:], n)
	binary.BigEndian.PutUint32(c.ad[9:], uint32(len(plain)+tagLen))
	dst = append(dst, c.ad[:]...)
	return c.send.seal(dst, n, c.ad[:], plain), nil
}

// aead is one direction's ChaCha20-Poly1305 with Noise's nonce encoding (4
// zero bytes, then the 64-bit counter little-endian), keyed by the cipher
// state the handshake split off. flynn/noise's own explicit-nonce Cipher
// would do the same with two allocations per message; this one keeps its
// nonce buffer.
type aead struct {
	c     cipher.AEAD
	nonce [chacha20poly1305.NonceSize]byte
}

func newAEAD(cs *noise.CipherState) (aead, error) {
	k := cs.UnsafeKey()
	c, err := chacha20poly1305.New(k[:])
	return aead{c: c}, err
}

func (a *aead) seal(dst []byte, n uint64, ad, plain []byte) []byte {
	binary.LittleEndian.PutUint64(a.nonce[4:], n)
	return a.c.Seal(dst, a.nonce[:], plain, ad)
}

func (a *aead) open(dst []byte, n uint64, ad, ct []byte) ([]byte, error) {
	binary.LittleEndian.PutUint64(a.nonce[4:], n)
	return a.c.Open(dst, a.nonce[:], ct, ad)
}

// SealedLen returns the size of the record that seals n bytes.
func SealedLen(n int) int { return n + Overhead }

// IsRecord reports whether msg starts with a record of this layer rather
// than a plaintext frame: a server without encryption uses it to answer a
// client that asks for encryption with a clear refusal.
func IsRecord(msg []byte) bool {
	return len(msg) > 0 && (msg[0] == kindHandshake || msg[0] == kindClientSealed || msg[0] == kindServerSealed)
}

// IsHandshake reports whether msg starts with a handshake record.
func IsHandshake(msg []byte) bool { return len(msg) > 0 && msg[0] == kindHandshake }
