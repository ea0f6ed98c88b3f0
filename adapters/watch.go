package adapters

import "sync/atomic"

// A Request whose caller writes its request or reads its response itself
// watches its ctx (context.AfterFunc), so that the ctx's end stops the
// caller: the connection it is writing to is killed if the write is still
// not done writeGrace later (a write blocks only while the peer does not
// read; one that was merely under way when ctx ended finishes, and the
// connection lives), and its read of the connection is interrupted (see
// readOwn).
//
// Registering with a ctx and unregistering cost as much as a tenth of the
// rest of a round trip's CPU (the parent's lock and its map of children),
// and most applications pass the same ctx to every call, or ctxs that share
// one Done channel. So a watch whose request has ended stays registered, as
// the driver's spare (one at a time, the latest), for the next request
// whose ctx has the same Done channel. The driver's end unregisters it.

// watch is the registration of one ctx; the request it serves is set under
// the driver's lock, and fire reads it under that lock.
type watch struct {
	d     *driver
	done  <-chan struct{} // its ctx's Done channel: what requests share it by
	stop  func() bool     // unregisters fire
	fired atomic.Bool     // set under d.mu: the ctx has ended, the watch is spent

	// The request it serves; d.mu. Between requests they are nil.
	o       *op
	r       *conn // the connection its caller reads, the seq-th to take it
	seq     uint64
	w       *conn       // the connection it writes
	writing atomic.Bool // its caller is writing to w
}

// watchFor returns the watch for a request (its op o, the connection rc its
// caller reads and w it writes) whose ctx has the Done channel done: the
// spare when its ctx shares that channel, or a new one, which the caller
// registers (fresh) once it has unlocked. Lock held.
func (d *driver) watchFor(done <-chan struct{}, o *op, rc, w *conn) (x *watch, fresh bool) {
	if p := d.spare; p != nil {
		switch {
		case p.fired.Load():
			d.spare = nil // spent: its ctx ended
		case p.done == done:
			x, d.spare = p, nil
		}
	}
	if x == nil {
		x, fresh = &watch{d: d, done: done}, true
	}
	x.o, x.r, x.w, x.seq = o, rc, w, 0
	if rc != nil {
		x.seq = rc.rseq
	}
	x.writing.Store(w != nil)
	return x, fresh
}

// keepWatch ends x's service of its request and keeps it as the spare,
// unregistering the spare it replaces, or x itself once the driver has
// ended; a spent watch is dropped (its timer may still look at
// x.writing).
func (d *driver) keepWatch(x *watch) {
	d.mu.Lock()
	x.o, x.r, x.w, x.seq = nil, nil, nil, 0 // nothing of the request stays reachable
	var old *watch
	switch {
	case x.fired.Load():
	case d.ended:
		old = x
	default:
		old, d.spare = d.spare, x
	}
	d.mu.Unlock()
	if old != nil {
		old.stop()
	}
}

// dropSpareWatch unregisters the spare for good; the driver is ending,
// lock held.
func (d *driver) dropSpareWatch() {
	if p := d.spare; p != nil {
		d.spare = nil
		p.stop()
	}
}

// fire runs when the ctx ends: it interrupts the read of the request the
// watch serves, and kills the connection it writes to if the write is still
// under way writeGrace later.
func (x *watch) fire() {
	d := x.d
	d.mu.Lock()
	defer d.mu.Unlock()
	x.fired.Store(true)
	if c := x.r; c != nil && c.rseq == x.seq && c.rop == x.o {
		d.interrupt(c)
	}
	// The kill is armed under the lock, with fired set: whoever sees the
	// watch fired sees its kill armed.
	if w := x.w; w != nil && x.writing.Load() {
		d.clock.AfterFunc(d.writeGrace, func() {
			if x.writing.Load() {
				w.kill()
			}
		})
	}
}
