package adapters

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// ackDelay is how long a standalone ACK may wait for a frame to carry it.
const ackDelay = time.Millisecond

// conn is the driver's side of one transport connection: the reader
// goroutine feeding the loop, and the writer goroutine draining a queue
// filled by the loop. Both live as long as the connection.
//
// The writer batches. Messages queued while it was busy are written as one
// transport message as far as the peer's size limit allows (a message is a
// CBOR sequence of frames, so concatenating messages concatenates their
// frames). A message that holds nothing but an ACK frame is held back for up
// to ackDelay: when any frame that carries an acknowledgement follows (a
// response, a message, a newer ACK), the held ACK is redundant and dropped,
// as TCP's delayed ACK does. A request and its response thus cost one
// transport message each way, not two.
type conn struct {
	d  *driver
	id session.ConnID
	t  Conn
	// q is the event queue of the session on this connection: the reader
	// pauses while that queue is over its limit, so slow handlers push back
	// on the peer instead of buffering without bound.
	q atomic.Pointer[eventQueue]
	// first is false until the loop has seen the first message, which
	// carries the peer's limits (HELLO or WELCOME). Loop only.
	first bool
	// held is a standalone ACK waiting to be carried by a later frame, held
	// since heldAt; inHeld says c is in the loop's list of such conns. Loop
	// only.
	held   []byte
	heldAt time.Time
	inHeld bool

	wake    chan struct{}
	mu      sync.Mutex
	out     [][]byte
	spare   [][]byte
	peerMax int  // the peer's message size limit; 0 until known
	running bool // a writer goroutine is active
	// notifyIdle asks the writer to post evWritten when it has written
	// everything (the client defers Ready while its writer is busy).
	notifyIdle bool
	hangup     bool // close after writing out
	closed     bool // Close was called (or is being called)
	failed     bool // a write failed: drop further messages
	code       proto.CloseCode
	reason     string
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

// learn records the peer's message size limit from the first message of the
// connection (the HELLO or WELCOME that opens it); called by the loop. The
// rule is the machines': the peer's announced limit, or this side's own
// when it announced none.
func (c *conn) learn(dec *codec.Decoder, msg []byte, own int) {
	c.first = true
	if dec.Reset(msg) != nil {
		return
	}
	f, err := dec.Next()
	if err != nil {
		return
	}
	var lim proto.Limits
	switch f := f.(type) {
	case *proto.Hello:
		lim = f.Limits
	case *proto.Welcome:
		lim = f.Limits
	default:
		return
	}
	max := own
	if lim.MaxMessageSize > 0 {
		max = int(lim.MaxMessageSize)
	}
	c.mu.Lock()
	c.peerMax = max
	c.mu.Unlock()
}

// write queues messages for the writer; called by the loop only.
func (c *conn) write(msgs ...[]byte) {
	c.mu.Lock()
	if !c.failed && !c.hangup {
		for _, m := range msgs {
			c.queueLocked(m)
		}
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
			c.queueLocked(o.Data)
		}
		c.startLocked()
	}
	c.mu.Unlock()
}

func (c *conn) queueLocked(m []byte) {
	if ackOnly(m) {
		if c.held == nil {
			c.heldAt = c.d.now
			if !c.inHeld {
				c.inHeld = true
				c.d.held = append(c.d.held, c)
			}
		}
		c.held = m // a newer ACK supersedes the held one, which keeps its deadline
		return
	}
	if c.held != nil {
		if !carriesAck(m) {
			c.out = append(c.out, c.held)
		}
		c.held = nil
	}
	c.out = append(c.out, m)
}

// releaseAck writes the held ACK; called by the loop when it is due.
func (c *conn) releaseAck() {
	c.mu.Lock()
	if !c.hangup && !c.failed {
		c.out = append(c.out, c.held)
		c.startLocked()
	}
	c.mu.Unlock()
	c.held = nil
}

// close asks the writer to close the connection after what is queued.
func (c *conn) close(code proto.CloseCode, reason string) {
	c.mu.Lock()
	if !c.hangup {
		if c.held != nil {
			c.out = append(c.out, c.held)
			c.held = nil
		}
		c.hangup, c.code, c.reason = true, code, reason
		c.startLocked()
	}
	c.mu.Unlock()
}

// startLocked makes the writer run when it has work. The loop defers the
// wake-up to the end of its cycle (see driver.wakeWriters); others wake it
// at once.
func (c *conn) startLocked() {
	if !c.running && (len(c.out) > 0 || c.hangup) {
		c.running = true
		c.d.wakeups = append(c.d.wakeups, c)
	}
}

func (c *conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop is the writer goroutine: the single writer of this connection.
func (c *conn) writeLoop() {
	defer c.d.wg.Done()
	for range c.wake {
		if c.flush() {
			return
		}
	}
}

// flush writes what is queued; true once the connection is closed.
func (c *conn) flush() bool {
	c.mu.Lock()
	for {
		if len(c.out) > 0 && !c.failed {
			batch := c.out
			c.out, c.spare = c.spare[:0], nil
			max := c.peerMax
			c.mu.Unlock()
			err := c.t.WriteMessages(coalesce(batch, max))
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
			return true
		}
		c.running = false
		if cap(c.spare) > idleCap || cap(c.out) > idleCap {
			c.out, c.spare = nil, nil // an idle connection keeps no burst's buffer
		}
		closed := c.closed
		notify := c.notifyIdle && !closed
		c.notifyIdle = false
		c.mu.Unlock()
		if notify {
			c.d.post(netEvent{kind: evWritten, c: c})
		}
		return closed
	}
}

// busy reports whether the writer is still writing, and if so asks it to
// tell the loop when it is done; called by the loop.
func (c *conn) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running && !c.closed {
		c.notifyIdle = true
		return true
	}
	return false
}

// kill closes the transport at once, from any goroutine, without waiting
// for the writer.
func (c *conn) kill() {
	c.mu.Lock()
	c.hangup, c.failed, c.closed = true, true, true
	c.mu.Unlock()
	c.wakeWriter() // it notices it is closed and ends
	if n, ok := c.t.(closerNow); ok {
		n.CloseNow()
		return
	}
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
