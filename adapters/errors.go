package adapters

import (
	"errors"
	"fmt"

	"github.com/bettersocket/bettersocket/session"
)

// ErrServerClosed is returned by [Server.Serve] and [Server.Attach] after
// [Server.Close] has begun.
var ErrServerClosed = errors.New("adapters: server closed")

// LostError is returned by [Client.Close] when the session ended with
// messages or requests the server never acknowledged (the close timed out,
// the context expired, or the server ended the session). It lists them, so
// that nothing is lost silently. errors.Is(err, session.ErrSessionLost) holds,
// and so does errors.Is / errors.As for Cause.
type LostError struct {
	Cause error // why the session ended; nil for a local close that timed out
	Lost  session.Lost
}

// Error says why the session ended and what it lost.
func (e *LostError) Error() string {
	if e.Cause == nil {
		return fmt.Sprintf("adapters: session closed with unacknowledged messages: %s", e.Lost)
	}
	return fmt.Sprintf("adapters: session ended (%v) with unacknowledged messages: %s", e.Cause, e.Lost)
}

// Unwrap returns session.ErrSessionLost and the cause.
func (e *LostError) Unwrap() []error {
	if e.Cause == nil {
		return []error{session.ErrSessionLost}
	}
	return []error{session.ErrSessionLost, e.Cause}
}
