package proto

import "strconv"

// CloseCode says why a connection or session ended and what the peer should
// do next. Values are frozen: they are part of wire protocol version 1.
type CloseCode uint16

// Close codes. [CloseCode.Resumable] tells which end only the connection
// (the client reconnects and resumes) and which end the session.
const (
	// CloseNormal: the session is over, by the application's wish.
	CloseNormal CloseCode = 1000
	// CloseGoingAway: the server is shutting down or moving the connection;
	// reconnect later and resume.
	CloseGoingAway CloseCode = 1001
	// CloseProtocolError: the peer sent something the protocol forbids.
	CloseProtocolError CloseCode = 1002
	// CloseTooLarge: a transport message exceeded the receiver's limit.
	CloseTooLarge CloseCode = 1009
	// ClosePolicy: the application refused (authorization hook, kicked) or a
	// configured limit other than size was exceeded by the peer.
	ClosePolicy CloseCode = 1008
	// CloseSessionExpired: the session to resume is unknown or its resume
	// window has passed.
	CloseSessionExpired CloseCode = 4000
	// CloseOverloaded: the receiver is out of a resource (sessions, buffer
	// for a slow consumer) and dropped the session.
	CloseOverloaded CloseCode = 4001
	// CloseHandshakeTimeout: the connection did not complete its handshake
	// in time.
	CloseHandshakeTimeout CloseCode = 4002
	// CloseIdleTimeout: nothing was received for the idle timeout.
	CloseIdleTimeout CloseCode = 4003
	// CloseUnsupportedVersion: the peer speaks another protocol version.
	CloseUnsupportedVersion CloseCode = 4004
	// CloseSuperseded: the session resumed on another connection.
	CloseSuperseded CloseCode = 4005
	// CloseSecurity: the encryption layer refused the connection: the
	// peers' encryption settings differ (one requires encryption the other
	// does not offer, or another mode), a key is wrong or unknown, or a
	// sealed message failed authentication or was replayed. Before the
	// handshake completes this CLOSE travels in plaintext and is
	// unauthenticated.
	CloseSecurity CloseCode = 4006
)

var closeNames = map[CloseCode]string{
	CloseNormal:             "normal",
	CloseGoingAway:          "going-away",
	CloseProtocolError:      "protocol-error",
	CloseTooLarge:           "too-large",
	ClosePolicy:             "policy",
	CloseSessionExpired:     "session-expired",
	CloseOverloaded:         "overloaded",
	CloseHandshakeTimeout:   "handshake-timeout",
	CloseIdleTimeout:        "idle-timeout",
	CloseUnsupportedVersion: "unsupported-version",
	CloseSuperseded:         "superseded",
	CloseSecurity:           "security",
}

// String returns the code's short name, for example "going-away".
func (c CloseCode) String() string {
	if s, ok := closeNames[c]; ok {
		return s
	}
	return "close(" + strconv.Itoa(int(c)) + ")"
}

// Resumable reports whether a client receiving this code should reconnect
// (with backoff) and try to resume its session: the connection ended, but
// the server may still hold the session. That is the case for going-away,
// idle and handshake timeouts, and overloaded (a server at its session or
// connection limit; if it dropped the session itself, the resume is refused
// and the client reports the session lost). Every other code ends the
// session.
func (c CloseCode) Resumable() bool {
	switch c {
	case CloseGoingAway, CloseIdleTimeout, CloseHandshakeTimeout, CloseOverloaded:
		return true
	}
	return false
}

// ErrorCode classifies an error [Response]. Values are frozen: they are part
// of wire protocol version 1. Applications may use codes from
// [ErrCodeApplication] upward for their own meanings.
type ErrorCode uint32

// Error codes.
const (
	// ErrCodeInternal: the responder failed.
	ErrCodeInternal ErrorCode = 1
	// ErrCodeForbidden: the responder refused (for example a JOIN the server
	// application did not allow).
	ErrCodeForbidden ErrorCode = 2
	// ErrCodeNotFound: what the request names does not exist.
	ErrCodeNotFound ErrorCode = 3
	// ErrCodeBadRequest: the request payload could not be understood.
	ErrCodeBadRequest ErrorCode = 4
	// ErrCodeUnavailable: the responder has no handler for requests, or is
	// overloaded.
	ErrCodeUnavailable ErrorCode = 5
	// ErrCodeLimit: the request would exceed a limit (rooms per session,
	// members per room).
	ErrCodeLimit ErrorCode = 6
	// ErrCodeApplication is the first code free for applications.
	ErrCodeApplication ErrorCode = 1000
)

var errorNames = map[ErrorCode]string{
	ErrCodeInternal:    "internal",
	ErrCodeForbidden:   "forbidden",
	ErrCodeNotFound:    "not-found",
	ErrCodeBadRequest:  "bad-request",
	ErrCodeUnavailable: "unavailable",
	ErrCodeLimit:       "limit",
}

// String returns the code's short name, for example "forbidden".
func (c ErrorCode) String() string {
	if s, ok := errorNames[c]; ok {
		return s
	}
	if c >= ErrCodeApplication {
		return "app(" + strconv.FormatUint(uint64(c), 10) + ")"
	}
	return "error(" + strconv.FormatUint(uint64(c), 10) + ")"
}
