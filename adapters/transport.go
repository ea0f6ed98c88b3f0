package adapters

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Conn is one message transport connection, what the driver needs from a
// transport package (gorilla, coder, netconn, or your own). The driver calls
// ReadMessage from one goroutine and WriteMessages from one other goroutine,
// possibly at the same time; Close may be called from any goroutine, more
// than once.
type Conn interface {
	// ReadMessage blocks until one whole message arrives and returns it;
	// the driver owns the slice. A message longer than the configured
	// maximum must be refused before it is read into memory, with an error
	// that wraps codec.ErrTooLarge. Any error ends the connection.
	ReadMessage() ([]byte, error)
	// WriteMessages writes msgs in order, each as one message, and flushes
	// them to the network.
	WriteMessages(msgs [][]byte) error
	// Close closes the connection, telling the peer code and reason where
	// the transport has a way to (the WebSocket close status), and unblocks
	// ReadMessage and WriteMessages. It may wait briefly for a close
	// handshake.
	Close(code proto.CloseCode, reason string) error
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

// conn is the driver's side of one transport connection: the reader
// goroutine feeding the loop, and a writer that drains a queue filled by the
// loop. The writer goroutine exists only while there is something to write,
// so an idle connection costs one goroutine (the reader).
type conn struct {
	d  *driver
	id session.ConnID
	t  Conn
	// q is the event queue of the session on this connection: the reader
	// pauses while that queue is over its limit, so slow handlers push back
	// on the peer instead of buffering without bound.
	q atomic.Pointer[eventQueue]

	mu      sync.Mutex
	out     [][]byte
	spare   [][]byte
	running bool // a writer goroutine is active
	hangup  bool // close after writing out
	closed  bool // Close was called (or is being called)
	failed  bool // a write failed: drop further messages
	code    proto.CloseCode
	reason  string
}

// read is the reader goroutine: one message at a time into the loop.
func (c *conn) read() {
	defer c.d.wg.Done()
	for {
		if q := c.q.Load(); q != nil && !q.waitSpace(c.d.done) {
			return
		}
		msg, err := c.t.ReadMessage()
		if err != nil {
			c.d.post(netEvent{kind: evClosed, c: c, err: err})
			return
		}
		if !c.d.post(netEvent{kind: evRecv, c: c, data: msg}) {
			return
		}
	}
}

// write queues messages for the writer; called by the loop only.
func (c *conn) write(msgs ...[]byte) {
	c.mu.Lock()
	if !c.failed && !c.hangup {
		c.out = append(c.out, msgs...)
		c.startLocked()
	}
	c.mu.Unlock()
}

// writeOutgoing queues the messages of one connection's run in a
// ServerReady; called by the loop only.
func (c *conn) writeOutgoing(run []session.Outgoing) {
	c.mu.Lock()
	if !c.failed && !c.hangup {
		for _, o := range run {
			c.out = append(c.out, o.Data)
		}
		c.startLocked()
	}
	c.mu.Unlock()
}

// close asks the writer to close the connection after what is queued.
func (c *conn) close(code proto.CloseCode, reason string) {
	c.mu.Lock()
	if !c.hangup {
		c.hangup, c.code, c.reason = true, code, reason
		c.startLocked()
	}
	c.mu.Unlock()
}

func (c *conn) startLocked() {
	if !c.running {
		c.running = true
		c.d.wg.Add(1)
		go c.flush()
	}
}

// flush is the writer goroutine: the single writer of this connection.
func (c *conn) flush() {
	defer c.d.wg.Done()
	c.mu.Lock()
	for {
		if len(c.out) > 0 && !c.failed {
			batch := c.out
			c.out, c.spare = c.spare[:0], nil
			c.mu.Unlock()
			err := c.t.WriteMessages(batch)
			clear(batch)
			c.mu.Lock()
			c.spare = batch[:0]
			if err != nil {
				c.failed = true
				c.d.log.Debug("write failed", "conn", c.id, "err", err)
				if !c.hangup {
					c.hangup, c.code = true, proto.CloseGoingAway
				}
			}
			continue
		}
		c.out = c.out[:0]
		if c.hangup && !c.closed {
			c.closed = true
			code, reason := c.code, c.reason
			c.mu.Unlock()
			c.t.Close(code, reason)
			c.mu.Lock()
			continue
		}
		c.running = false
		c.mu.Unlock()
		return
	}
}

// kill closes the transport at once, from any goroutine, without waiting
// for the writer.
func (c *conn) kill() {
	c.mu.Lock()
	c.hangup, c.failed = true, true
	c.closed = true
	c.mu.Unlock()
	c.t.Close(proto.CloseGoingAway, "shutting down")
}

// closeCode finds the CLOSE frame the machine queued last on a connection it
// hangs up, so that WebSocket transports can send the same code as the
// close status. It decodes only messages that precede a hangup.
func closeCode(dec *codec.Decoder, last []byte) (proto.CloseCode, string) {
	code, reason := proto.CloseGoingAway, ""
	if last == nil || dec.Reset(last) != nil {
		return code, reason
	}
	for {
		f, err := dec.Next()
		if err != nil {
			return code, reason
		}
		if cl, ok := f.(*proto.Close); ok {
			code, reason = cl.Code, cl.Reason
		}
	}
}

// tooLarge is the CLOSE frame the driver sends when a transport refused a
// message over the size limit before the machine could see it.
var tooLarge = func() []byte {
	b, err := codec.Encode(&proto.Close{Code: proto.CloseTooLarge, Reason: tooLargeReason})
	if err != nil {
		panic("adapters: bug: " + err.Error())
	}
	return b
}()

const tooLargeReason = "message too large"
