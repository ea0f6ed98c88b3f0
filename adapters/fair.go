package adapters

import "runtime"

// DefaultMaxFramesPerStep is the session.ServerConfig.MaxFramesPerStep a
// Server uses unless its options say otherwise: one step of the machine,
// under the lock every session shares, processes at most this many frames
// of a transport message (some 0.1-0.3 ms of work), so one connection that
// packs a message with hundreds of thousands of frames cannot stall the
// others.
const DefaultMaxFramesPerStep = 256

// unreader is an engine whose machine may leave part of a message for a
// later step (the server's, see session.Server.Unread).
type unreader interface{ unread() int }

func (e *serverEngine) unread() int { return e.m.Unread() }

// leftUnread notes the part of msg the engine left for a later step on c;
// lock held.
func (d *driver) leftUnread(c *conn, msg []byte) {
	if u, ok := d.eng.(unreader); ok {
		if n := u.unread(); n > 0 {
			c.rest = msg[len(msg)-n:]
		}
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
		d.unlock()
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
		d.leftUnread(c, rest)
		d.progress = true
		d.settle(false)
	}
}
