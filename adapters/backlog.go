package adapters

import (
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// A connection's outgoing memory is bounded three ways, because a peer that
// sends and never reads would otherwise grow it without limit: every
// message it sends is answered (a heartbeat answer, an ACK), and the
// answers pile up behind a write that never completes.
//
//   - Replies that supersede each other are coalesced: a message that is a
//     lone ACK or HEARTBEAT, queued behind a busy writer, replaces a lone
//     ACK or HEARTBEAT still waiting at the end of the queue (acks are
//     cumulative; a heartbeat answer keeps the newest echo). At most one
//     such reply waits per stretch of other messages, and those are bounded
//     by the machine's send window.
//   - The bytes queued are bounded (MaxQueuedBytes); past the limit the
//     connection is killed.
//   - A write that makes no progress for WriteTimeout kills the connection.
//
// A killed connection ends like any lost transport: the session detaches,
// everything unacknowledged stays in the machine and is resent when the
// client resumes, so nothing is lost.

// DefaultWriteTimeout is the default ServerOptions.WriteTimeout.
const DefaultWriteTimeout = 10 * time.Second

// maxControl is the largest encoding of a lone ACK or HEARTBEAT frame.
const maxControl = 1 + 1 + 2*9

// defaultMaxQueued is the outgoing byte limit of a connection of a machine
// with this configuration: twice what its send window and one message of
// the peer's size can hold, so that it is reached only by a peer that has
// stopped reading.
func defaultMaxQueued(cfg session.LinkConfig, unackedDefault int) int {
	unacked := cfg.MaxUnackedBytes
	if unacked <= 0 {
		unacked = unackedDefault
	}
	return 2 * (unacked + MaxMessageSize(cfg))
}

// control decodes a message that is one ACK or HEARTBEAT frame; driver
// lock held (it uses the driver's decoder).
func (d *driver) control(m []byte) (hb proto.Heartbeat, isHB, ok bool) {
	if len(m) > maxControl || d.dec.Reset(m) != nil {
		return hb, false, false
	}
	f, err := d.dec.Next()
	if err != nil || d.dec.More() {
		return hb, false, false
	}
	switch f := f.(type) {
	case *proto.Ack:
		return proto.Heartbeat{Ack: f.Ack}, false, true
	case *proto.Heartbeat:
		return *f, true, true
	}
	return hb, false, false
}

// supersede returns the one message that says what the control messages
// prev and next (queued in that order on one connection) say, or false
// when either is something else; driver lock held.
func (d *driver) supersede(prev, next []byte) ([]byte, bool) {
	p, pHB, ok := d.control(prev)
	if !ok {
		return nil, false
	}
	n, nHB, ok := d.control(next)
	if !ok {
		return nil, false
	}
	if nHB || !pHB {
		return next, true // next acknowledges at least as much
	}
	// An ACK after a heartbeat answer: the answer, with the newer ack.
	b, err := codec.Encode(&proto.Heartbeat{Ack: n.Ack, Echo: p.Echo})
	if err != nil {
		return nil, false
	}
	return b, true
}

// stallWatch notes that c's writer is busy while more is queued, so that
// the timer kills c if its write makes no progress for writeTimeout; driver
// lock and c.mu held.
func (c *conn) stallWatch() {
	if c.watched || c.d.writeTimeout <= 0 {
		return
	}
	c.watched, c.stallSeq, c.stallAt = true, c.wseq, c.d.now
	d := c.d
	d.stalled = append(d.stalled, c)
	d.stallDue = earliest(d.stallDue, c.stallAt.Add(d.writeTimeout))
}

// killStalled kills the watched connections whose writer has not started a
// new write for writeTimeout while messages wait, and forgets those whose
// queue has drained; timer goroutine, driver lock held.
func (d *driver) killStalled(now time.Time) {
	var next time.Time
	live := d.stalled[:0]
	for _, c := range d.stalled {
		c.mu.Lock()
		behind := !c.closed && c.writing && (len(c.out) > 0 || c.inWrite)
		switch {
		case !behind:
			c.watched = false
		case c.wseq != c.stallSeq:
			c.stallSeq, c.stallAt = c.wseq, now // progress: watch the new write
			fallthrough
		case now.Before(c.stallAt.Add(d.writeTimeout)):
			live = append(live, c)
			next = earliest(next, c.stallAt.Add(d.writeTimeout))
		default:
			c.watched = false
			d.log.Warn("write made no progress; connection killed", "conn", c.id, "timeout", d.writeTimeout)
			d.killLater(c)
		}
		c.mu.Unlock()
	}
	clear(d.stalled[len(live):])
	d.stalled = live
	d.stallDue = next
}

// killLater kills c on a goroutine of its own (closing a transport may
// block); driver lock held.
func (d *driver) killLater(c *conn) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		c.kill()
	}()
}
