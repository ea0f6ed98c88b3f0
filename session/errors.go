package session

import (
	"errors"
	"fmt"

	"github.com/bettersocket/bettersocket/proto"
)

// Errors returned by Step for the caller's own command, and carried by
// events. Test them with errors.Is.
var (
	// ErrBackpressure: the unacknowledged window (frames or bytes) is full.
	// Retry after acknowledgements arrive (the next Ready with progress).
	ErrBackpressure = errors.New("session: send window full")
	// ErrClosed: the machine or the session is closed.
	ErrClosed = errors.New("session: closed")
	// ErrTooLarge: the payload does not fit the peer's message size limit.
	ErrTooLarge = errors.New("session: payload too large")
	// ErrTooManyRequests: the pending request limit is reached.
	ErrTooManyRequests = errors.New("session: too many pending requests")
	// ErrDuplicateRequest: a pending request already has this ID.
	ErrDuplicateRequest = errors.New("session: duplicate request id")
	// ErrUnknownRequest: Reply names a request that is not waiting for a
	// response (never received, or already answered).
	ErrUnknownRequest = errors.New("session: unknown request")
	// ErrUnknownClient: the command names a client ID with no live session.
	ErrUnknownClient = errors.New("session: unknown client")
	// ErrLimit: a room limit (rooms per session, members per room) is reached.
	ErrLimit = errors.New("session: room limit reached")
	// ErrInvalid: the command's arguments are invalid (empty room name,
	// name too long, input not meant for this machine).
	ErrInvalid = errors.New("session: invalid command")
	// ErrRequestTimeout is the outcome of a request whose response did not
	// arrive within its timeout, counted from when it was first sent.
	ErrRequestTimeout = errors.New("session: request timed out")
	// ErrSessionLost is the outcome of a request whose session ended before
	// the response arrived, and the cause carried by lost-session reports.
	ErrSessionLost = errors.New("session: session lost")
	// ErrResumeRefused: the server did not resume the session (unknown ID,
	// wrong token or window expired); a new session was started.
	ErrResumeRefused = errors.New("session: resume refused")
	// ErrIdleTimeout: nothing was received from the peer for the idle timeout.
	ErrIdleTimeout = errors.New("session: idle timeout")
	// ErrHandshakeTimeout: the handshake did not complete in time.
	ErrHandshakeTimeout = errors.New("session: handshake timeout")
	// ErrProtocol: the peer violated the protocol.
	ErrProtocol = errors.New("session: protocol violation")
	// ErrEvicted: a detached session was dropped to stay within the memory
	// budget for detached sessions.
	ErrEvicted = errors.New("session: evicted")
	// ErrExpired: a detached session was not resumed within the window.
	ErrExpired = errors.New("session: resume window expired")
	// ErrClientKey: in secure.Mutual mode, a client proved another static
	// key than the one that created the session it tries to resume; the
	// connection is refused with CLOSE policy and the session is untouched.
	ErrClientKey = errors.New("session: resume by another client key")
	// ErrOverloaded: a slow consumer exceeded its unacknowledged-bytes limit
	// and the server closed its session.
	ErrOverloaded = errors.New("session: overloaded")
)

// CloseError is the CLOSE a peer sent (or this side sent) that ended a
// connection or session. Read it with errors.As.
type CloseError struct {
	Code   proto.CloseCode
	Reason string
	Remote bool // true: the peer sent it; false: this side did
}

func (e *CloseError) Error() string {
	who := "local"
	if e.Remote {
		who = "peer"
	}
	if e.Reason == "" {
		return fmt.Sprintf("session: closed by %s: %s", who, e.Code)
	}
	return fmt.Sprintf("session: closed by %s: %s: %s", who, e.Code, e.Reason)
}

// Is makes errors.Is(err, ErrProtocol) true for protocol-error closes,
// errors.Is(err, ErrOverloaded) for overloaded ones, and so on.
func (e *CloseError) Is(target error) bool {
	switch target {
	case ErrProtocol:
		return e.Code == proto.CloseProtocolError
	case ErrOverloaded:
		return e.Code == proto.CloseOverloaded
	case ErrIdleTimeout:
		return e.Code == proto.CloseIdleTimeout
	case ErrHandshakeTimeout:
		return e.Code == proto.CloseHandshakeTimeout
	}
	return false
}

// RemoteError is the outcome of a request answered with an error response.
type RemoteError struct {
	Code    proto.ErrorCode
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("session: remote error %s: %s", e.Code, e.Message)
}

func protocolErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
