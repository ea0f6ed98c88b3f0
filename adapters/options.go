package adapters

import (
	"context"
	"log/slog"
	"time"

	"github.com/bettersocket/bettersocket/adapters/internal/clock"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/session"
)

// Message is one application message, delivered exactly once and in order.
type Message struct {
	// Client is the session it arrived on: on a server, the sender; on a
	// client, this client's own session.
	Client ClientID
	// Room is the room it was broadcast or published to, or "" for a
	// direct message. On a server, a message with Room set is a client's
	// publish the server accepted: the room's other members already have it.
	Room string
	// Name is the message's event name, or "" for an unnamed message (see
	// [Mux]).
	Name string
	// Seq is its sequence number in the session's direction.
	Seq uint64
	// Payload is the message; the handler owns it.
	Payload []byte
	// Identity is, on a server with ServerOptions.Authenticate, what it
	// said of the sender at the session's latest authentication.
	Identity Identity
}

// Request is one request from the peer. The handler's return values are the
// response.
type Request struct {
	// Client is the session it arrived on (see [Message.Client]).
	Client ClientID
	// ID is the peer's request ID, unique among its pending requests.
	ID uint64
	// Name is the request's method name, or "" for an unnamed request
	// (see [Mux]).
	Name string
	// Payload is the request; the handler owns it.
	Payload []byte
	// Identity is the sender's, as for [Message.Identity].
	Identity Identity
}

// MessageHandler handles one incoming message.
type MessageHandler func(ctx context.Context, m Message)

// RequestHandler answers one incoming request. A nil error sends payload as
// the response. An error sends an error response instead: a
// [*session.RemoteError] (found with errors.As) gives its code and message;
// any other error is answered with proto.ErrCodeInternal and the message
// "internal error" (its text could reveal server internals; it is logged
// instead).
type RequestHandler func(ctx context.Context, r Request) (payload []byte, err error)

// EventHandler is told about lifecycle events, as the machine reports them.
// A client sees [*session.SessionStarted] (connected, new session),
// [*session.Resumed], [*session.ConnectionLost] (its established
// connection is gone: reconnecting), [*session.ConnectFailed] (one per
// failed connection attempt, the same on every transport; see the package
// doc's Events and loss), [*session.SessionLost] (with the list of what
// was lost),
// [*session.RoomsRejoined] (after a SessionLost and the next
// SessionStarted, when the lost session was in rooms: which are re-joined,
// which refused) and, last, [*session.Closed]. A server sees [*session.SessionStarted],
// [*session.Resumed], [*session.Detached], [*session.SessionClosed] (with
// what was lost) and [*session.ConnRejected].
type EventHandler func(ctx context.Context, ev Event)

// DefaultAckDelay is how long the machines of a Client or Server let an
// acknowledgement wait for a frame that carries it (session.LinkConfig's
// AckDelay), unless their options say otherwise: long enough for a request
// handler to answer, so that its response carries the ACK and a round trip
// costs one transport message each way.
const DefaultAckDelay = time.Millisecond

// withSecure returns the machine's encryption settings: opts' Secure
// when it is on, else the session config's own.
func withSecure(top, session secure.Config) secure.Config {
	if top.Mode != secure.Off {
		return top
	}
	return session
}

// DefaultMaxInflight is the send window (session.LinkConfig's
// MaxInflight) of a Client or Server unless their options say otherwise:
// 4,096 frames, some 2 ms of a stream at 2 M messages/s, where the
// machine's own default (1,024) makes a fast stream wait for
// acknowledgements. Half of the window arrived unacknowledged is
// acknowledged at once (AckEvery): two ACKs per window, 1,000 a second
// for such a stream, half the budget of DefaultMaxIdleRate.
const DefaultMaxInflight = 4096

// linkDefaults applies the adapters' defaults to a machine's link config.
func linkDefaults(cfg *session.LinkConfig) {
	cfg.Mode = session.Stream
	if cfg.AckDelay == 0 {
		cfg.AckDelay = DefaultAckDelay
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.AckEvery == 0 {
		cfg.AckEvery = cfg.MaxInflight / 2
	}
}

// ClientOptions configure a [Client]. The zero value is usable.
type ClientOptions struct {
	// Session configures the machine: limits, timeouts, reconnect backoff,
	// and the credentials (Auth) sent with every HELLO. Its Mode is always
	// session.Stream over these transports, and its AckDelay defaults to
	// DefaultAckDelay (a negative AckDelay acknowledges at once).
	Session ClientConfig
	// Secure turns on encryption (see package codec/secure): psk mode
	// needs the pre-shared key, server-key mode the server's public key
	// (ServerKey), mutual mode that and the client's key pair (Static).
	// The client then refuses a server that answers in plaintext or
	// another mode. When its Mode is not secure.Off it replaces
	// Session.Secure. An invalid Secure makes Dial fail.
	Secure secure.Config
	// Mux routes named messages and requests from the server to their
	// handlers (see [Mux]). Nil: everything goes to OnMessage and
	// OnRequest, which see the name in Message.Name and Request.Name.
	Mux *Mux
	// OnMessage handles messages from the server. Nil drops them.
	OnMessage MessageHandler
	// OnRequest answers requests from the server. Nil answers each with
	// proto.ErrCodeUnavailable.
	OnRequest RequestHandler
	// OnEvent is told about lifecycle events. Nil ignores them.
	OnEvent EventHandler
	// Logger receives structured logs. Nil logs nothing. Records are
	// logged under the machine's lock: its handler must not call back
	// into the Client or Server.
	Logger *slog.Logger
	// MaxPendingEvents bounds the events waiting for the handlers; beyond
	// it the client stops reading from its connection until the handlers
	// catch up. Default 1024.
	MaxPendingEvents int
	// DialTimeout bounds each connection attempt: the first ones, made by
	// Dial, and every reconnect. Default: the machine's HandshakeTimeout
	// (10 s).
	DialTimeout time.Duration
	// FailFast makes Dial return the first failed connection attempt's
	// error instead of retrying it with the reconnect backoff until its
	// ctx ends. Reconnects after the session is established always retry.
	FailFast bool
	// Credentials, when set, is called before every connection attempt
	// (the first, and each reconnect) for the credentials sent in that
	// connection's HELLO, in place of Session.Auth: an expiring token can
	// be refreshed here, and the server's Authorize sees the new one on
	// the resume. It runs on the dialing goroutine, never under the
	// client's lock, with the attempt's context (bounded by DialTimeout),
	// so it may do I/O; an error fails that attempt, which is retried with
	// the backoff like a failed dial. Session.Auth stays the simple form
	// for credentials that never change.
	Credentials func(ctx context.Context) ([]byte, error)

	// clock is the driver's clock: nil, the monotonic one; a fake one in
	// tests, which move it by hand.
	clock clock.Clock
}

// ServerOptions configure a [Server]. The zero value is usable.
type ServerOptions struct {
	// Session configures the machine: limits, timeouts, the resume window,
	// and the hooks: Authorize (runs on every HELLO, for new sessions and
	// resumes) and AllowRoom (decides clients' JOIN and LEAVE; nil refuses
	// all) and AllowPublish (decides members' publishes to their rooms;
	// nil allows them). The hooks run inside the machine's Step, under the
	// server's lock: keep them fast and do not call the Server from them
	// (for an authorization that does I/O, use Authenticate). Presence
	// reports rooms' joins and leaves to OnEvent (session.MemberJoined,
	// session.MemberLeft), in order with the session's other events. Mode
	// is always session.Stream, AckDelay defaults to DefaultAckDelay (a
	// negative AckDelay acknowledges at once), and MaxFramesPerStep to
	// DefaultMaxFramesPerStep (negative: a whole message in one step).
	Session ServerConfig
	// Secure turns on encryption (see package codec/secure): psk mode
	// needs the pre-shared key, server-key and mutual mode the server's key
	// pair (Static); in mutual mode KnownClient may restrict the client
	// keys, and Session.Authorize sees each client's verified key. The
	// server then refuses every client that does not use the same mode,
	// with CLOSE security. When its Mode is not secure.Off it replaces
	// Session.Secure. NewServer panics on an invalid Secure (a missing or
	// mismatched key): check it first with Secure.Validate(true) when the
	// keys come from outside the program.
	Secure secure.Config
	// Mux routes named messages and requests from clients to their
	// handlers (see [Mux]). Nil: everything goes to OnMessage and
	// OnRequest, which see the name in Message.Name and Request.Name.
	Mux *Mux
	// OnMessage handles messages from clients, and the publishes to rooms
	// that the server accepted (Message.Room set) unless Mux routes them.
	// Nil drops them.
	OnMessage MessageHandler
	// OnRequest answers requests from clients. Nil answers each with
	// proto.ErrCodeUnavailable.
	OnRequest RequestHandler
	// OnEvent is told about lifecycle events. Nil ignores them.
	OnEvent EventHandler
	// Logger receives structured logs. Nil logs nothing. Records are
	// logged under the machine's lock: its handler must not call back
	// into the Client or Server.
	Logger *slog.Logger
	// MaxPendingEvents bounds the events waiting for the handlers, per
	// session; beyond it the server stops reading from that session's
	// connection until its handlers catch up. Default 1024.
	MaxPendingEvents int
	// Source names the source of each connection for the per-source
	// limits of Session (MaxPendingPerSource, SourceSessionBurst,
	// MaxDetachedPerSource). Default DefaultSource: the remote IP address
	// (an IPv6 one by its /64). Behind a reverse proxy, read the client's
	// address from the header the proxy sets.
	Source SourceFunc
	// MaxIdleRate bounds the transport messages per second (in a burst of
	// as many) that one connection may send that deliver nothing to the
	// application: acknowledgements, heartbeats, duplicates. Past it the
	// connection's reading pauses until it is within the budget again; the
	// peer sees its messages answered later, nothing else. Default
	// DefaultMaxIdleRate (2,000); negative: no bound.
	MaxIdleRate int
	// WriteTimeout bounds how long a write to a connection may make no
	// progress while more waits to be written (a peer that stopped
	// reading); then the connection is closed at once, without a CLOSE
	// frame. Its session detaches and can resume: nothing is lost.
	// Default DefaultWriteTimeout (10 s); negative: no timeout.
	WriteTimeout time.Duration
	// MaxQueuedBytes bounds the bytes waiting to be written to one
	// connection; past it the connection is closed at once, as for
	// WriteTimeout. Replies that supersede each other (heartbeat answers,
	// standalone ACKs) are coalesced to one before they count. Default:
	// twice the session's MaxUnackedBytes plus MaxMessageSize (4 MiB with
	// the defaults), which only a peer that has stopped reading reaches;
	// negative: no bound.
	MaxQueuedBytes int

	// Authenticate, when set, decides every HELLO (new sessions and
	// resumes) in place of Session.Authorize, on a goroutine of its own,
	// never under the server's lock: it may do I/O, and other connections
	// proceed meanwhile. r tells it who is connecting: the credentials,
	// the source, the remote address ([RemoteAddr]), a WebSocket's upgrade
	// request with its headers, cookies and TLS state ([HTTPRequest]), the
	// client's verified key in secure.Mutual mode. ctx ends after
	// AuthTimeout or when the server closes. An error refuses the client
	// with CLOSE policy and its text as the reason (on a resume, the
	// session ends); an error once ctx has ended refuses it with CLOSE
	// handshake-timeout (4002) instead, which the client retries, its
	// session kept. The Identity it returns is carried by the session's
	// later messages and requests (Message.Identity) and addresses the
	// user's sessions (SessionsOf, SendUser). The handshake timeout
	// (Session.HandshakeTimeout) still bounds the whole handshake. It must
	// return when ctx ends: Close waits for it.
	Authenticate func(ctx context.Context, r AuthRequest) (Identity, error)
	// AuthTimeout bounds each Authenticate call. Default
	// DefaultAuthTimeout (5 s).
	AuthTimeout time.Duration
	// SlowMembers says what Broadcast does for a member whose send window
	// is full. Default WaitSlow: it waits for that member's window under
	// the caller's ctx, the others served at once. EndSlow sets
	// Session.CloseSlowConsumers.
	SlowMembers SlowPolicy
	// ShutdownTimeout bounds the graceful shutdown of a transport's Run
	// (gorilla.Server.Run, coder.Server.Run, netconn.Server.Run) once its
	// ctx ends: the time Close has to tell every client and let their
	// connections flush, and running handlers to return, before the
	// connections are closed at once. Default DefaultShutdownTimeout
	// (10 s).
	ShutdownTimeout time.Duration

	// clock is the driver's clock (see ClientOptions.clock).
	clock clock.Clock
}
