package adapters

import (
	"context"
	"time"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Conn is one message transport connection, what the driver needs from a
// transport package (gorilla, coder, netconn, or your own). The driver calls
// ReadMessage from one goroutine at a time and WriteMessages from one
// goroutine at a time, the two possibly at once; Close may be called from
// any goroutine, more than once.
type Conn interface {
	// ReadMessage blocks until one whole message arrives and returns it.
	// The slice need only stay valid until the next ReadMessage: the
	// driver is done with a message before it reads the next, so a
	// transport may reuse its memory. A message longer than the configured
	// maximum must be refused before it is read into memory, with an error
	// that wraps codec.ErrTooLarge. Any error ends the connection.
	ReadMessage() ([]byte, error)
	// WriteMessages writes msgs in order, each as one message, and flushes
	// them to the network. The slices are the driver's again once it
	// returns, to be reused for the next write: a transport that keeps
	// their bytes past the call must copy them.
	WriteMessages(msgs [][]byte) error
	// Close closes the connection, telling the peer code and reason where
	// the transport has a way to (the WebSocket close status), and unblocks
	// ReadMessage and WriteMessages. It may wait for a close handshake;
	// such a transport should also have a CloseNow() error method, which
	// the driver calls instead when it must close at once.
	Close(code proto.CloseCode, reason string) error
}

// closerNow is implemented by transports whose Close may wait for a close
// handshake: CloseNow closes at once, and is what the driver uses when it
// must not wait (a Close whose context ended).
type closerNow interface{ CloseNow() error }

// ReadInterrupter is implemented by transport connections whose reads can
// be interrupted and resumed: after SetReadDeadline with a time in the past
// (called from any goroutine), a ReadMessage that is blocked, or the next
// one, returns an error wrapping os.ErrDeadlineExceeded without having
// consumed any part of a message, and the connection stays usable: once the
// deadline is cleared (the zero time), ReadMessage returns the next message
// as if nothing had happened.
//
// A client whose connection implements it lets the goroutine that waits
// for a response read it itself, instead of a reader goroutine that would
// have to hand it over (see Client.Request); the deadline is how the driver
// takes the read back from a caller whose ctx ends.
type ReadInterrupter interface {
	SetReadDeadline(t time.Time) error
}

// DialFunc opens a new transport connection to the server. The client calls
// it for its first connection and for every reconnect.
type DialFunc func(ctx context.Context) (Conn, error)

// Listener accepts transport connections for [Server.Serve].
type Listener interface {
	// Accept waits for the next connection. An error that has a
	// Temporary() or Timeout() method returning true is retried after a
	// short pause; any other error ends Serve.
	Accept() (Conn, error)
	// Close stops the listener and unblocks Accept.
	Close() error
}

// MaxMessageSize returns the message size limit a transport must enforce for
// a machine with this configuration: cfg.MaxMessageSize, or the machine's
// default when it is zero.
func MaxMessageSize(cfg session.LinkConfig) int {
	if cfg.MaxMessageSize <= 0 {
		return session.DefaultMaxMessageSize
	}
	return max(cfg.MaxMessageSize, 256) // the machines' floor
}

// CloseReason makes reason fit the 123 bytes a WebSocket close frame can
// carry, without splitting a UTF-8 sequence. WebSocket transports use it.
func CloseReason(reason string) string { return truncate(reason, 123) }
