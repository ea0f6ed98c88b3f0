package adapters

import (
	"runtime"
	"time"
)

// DefaultMaxFramesPerStep is the session.ServerConfig.MaxFramesPerStep a
// Server uses unless its options say otherwise: one step of the machine,
// under the lock every session shares, processes at most this many frames
// of a transport message (some 0.1-0.3 ms of work), so one connection that
// packs a message with hundreds of thousands of frames cannot stall the
// others.
const DefaultMaxFramesPerStep = 256

// DefaultMaxIdleRate is the default ServerOptions.MaxIdleRate: transport
// messages (or slices of one) per second a connection may send that
// deliver nothing to the application (acknowledgements, heartbeats,
// duplicates), in a burst of as many. An honest client sends a heartbeat
// per interval and at most one ACK per batch it receives (about one per
// AckDelay); a peer that floods them has its reading paused instead of
// taking the cores from everyone.
const DefaultMaxIdleRate = 2000

// stepped notes what the server's machine left of msg, just stepped on c,
// for a later step, and counts it against c's idle budget when it
// delivered nothing (see idleWait, session.Server.Unread and Idle); lock
// held.
func (d *driver) stepped(c *conn, msg []byte) {
	m := d.server
	if m == nil {
		return
	}
	if n, more := m.Unread(); more {
		c.rest = msg[len(msg)-n:]
		if c.rest == nil {
			c.rest = []byte{} // the machine keeps the rest itself: step an empty Recv
		}
	}
	if d.idleEvery > 0 && m.Idle() {
		d.spendIdle(c)
	}
}

// spendIdle counts a message that delivered nothing against c's idle
// budget; lock held.
func (d *driver) spendIdle(c *conn) {
	if c.idleTat.Before(d.now) {
		c.idleTat = d.now
	}
	c.idleTat = c.idleTat.Add(d.idleEvery)
}

// idleWait is how long c's reader pauses before it reads again, because c
// has sent more messages that delivered nothing than its budget allows
// (the generic cell rate algorithm, a burst of DefaultMaxIdleRate); lock
// held.
func (d *driver) idleWait(c *conn) time.Duration {
	if d.idleEvery <= 0 || !c.idleTat.After(d.now) {
		return 0 // (and the subtraction below cannot overflow)
	}
	return max(0, c.idleTat.Sub(d.now)-time.Duration(d.idleBurst)*d.idleEvery)
}

// pause waits d, or until the driver ends or kills its connections.
func (d *driver) pause(wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.done:
	case <-d.kill:
	}
}

// stepRest steps what the machine left unread of the message c's reader
// read, one slice at a time, letting others take the lock in between and
// waiting, as a reader does between messages, while c's session queue is
// over its limit; called by that reader, lock held (released and retaken
// in between). The message's memory stays valid: its reader reads nothing
// else until this returns.
func (d *driver) stepRest(c *conn) {
	for c.rest != nil {
		wait := d.idleWait(c)
		d.unlock()
		if wait > 0 {
			d.pause(wait)
		}
		runtime.Gosched()
		ok := true
		if q := c.q.Load(); q != nil {
			ok = q.waitSpace(d.done, d.kill)
		}
		now := d.lock()
		rest := c.rest
		c.rest = nil
		if !ok || d.ended || d.conns[c.id] != c {
			return
		}
		d.stepReceived(now) // what others read meanwhile was read before the rest
		d.eng.recv(now, c.id, rest)
		d.stepped(c, rest)
		d.progress = true
		d.settle(0)
	}
}

// readOrForget starts a reader for a server connection the machine accepted.
// One it refused at once (a per-source or global limit) needs none: the
// machine has forgotten it, and its writer writes the CLOSE and closes it,
// so a flood of refused connections costs no reader goroutine and no
// Disconnected step each; lock held.
func (d *driver) readOrForget(c *conn) {
	c.mu.Lock()
	hungUp := c.hangup
	c.mu.Unlock()
	if !hungUp {
		d.startReader(c)
		return
	}
	delete(d.conns, c.id)
	if d.draining && len(d.conns) == 0 {
		d.settle(0) // it may have been what draining waited for
	}
}
