package adapters

import (
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// The names an ordinary application needs, so that it imports this package
// and one transport and nothing else. Each is an alias of the type or value
// in session or proto (the same type: values pass freely between the two
// spellings). The machine-driving inputs (Recv, Connected, Timeout, Step and
// the like) stay in session for people who embed the machines themselves.

// ClientID identifies a client and its session across reconnections; a
// server addresses one session with it (Server.Send, Server.Request, Kick).
type ClientID = proto.ClientID

// ErrorCode classifies an error response; see the ErrCode constants.
type ErrorCode = proto.ErrorCode

// Error codes an error response carries (frozen: part of the wire protocol).
const (
	// ErrCodeInternal: the responder failed; the message says nothing internal.
	ErrCodeInternal = proto.ErrCodeInternal
	// ErrCodeForbidden: a hook refused (auth, room, publish).
	ErrCodeForbidden = proto.ErrCodeForbidden
	// ErrCodeNotFound: what the request names does not exist (no such method).
	ErrCodeNotFound = proto.ErrCodeNotFound
	// ErrCodeBadRequest: the request could not be decoded as the handler's type.
	ErrCodeBadRequest = proto.ErrCodeBadRequest
	// ErrCodeUnavailable: the responder has no handler for it or is overloaded.
	ErrCodeUnavailable = proto.ErrCodeUnavailable
	// ErrCodeLimit: the request would exceed a limit (rooms, members).
	ErrCodeLimit = proto.ErrCodeLimit
	// ErrCodeApplication is the first code free for the application's own meanings.
	ErrCodeApplication = proto.ErrCodeApplication
)

// RemoteError is an error response from the peer: errors.As finds it in
// what Request, Call and Invoke return, with its Code and Message. A handler
// returns one to answer with a code of its choice.
type RemoteError = session.RemoteError

// CloseError reports why a session was closed, with its close code.
type CloseError = session.CloseError

// CloseCode is the code a CLOSE carries (CloseError.Code).
type CloseCode = proto.CloseCode

// The close codes an application meets most; proto lists them all.
const (
	// CloseNormal: the session is over, by the application's wish.
	CloseNormal = proto.CloseNormal
	// CloseGoingAway: the server is shutting down; the client reconnects and resumes.
	CloseGoingAway = proto.CloseGoingAway
	// ClosePolicy: the application refused (authentication, a hook, Kick) or a limit was exceeded.
	ClosePolicy = proto.ClosePolicy
	// CloseSessionExpired: the session to resume is unknown or its resume window passed.
	CloseSessionExpired = proto.CloseSessionExpired
)

// Sentinel errors the application tests for with errors.Is.
var (
	// ErrClosed: the client or session is closed.
	ErrClosed = session.ErrClosed
	// ErrTooLarge: the payload is over the configured message size.
	ErrTooLarge = session.ErrTooLarge
	// ErrRequestTimeout: a request got no response within its timeout.
	ErrRequestTimeout = session.ErrRequestTimeout
	// ErrSessionLost: the session ended with messages not acknowledged.
	ErrSessionLost = session.ErrSessionLost
	// ErrUnknownClient: no session with that ClientID on this server.
	ErrUnknownClient = session.ErrUnknownClient
	// ErrBackpressure: a member's send window was full (BroadcastError
	// with SkipSlow holds it).
	ErrBackpressure = session.ErrBackpressure
	// ErrExpired and ErrEvicted: why the server ended a detached session
	// (its resume window passed; the detached-session budget), as its
	// SessionClosed event says.
	ErrExpired = session.ErrExpired
	ErrEvicted = session.ErrEvicted
	// ErrClientKey: in secure.Mutual mode, a resume proved another client
	// key than the session's (a ConnRejected event); the session is
	// untouched.
	ErrClientKey = session.ErrClientKey
)

// BroadcastError names the members a Broadcast skipped under SkipSlow,
// their send window full; everyone else got the message.
type BroadcastError = session.BroadcastError

// Event is what OnEvent receives: one of the event types below.
type Event = session.Event

// Events a client sees, in the order of a session's life.
type (
	// SessionStarted: connected with a new session.
	SessionStarted = session.SessionStarted
	// Resumed: reconnected and the session resumed with nothing lost.
	Resumed = session.Resumed
	// ConnectionLost: the established connection is gone; reconnecting.
	ConnectionLost = session.ConnectionLost
	// ConnectFailed: one reconnection attempt failed.
	ConnectFailed = session.ConnectFailed
	// SessionLost: the session could not be resumed; its Lost says what
	// was not acknowledged.
	SessionLost = session.SessionLost
	// RoomsRejoined: after a SessionLost, which rooms were joined again.
	RoomsRejoined = session.RoomsRejoined
	// RoomRefused is one room RoomsRejoined lists as not joined again (not an event).
	RoomRefused = session.RoomRefused
	// Closed: the last event of a client.
	Closed = session.Closed
)

// Events a server sees.
type (
	// Detached: a session's connection is gone; it waits to be resumed.
	Detached = session.Detached
	// SessionClosed: a session ended, with what it lost.
	SessionClosed = session.SessionClosed
	// ConnRejected: a connection was refused before it had a session.
	ConnRejected = session.ConnRejected
	// MemberJoined: a session joined a room (with ServerConfig.Presence).
	MemberJoined = session.MemberJoined
	// MemberLeft: a session left a room (with ServerConfig.Presence).
	MemberLeft = session.MemberLeft
)

// Lost lists what a session sent that the peer never acknowledged: the
// peer may or may not have processed it.
type Lost = session.Lost

// LostFrame is one message or request in a Lost report.
type LostFrame = session.LostFrame

// Hook requests: what ServerOptions' Authenticate and the ServerConfig hooks
// are handed.
type (
	// AuthRequest is a connection asking to start or resume a session.
	AuthRequest = session.AuthRequest
	// RoomRequest is a session asking to join a room.
	RoomRequest = session.RoomRequest
	// PublishRequest is a session publishing to a room.
	PublishRequest = session.PublishRequest
)

// ServerConfig is the server machine's settings (ServerOptions.Session):
// limits, hooks (AllowRoom, AllowPublish), membership events.
type ServerConfig = session.ServerConfig

// ClientConfig is the client machine's settings (ClientOptions.Session):
// limits, credentials, request timeout.
type ClientConfig = session.ClientConfig

// LinkConfig is the per-session settings both configs embed: window sizes,
// message size, heartbeat and resume timeouts.
type LinkConfig = session.LinkConfig
