package adapters

import (
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/bettersocket/bettersocket/session"
)

// Who reads a connection, and on which goroutine the handlers run, decides
// how many goroutine hand-offs a round trip costs; on an otherwise idle
// machine each one costs more than the rest of the library (readying a
// goroutine wakes an idle thread, and the work then bounces between
// threads). So the driver avoids them on the two paths that matter:
//
//   - a reader runs its session's handlers itself (inline) when the
//     session's queue was idle, instead of handing them to a worker; a
//     request handler's reply is then written by the goroutine that read the
//     request. A handler that takes longer than inlineGrace, or that waits
//     on the driver (a Send under backpressure, a Request) with the
//     context it was given, hands the reading over to a new reader
//     goroutine, so a slow handler never stops a connection from being read
//     for long and a handler waiting for something only the peer can send
//     never deadlocks;
//   - on the client, over a transport whose reads can be interrupted
//     (ReadInterrupter), the caller of Request writes its request and reads
//     until its own response arrives, instead of parking while a reader
//     goroutine reads for it. The read role passes between callers and a
//     reader goroutine: a caller takes it only when nobody holds it, gives
//     it back when its outcome is decided, and is interrupted (through the
//     read deadline, which leaves the connection intact) when its outcome is
//     decided elsewhere (a timeout, the session's end) or its ctx ends. A
//     reader goroutine steps aside once it has handed a response to a
//     waiting caller and nothing else waits, so that the next request is
//     read by its caller. While nobody holds the role, a reader goroutine is
//     started after readerGrace, or at once when a caller needs one.
//
// Reader goroutines are numbered (conn.rgen): only the newest one reads, and
// one that was replaced while it ran handlers ends when they are done.

// inlineGrace is how long a reader may run handlers before a new reader
// takes over the connection.
const inlineGrace = time.Millisecond

// readerGrace is how long a client connection may go unread between callers
// before a reader goroutine is started.
const readerGrace = time.Millisecond

// readRole says who reads a connection; driver lock.
type readRole uint8

const (
	readNone   readRole = iota // nobody: a reader is due at idleAt+readerGrace
	readGo                     // the reader goroutine numbered rgen
	readCaller                 // the caller waiting for rop's outcome
)

// inlineCtx is the handlers' context while a reader runs them inline: the
// driver's context, and the reader, so that a handler that waits on the
// driver hands the reading over first (see handoff).
type inlineCtx struct {
	context.Context
	c   *conn
	gen uint64
	// What the reader read, passed to handle in x rather than as
	// arguments, whose spill space would deepen the parked reader's frame.
	msg []byte
	err error
}

type inlineKey struct{}

func (x *inlineCtx) Value(key any) any {
	if key == (inlineKey{}) {
		return x
	}
	return x.Context.Value(key)
}

// startReader starts a new reader goroutine for c, which replaces any
// other; lock held.
func (d *driver) startReader(c *conn) {
	c.role = readGo
	c.rgen++
	c.inlineAt = time.Time{}
	d.wg.Add(1)
	go c.read(c.rgen)
}

// read is a reader goroutine: it steps each message as it arrives, runs its
// session's handlers when their queue was idle, and ends when the
// connection does, when a newer reader replaced it, or when it steps aside
// for callers.
//
// An idle connection's reader waits in ReadMessage, so read's own frame is
// kept small, with the work around the read in functions of their own (see
// the gorilla transport's ReadMessage for why a parked reader's stack depth
// matters).
func (c *conn) read(gen uint64) {
	defer c.d.wg.Done()
	x := &inlineCtx{Context: c.d.ctx, c: c, gen: gen}
	for c.mayRead() {
		x.msg, x.err = c.t.ReadMessage()
		if !c.handle(x) {
			return
		}
	}
}

// mayRead waits while c's session queue is over its limit, and reports
// false, with c closed, when the driver ends first.
//
//go:noinline
func (c *conn) mayRead() bool {
	d := c.d
	if q := c.q.Load(); q != nil && !q.waitSpace(d.done, d.kill) {
		d.closed(c, session.ErrClosed)
		return false
	}
	return true
}

// handle steps what c's reader x read, runs the handlers inline when it
// may, and reports whether x reads on.
//
//go:noinline
func (c *conn) handle(x *inlineCtx) bool {
	d := c.d
	msg, err := x.msg, x.err
	x.msg, x.err = nil, nil
	if err != nil {
		d.closed(c, err)
		return false
	}
	q, keep, yield := d.recv(c, msg, x.gen, nil)
	if q != nil {
		q.run(x)
		d.hwg.Done()
		keep = d.inlineDone(c, x.gen)
	}
	if keep && yield {
		runtime.Gosched()
	}
	return keep
}

// takeInline takes the start of c's session queue out of what the holder
// hands over, for c's reader to run the queue itself, and arms the timer
// when the new reader it makes due is the first; lock held.
func (d *driver) takeInline(c *conn) *eventQueue {
	q := c.q.Load()
	if q == nil {
		return nil
	}
	i := slices.IndexFunc(d.sig, func(s signal) bool { return s.q == q })
	if i < 0 {
		return nil
	}
	d.sig = slices.Delete(d.sig, i, i+1)
	c.inlineAt = d.now
	if !c.inInline {
		c.inInline = true
		d.inline = append(d.inline, c)
	}
	d.dueBy(&d.inlineDue, d.now.Add(d.inlineGrace))
	return q
}

// inlineDone ends a reader's inline run and reports whether the reader is
// still the connection's.
func (d *driver) inlineDone(c *conn, gen uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.rgen != gen || c.role != readGo {
		return false
	}
	c.inlineAt = time.Time{}
	return true
}

// handoff hands the reading of ctx's connection to a new reader when ctx
// is the context of an inline run that is still the connection's reader
// (its handler is about to wait on the driver), or when nobody reads the
// client's connection. Called before a caller blocks for o, whose outcome
// may have been decided since it last looked: then nobody needs a reader
// (a reader started for nothing would keep the role that the next
// caller would have read its own response with).
func (d *driver) handoff(ctx context.Context, o *op) {
	x, _ := ctx.Value(inlineKey{}).(*inlineCtx)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended || o.state == opDone {
		return
	}
	if x != nil {
		c := x.c
		if d.conns[c.id] == c && c.role == readGo && c.rgen == x.gen && !c.inlineAt.IsZero() {
			d.startReader(c)
		}
	}
	if c := d.eng.readable(); c != nil && c.role == readNone {
		d.startReader(c)
	}
}

// reviewReaders starts readers for connections whose reader has run
// handlers too long and for client connections nobody has read for
// readerGrace; timer goroutine, lock held.
func (d *driver) reviewReaders(now time.Time) {
	d.inline, d.inlineDue = d.startDue(now, d.inline, "handlers are slow; a new reader takes over",
		func(c *conn) *bool { return &c.inInline },
		func(c *conn) time.Time {
			if c.inlineAt.IsZero() || c.role != readGo {
				return time.Time{}
			}
			return c.inlineAt.Add(d.inlineGrace)
		})
	d.unread, d.unreadDue = d.startDue(now, d.unread, "",
		func(c *conn) *bool { return &c.inUnread },
		func(c *conn) time.Time {
			if c.role != readNone {
				return time.Time{}
			}
			return c.idleAt.Add(d.readerGrace)
		})
}

// startDue starts a reader for each live connection of list that is due by
// now (due returns zero for one that no longer waits), and returns the
// ones still waiting and when the first of them is due; in is the flag
// that says a connection is in list. Lock held.
func (d *driver) startDue(now time.Time, list []*conn, why string, in func(*conn) *bool, due func(*conn) time.Time) ([]*conn, time.Time) {
	var next time.Time
	live := list[:0]
	for _, c := range list {
		at := due(c)
		switch {
		case at.IsZero() || d.conns[c.id] != c:
			*in(c) = false
		case !now.Before(at):
			if why != "" {
				d.log.Debug(why, "conn", c.id)
			}
			d.startReader(c)
			*in(c) = false
		default:
			live = append(live, c)
			next = earliest(next, at)
		}
	}
	clear(list[len(live):])
	return live, next
}

// takeRead gives the read role of c to the caller waiting for o, when c can
// be read by a caller and nobody reads it; lock held.
func (d *driver) takeRead(c *conn, o *op) bool {
	if c == nil || c.ri == nil || c.role != readNone || d.conns[c.id] != c {
		return false
	}
	c.role, c.rop = readCaller, o
	c.rseq++
	o.rconn = c
	return true
}

// release ends a caller's read of c; lock held. The read deadline is
// cleared if it was used, and the role goes to a new reader when others
// wait for what arrives (or when asked to), or is left free for the next
// caller, with a reader due after readerGrace.
func (d *driver) release(c *conn, o *op, reader bool) {
	o.rconn = nil
	if c.rop != o {
		return
	}
	c.rop = nil
	if c.rint {
		c.rint = false
		c.ri.SetReadDeadline(time.Time{})
	}
	switch {
	case d.ended || d.conns[c.id] != c:
		c.role = readNone
	case reader || len(d.calls) > 0 || d.nparked > 0:
		d.startReader(c)
	default:
		d.free(c)
	}
}

// free leaves c's read role free, with a reader due after readerGrace,
// and arms the timer when that reader is the first due; lock held.
func (d *driver) free(c *conn) {
	c.role, c.idleAt = readNone, d.now
	if !c.inUnread {
		c.inUnread = true
		d.unread = append(d.unread, c)
	}
	d.dueBy(&d.unreadDue, d.now.Add(d.readerGrace))
}

// dueBy makes *due the earlier of itself and at, and arms the timer when
// that moved it; lock held.
func (d *driver) dueBy(due *time.Time, at time.Time) {
	if due.IsZero() || at.Before(*due) {
		*due = at
		d.arm()
	}
}

// interrupt makes the caller reading c stop reading; lock held.
func (d *driver) interrupt(c *conn) {
	if c.rop != nil && !c.rint {
		c.rint = true
		c.ri.SetReadDeadline(aLongTimeAgo)
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// readOwn is a caller that holds the read role of c: it reads and steps
// what arrives until o's outcome is decided, then gives the role back. When
// its ctx ends (see watch), or o's outcome is decided by someone else, it is
// interrupted, gives the role back and returns as await does.
func (d *driver) readOwn(ctx context.Context, c *conn, o *op) result {
	for {
		if q := c.q.Load(); q != nil && q.backlog.Load() > q.limit {
			// The handlers are behind: a reader goroutine waits for them.
			d.lock()
			d.release(c, o, true)
			d.unlock()
			return d.await(ctx, o)
		}
		msg, err := c.t.ReadMessage()
		if err != nil {
			d.lock()
			interrupted := c.rint && c.rop == o && errors.Is(err, os.ErrDeadlineExceeded)
			if interrupted {
				d.release(c, o, false)
			} else {
				o.rconn, c.rop, c.role = nil, nil, readNone
			}
			d.unlock()
			if !interrupted {
				d.closed(c, err)
			}
			return d.await(ctx, o)
		}
		if _, keep, _ := d.recv(c, msg, 0, o); !keep {
			if o.own {
				return received(o, o.ownRes)
			}
			return received(o, <-o.res)
		}
	}
}
