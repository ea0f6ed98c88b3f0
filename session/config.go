package session

import (
	"crypto/rand"
	"io"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/internal/breakage"
	"github.com/bettersocket/bettersocket/proto"
)

// Mode says what the transport under a machine guarantees.
type Mode uint8

const (
	// Stream: an ordered, reliable byte or message stream while it lasts
	// (WebSocket, TCP). Frames are never retransmitted within a connection,
	// so backpressure cannot amplify traffic; everything unacknowledged is
	// resent after a resume.
	Stream Mode = iota
	// Datagram: frames may be lost, duplicated or reordered. Unacknowledged
	// frames are also retransmitted within a connection, driven by the
	// retransmission timer and by acks that show the peer is behind.
	Datagram
)

func (m Mode) String() string {
	if m == Datagram {
		return "datagram"
	}
	return "stream"
}

// Defaults applied to zero-valued configuration fields.
const (
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultResumeWindow      = 2 * time.Minute
	DefaultRequestTimeout    = 30 * time.Second
	DefaultCloseTimeout      = 5 * time.Second
	DefaultMaxInflight       = 1024
	DefaultMaxRequests       = 1024
	DefaultMaxMessageSize    = codec.DefaultMaxMessageSize
	DefaultInitialRTO        = time.Second
	DefaultMinRTO            = 200 * time.Millisecond
	DefaultMaxRTO            = 60 * time.Second
	DefaultReconnectMin      = 250 * time.Millisecond
	DefaultReconnectMax      = 30 * time.Second
)

// frameOverhead bounds the bytes a reliable frame adds around its
// variable-length fields: array header, type, three uint64, two string
// headers, and an error's array header, code and message header.
const frameOverhead = 1 + 1 + 3*9 + 2*9 + 1 + 5 + 2

// LinkConfig holds the reliability settings shared by both machines.
type LinkConfig struct {
	// Mode is the transport's delivery guarantee. Default Stream.
	Mode Mode
	// MaxInflight is the most reliable frames this side keeps
	// unacknowledged (its send window), and the most out-of-order frames it
	// holds from the peer (announced to the peer). Default 1024.
	MaxInflight int
	// MaxUnackedBytes is the most payload bytes kept unacknowledged, and
	// the most bytes held out of order from the peer (Datagram mode).
	// Default 4 MiB on the client, 1 MiB per session on the server.
	MaxUnackedBytes int
	// MaxMessageSize is the largest transport message this side accepts,
	// announced to the peer. Default 1 MiB.
	MaxMessageSize int
	// MaxRequests is the most requests this side has waiting for a
	// response, and the most of the peer's requests it tracks (announced).
	// Default 1024.
	MaxRequests int
	// RequestTimeout is the default request timeout, counted from when the
	// request was first sent. Default 30 s.
	RequestTimeout time.Duration
	// InitialRTO, MinRTO and MaxRTO bound the retransmission timeout
	// (RFC 6298) in Datagram mode. Defaults 1 s, 200 ms, 60 s.
	InitialRTO, MinRTO, MaxRTO time.Duration
	// AckDelay is how long an acknowledgement may wait for a frame that
	// carries it (a response, a message, a heartbeat) before it goes out
	// as an ACK frame of its own, as TCP's delayed ACK: a request and its
	// response then cost one transport message each way, not two. Zero or
	// less (the default) sends it with the next Ready. The adapters use
	// 1 ms.
	AckDelay time.Duration
	// AckEvery, when positive, sends the acknowledgement owed at once,
	// held or not, when this many reliable frames arrived since the last
	// one went out, as TCP acknowledges every other segment: a stream fast
	// enough to fill the peer's window within AckDelay then does not stall
	// on it. Zero (the default) waits AckDelay whatever arrived. The
	// adapters use half of MaxInflight.
	AckEvery int

	// broken switches on deliberate bugs so that the oracle and fuzz
	// tests can prove they catch them; set only through
	// internal/breakage.
	broken breakage.Bugs
}

func init() {
	breakage.Set = func(cfg any, b breakage.Bugs) { cfg.(*LinkConfig).broken = b }
	breakage.Get = func(cfg any) breakage.Bugs { return cfg.(*LinkConfig).broken }
}

func (c *LinkConfig) setDefaults(unackedBytes int) {
	if c.MaxInflight <= 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.MaxUnackedBytes <= 0 {
		c.MaxUnackedBytes = unackedBytes
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxMessageSize < 256 {
		c.MaxMessageSize = 256
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = DefaultMaxRequests
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.InitialRTO <= 0 {
		c.InitialRTO = DefaultInitialRTO
	}
	if c.MinRTO <= 0 {
		c.MinRTO = DefaultMinRTO
	}
	if c.MaxRTO <= 0 {
		c.MaxRTO = DefaultMaxRTO
	}
}

func (c *LinkConfig) limits() proto.Limits {
	return proto.Limits{
		MaxMessageSize: uint32(c.MaxMessageSize),
		MaxInflight:    uint32(c.MaxInflight),
		MaxRequests:    uint32(c.MaxRequests),
	}
}

// ClientConfig configures a [Client]. Every zero field has a documented
// default.
type ClientConfig struct {
	LinkConfig

	// Rand is the source of all randomness (reconnect jitter). Nil means
	// crypto/rand. The simulator passes a seeded generator so runs replay.
	Rand io.Reader
	// Auth is sent in every HELLO for the server's authorization hook.
	Auth []byte
	// Secure turns on encryption: every connection starts with the
	// handshake of Secure.Mode, and the client refuses a server that
	// answers in plaintext or another mode. The zero value is plaintext.
	// An invalid Secure makes Step(Connected) fail.
	Secure secure.Config
	// HandshakeTimeout bounds the wait for WELCOME. Default 10 s.
	HandshakeTimeout time.Duration
	// CloseTimeout bounds how long a graceful Close waits for the peer to
	// acknowledge what is pending, reconnecting if it must. Default 5 s.
	CloseTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff: attempt n
	// waits a uniformly random time in [0, min(ReconnectMax,
	// ReconnectMin·2^(n-1))) ("full jitter"): the first retry waits less
	// than ReconnectMin. Defaults 250 ms and 30 s.
	ReconnectMin, ReconnectMax time.Duration
}

func (c *ClientConfig) setDefaults() {
	c.LinkConfig.setDefaults(4 << 20)
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax <= 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = c.ReconnectMin
	}
}
