package session

import (
	"crypto/rand"
	"io"
	"time"

	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
)

// AuthRequest is what the server application's authorization hook sees, on
// the first connect and on every resume.
type AuthRequest struct {
	Conn      ConnID
	Auth      []byte         // the credentials from HELLO
	Resume    bool           // true: the client presented a valid resume token
	Client    proto.ClientID // the session being resumed; zero for a new one
	Source    string         // the connection's source (Connected.Source)
	Transport any            // Connected.Transport
	// ClientKey is the client's static public key, verified by the
	// handshake, in secure.Mutual mode; zero otherwise. A session can only
	// be resumed by the key that created it.
	ClientKey secure.PublicKey
}

// RoomRequest is a client's JOIN or LEAVE, for the server application's
// room hook.
type RoomRequest struct {
	Client proto.ClientID
	Room   string
	Join   bool // true: JOIN; false: LEAVE
}

// PublishRequest is a client's PUBLISH to a room it is a member of, for
// the server application's publish hook. Payload belongs to the machine:
// the hook must not keep or modify it.
type PublishRequest struct {
	Client  proto.ClientID
	Room    string
	Name    string
	Payload []byte
}

// ServerConfig configures a [Server]. Every zero field has a documented
// default.
type ServerConfig struct {
	LinkConfig

	// Rand is the source of client IDs and resume tokens. Nil means
	// crypto/rand. The simulator passes a seeded generator so runs replay;
	// production servers must leave it nil or pass a CSPRNG.
	Rand io.Reader
	// HeartbeatInterval is announced in WELCOME: the client sends a
	// HEARTBEAT this often. Default 30 s.
	HeartbeatInterval time.Duration
	// IdleTimeout: a connection with nothing received for this long is
	// dead. Default 2.5 × HeartbeatInterval.
	IdleTimeout time.Duration
	// HandshakeTimeout closes connections that send no HELLO in time.
	// Default 10 s.
	HandshakeTimeout time.Duration
	// ResumeWindow is how long a detached session waits for a resume.
	// Default 2 min.
	ResumeWindow time.Duration
	// MaxSessions bounds live sessions, attached and detached; a new
	// session beyond it is refused with CLOSE overloaded. Default 100,000.
	MaxSessions int
	// MaxDetached and MaxDetachedBytes bound the detached sessions and the
	// unacknowledged bytes they hold; beyond either a detached session is
	// evicted (reported lost): the oldest of the source with the most
	// (with no sources, the oldest). Defaults 10,000 and 256 MiB.
	MaxDetached      int
	MaxDetachedBytes int
	// MaxPendingConns bounds connections that have not completed their
	// handshake. When it is reached, a new connection evicts the oldest
	// pending connection of the source with the most of them (closed with
	// CLOSE overloaded), or is itself closed so when its own source has
	// as many. Default 4096.
	MaxPendingConns int

	// Per-source limits, for connections whose Connected.Source is not
	// empty; see admission.go for the policy. A negative value switches a
	// limit off.
	//
	// MaxPendingPerSource bounds a source's connections awaiting HELLO;
	// the next one is closed at once with CLOSE overloaded (clients retry
	// after their backoff). Default 128.
	MaxPendingPerSource int
	// SourceSessionBurst and SourceSessionInterval bound the new sessions
	// a source starts: SourceSessionBurst at once, then one per
	// SourceSessionInterval. A HELLO beyond it is refused with CLOSE
	// overloaded (the client retries after its backoff); resumes are not
	// limited. Defaults 100 and 50 ms (20 a second).
	SourceSessionBurst    int
	SourceSessionInterval time.Duration
	// MaxDetachedPerSource bounds a source's detached sessions; beyond it
	// that source's oldest detached session is evicted (reported lost, as
	// by MaxDetached). Default 1,000. When MaxDetached or MaxDetachedBytes
	// is exceeded, the source with the most detached sessions loses its
	// oldest first, whatever their sources.
	MaxDetachedPerSource int
	// MaxFramesPerStep bounds the frames one Recv step processes, so that
	// one transport message packed with frames (a megabyte of ACKs is
	// some 350,000 of them) cannot hold the machine, and every other
	// session behind its driver's lock, for long. The rest of the message
	// is left unread (see [Server.Unread]) for the driver to step later,
	// after others had their turn. Zero (the default) processes every
	// frame in one step; the adapters use 256.
	MaxFramesPerStep int
	// MaxRoomsPerSession and MaxRoomMembers bound room membership.
	// Defaults 64 and 100,000.
	MaxRoomsPerSession int
	MaxRoomMembers     int
	// CloseSlowConsumers chooses what happens when a session's
	// unacknowledged bytes or frames reach the limit: false (default) makes
	// Send, Call and Reply fail with ErrBackpressure (and Broadcast report the
	// members it skipped); true closes that session with CLOSE overloaded and
	// reports it lost.
	CloseSlowConsumers bool

	// Secure turns on encryption: every connection must start with the
	// handshake of Secure.Mode; a client that sends plaintext or offers
	// another mode is refused with CLOSE security. The zero value is
	// plaintext, and then a client that asks for encryption is refused the
	// same way. An invalid Secure makes Step(Connected) fail.
	Secure secure.Config

	// Authorize runs on every HELLO, for new sessions and resumes; an error
	// refuses the connection with CLOSE policy (and, on a resume, ends the
	// session). Nil accepts everyone. It runs inside Step: keep it fast and
	// free of I/O.
	Authorize func(AuthRequest) error
	// AllowRoom decides a client's JOIN or LEAVE. Nil refuses all.
	AllowRoom func(RoomRequest) bool
	// AllowPublish decides a client's PUBLISH to a room it is a member of
	// (a non-member's publish is refused before the hook runs). Nil allows
	// every member's publish. It runs inside Step: keep it fast and free
	// of I/O.
	AllowPublish func(PublishRequest) bool
	// DeferAuthorize makes the server ask its driver instead of calling
	// Authorize, so that the decision may take I/O outside Step: a HELLO
	// that passes the protocol's checks waits, the server emits
	// [*AuthPending], and the handshake continues when the driver steps
	// [Authorized] (or ends at HandshakeTimeout). Authorize is then not
	// called.
	DeferAuthorize bool
	// Presence makes the server report every change of a room's members:
	// [*MemberJoined] when a session joins a room (the application's Join
	// or the client's JOIN), [*MemberLeft] when it leaves one (Leave,
	// LEAVE, or the end of the session, its rooms in name order). A
	// detached session stays a member until it ends. Default off.
	Presence bool
}

func (c *ServerConfig) setDefaults() {
	c.LinkConfig.setDefaults(1 << 20)
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.HeartbeatInterval > proto.MaxDuration/3 {
		c.HeartbeatInterval = proto.MaxDuration / 3
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = c.HeartbeatInterval * 5 / 2
	}
	if c.IdleTimeout > proto.MaxDuration {
		c.IdleTimeout = proto.MaxDuration
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.ResumeWindow <= 0 {
		c.ResumeWindow = DefaultResumeWindow
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 100_000
	}
	if c.MaxDetached <= 0 {
		c.MaxDetached = 10_000
	}
	if c.MaxDetachedBytes <= 0 {
		c.MaxDetachedBytes = 256 << 20
	}
	if c.MaxPendingConns <= 0 {
		c.MaxPendingConns = 4096
	}
	if c.MaxPendingPerSource == 0 {
		c.MaxPendingPerSource = 128
	}
	if c.SourceSessionBurst == 0 {
		c.SourceSessionBurst = 100
	}
	if c.SourceSessionInterval <= 0 {
		c.SourceSessionInterval = 50 * time.Millisecond
	}
	if c.MaxDetachedPerSource == 0 {
		c.MaxDetachedPerSource = 1000
	}
	if c.MaxRoomsPerSession <= 0 {
		c.MaxRoomsPerSession = 64
	}
	if c.MaxRoomMembers <= 0 {
		c.MaxRoomMembers = 100_000
	}
}
