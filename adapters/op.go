package adapters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Application commands are stepped by their caller under the driver's lock
// and return the machine's error at once. Two kinds need an op, the record
// of a caller that waits:
//
//   - a command the send window (or the request limit) cannot take yet is
//     parked in a FIFO per session; whoever steps something that may open
//     the window (a Recv, a Timeout, a Disconnected) retries the parked
//     commands in order, each session's until one must wait again, and
//     hands their outcomes over. A command that finds others parked for its
//     session parks behind them: first come, first sent;
//   - a request waits for its response, which the reader that steps it
//     resolves.
//
// Every op has exactly one outcome, decided under the lock: it is stepped
// (and its result or response handed over on res), or its caller gives up
// while it is parked (and it is never stepped). So a Send that returns
// ctx.Err() was not sent, and one that returns nil was.
type op struct {
	state opState
	in    session.Input  // the command; nil for a Call, which is in req
	req   session.Call   // a Call, kept unboxed: boxing costs a request's hot path an allocation
	to    proto.ClientID // the session whose window it waits for
	call  bool           // a request: the driver assigns the ID, res gets the response
	async bool           // nobody waits for the outcome: a failure is logged
	id    uint64
	res   chan result // buffered: the one outcome
	// own says that the outcome is ownRes, decided while its caller was
	// the one stepping (readOwn), and not sent on res.
	own    bool
	ownRes result
	rconn  *conn // the connection its caller reads (reading.go)
}

type opState uint8

const (
	opNew     opState = iota
	opParked          // in d.parked
	opCalling         // in d.calls, waiting for its response
	opDone            // its outcome is decided
)

type result struct {
	payload []byte
	err     error
}

// ops recycles ops whose outcome their caller has received, or that no one
// else refers to any more. Others are left to the GC.
var ops = sync.Pool{New: func() any { return &op{res: make(chan result, 1)} }}

func newOp(in session.Input, to proto.ClientID) *op {
	o := ops.Get().(*op)
	o.in, o.to = in, to
	return o
}

// input is o's command.
func (o *op) input() session.Input {
	if o.in == nil {
		return o.req
	}
	return o.in
}

func recycle(o *op) {
	res := o.res
	*o = op{res: res}
	ops.Put(o)
}

// waitable reports whether a command that failed with err should wait for
// room instead.
func waitable(err error) bool {
	return err != nil && (errors.Is(err, session.ErrBackpressure) || errors.Is(err, session.ErrTooManyRequests))
}

// send steps a Send for an application caller and waits while the window
// is full. Its frames are written by a writer goroutine, so that a caller
// that sends many keeps stepping while the writer writes; on the client,
// while the writer is busy, even Ready is left to it.
func (d *driver) send(ctx context.Context, to proto.ClientID, in session.Send) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := d.lock()
	if d.ended {
		d.unlock()
		return session.ErrClosed
	}
	if len(d.parked[to]) == 0 {
		err := d.eng.send(now, in)
		if !waitable(err) {
			d.settle(frameSize(in.Payload, in.Name))
			d.unlockYield()
			return err
		}
	}
	o := newOp(in, to)
	d.park(o)
	d.unlock()
	return d.await(ctx, o).err
}

// do steps a command that never waits (Broadcast, Join, Kick ...).
func (d *driver) do(ctx context.Context, in session.Input) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := d.lock()
	if d.ended {
		d.unlock()
		return session.ErrClosed
	}
	err := d.eng.step(now, in)
	d.settle(0)
	d.unlockYield()
	return err
}

// frameSize estimates the bytes the frame of a message adds to a write:
// its payload and name, and a few for the frame's other fields.
func frameSize(payload []byte, name string) int { return len(payload) + len(name) + 16 }

// request steps a request (Call, JoinRoom, LeaveRoom) and waits for its
// outcome. The caller writes its request itself when the connection's
// writer is idle (one batch; what others queue meanwhile goes to a writer
// goroutine), and on a client whose transport allows it, reads until its
// response arrives (reading.go): a round trip then needs no goroutine
// hand-off. A write blocks only while the peer does not read; a caller
// whose ctx ends meanwhile kills the connection if the write is still stuck
// writeGrace later (the session resumes on a new one, nothing is lost)
// rather than wait (see watch).
func (d *driver) request(ctx context.Context, to proto.ClientID, in session.Input) result {
	if err := ctx.Err(); err != nil {
		return result{err: err}
	}
	return d.requestOp(ctx, newOp(in, to))
}

// call is request for a Call.
func (d *driver) call(ctx context.Context, to proto.ClientID, in session.Call) result {
	if err := ctx.Err(); err != nil {
		return result{err: err}
	}
	o := newOp(nil, to)
	o.req = in
	return d.requestOp(ctx, o)
}

func (d *driver) requestOp(ctx context.Context, o *op) result {
	d.lock()
	if d.ended {
		d.unlock()
		recycle(o)
		return result{err: session.ErrClosed}
	}
	o.call = true
	if len(d.parked[o.to]) == 0 {
		if ok, err := d.try(o); ok {
			if err != nil {
				d.settle(0) // a failed step may still have changed the machine (slow consumers)
				d.unlock()
				recycle(o)
				return result{err: err}
			}
			d.direct = true
			d.settle(0) // a request has a timeout: the deadline moves
			w := d.takeDirect()
			var rc *conn
			if d.callerReads && d.takeRead(d.eng.readable(), o) {
				rc = o.rconn
			}
			if w == nil && rc == nil {
				d.unlock()
				return d.await(ctx, o)
			}
			var x *watch
			fresh := false
			if done := ctx.Done(); done != nil {
				x, fresh = d.watchFor(done, o, rc, w)
			}
			d.unlock()
			if x != nil {
				if fresh {
					x.stop = context.AfterFunc(ctx, x.fire)
				}
				defer d.keepWatch(x)
			}
			if w != nil {
				w.flush(true)
				if x != nil {
					x.writing.Store(false)
				}
			}
			if rc != nil {
				return d.readOwn(ctx, rc, o)
			}
			return d.await(ctx, o)
		}
	}
	d.park(o)
	d.unlock()
	return d.await(ctx, o)
}

// reply steps a request handler's answer. Nobody waits for its outcome: a
// reply that must wait for the window is parked and stepped later, and one
// that cannot be sent (the session ended meanwhile) is logged. The handler
// writes the reply itself when it has nothing else to handle (last): a
// round trip then needs no writer goroutine. While the peer does not read,
// that delays only this session's later events, as a slow handler does,
// and no longer than the connection lasts (closeGrace).
func (d *driver) reply(rep session.Reply, last bool) {
	d.lock()
	if d.ended {
		d.unlock()
		d.log.Debug("reply not sent", "client", rep.To.String(), "request", rep.ID, "err", session.ErrClosed)
		return
	}
	if len(d.parked[rep.To]) == 0 {
		err := d.stepReply(rep)
		if !waitable(err) {
			if err != nil {
				d.log.Debug("reply not sent", "client", rep.To.String(), "request", rep.ID, "err", err)
			}
			d.direct = last
			d.settle(frameSize(rep.Payload, ""))
			c := d.takeDirect()
			d.unlock()
			if c != nil {
				c.flush(false)
			}
			return
		}
	}
	o := newOp(rep, rep.To)
	o.async = true
	d.park(o)
	d.unlock()
}

// stepReply steps a reply; one too large for the peer is replaced by an
// error response, so that the request still gets its one answer.
func (d *driver) stepReply(rep session.Reply) error {
	err := d.eng.reply(d.now, rep)
	if errors.Is(err, session.ErrTooLarge) {
		rep.Payload, rep.Err = nil, &proto.Error{Code: proto.ErrCodeInternal, Message: "response too large"}
		err = d.eng.reply(d.now, rep)
	}
	return err
}

// try steps o; lock held. It returns false, leaving o as it was, when o
// must wait for the window (or the request limit) to open; otherwise the
// step's error. A request that was sent waits in d.calls for its response.
func (d *driver) try(o *op) (bool, error) {
	if o.call && o.id == 0 {
		d.nextCall++
		o.id = d.nextCall
		switch in := o.in.(type) {
		case nil:
			o.req.ID = o.id
		case session.JoinRoom:
			in.ID = o.id
			o.in = in
		case session.LeaveRoom:
			in.ID = o.id
			o.in = in
		case session.Publish:
			in.ID = o.id
			o.in = in
		}
	}
	var err error
	if o.in == nil {
		err = d.eng.call(d.now, o.req)
	} else if rep, ok := o.in.(session.Reply); ok {
		err = d.stepReply(rep)
	} else {
		err = d.eng.step(d.now, o.in)
	}
	if waitable(err) {
		return false, nil
	}
	if err == nil && o.call {
		o.state = opCalling
		d.calls[o.id] = o
	}
	return true, err
}

// park queues o behind the commands waiting for the window of its session.
func (d *driver) park(o *op) {
	o.state = opParked
	d.parked[o.to] = append(d.parked[o.to], o)
	d.nparked++
}

// unpark removes o, whose caller gave up, from its session's queue.
func (d *driver) unpark(o *op) {
	q := d.parked[o.to]
	if i := slices.Index(q, o); i >= 0 {
		q = slices.Delete(q, i, i+1)
		d.nparked--
	}
	if len(q) == 0 {
		delete(d.parked, o.to)
	} else {
		d.parked[o.to] = q
	}
}

// retryParked steps parked commands in order, per session, until one has
// to wait again; lock held.
func (d *driver) retryParked() {
	for to, q := range d.parked {
		i := 0
		for ; i < len(q); i++ {
			o := q[i]
			ok, err := d.try(o)
			if !ok {
				break
			}
			if err != nil || !o.call {
				d.outcome(o, result{err: err})
			}
		}
		d.nparked -= i
		if i == len(q) {
			delete(d.parked, to)
			continue
		}
		clear(q[:i])
		d.parked[to] = q[i:]
	}
}

// outcome decides o's outcome and hands it over after unlocking; lock held.
func (d *driver) outcome(o *op, r result) {
	o.state = opDone
	if c := o.rconn; c != nil && o != d.self {
		d.interrupt(c) // its caller reads c: the outcome was decided elsewhere
	}
	if o.async {
		if r.err != nil {
			d.log.Debug("command failed", "input", fmt.Sprintf("%T", o.input()), "err", r.err)
		}
		recycle(o)
		return
	}
	if o == d.self {
		// Its caller is stepping what it read: it takes the outcome
		// itself when the step is done (see readOwn).
		o.own, o.ownRes = true, r
		return
	}
	d.sig = append(d.sig, signal{o: o, r: r})
}

// resolve hands a request's outcome to its caller; lock held.
func (d *driver) resolve(r *session.Response) {
	if o := d.calls[r.ID]; o != nil {
		d.resolveOp(o, r)
	}
}

// resolveOp is resolve for o, the request of r in d.calls.
func (d *driver) resolveOp(o *op, r *session.Response) {
	delete(d.calls, r.ID)
	d.resolved = true
	d.outcome(o, result{payload: r.Payload, err: r.Err})
}

// await waits for o's outcome or for ctx. A caller that gives up while o
// is parked takes it back unsent; a request already sent is forgotten (its
// response will be dropped); a command already stepped returns its outcome.
func (d *driver) await(ctx context.Context, o *op) result {
	select {
	case r := <-o.res:
		return received(o, r)
	default:
	}
	if d.callerReads || ctx.Value(inlineKey{}) != nil {
		d.handoff(ctx, o) // somebody must read what o waits for
	}
	done := ctx.Done()
	if done == nil {
		return received(o, <-o.res)
	}
	select {
	case r := <-o.res:
		return received(o, r)
	case <-done:
	}
	d.mu.Lock()
	switch o.state {
	case opParked:
		d.unpark(o)
		d.mu.Unlock()
		recycle(o)
		return result{err: ctx.Err()}
	case opCalling:
		delete(d.calls, o.id)
		d.mu.Unlock()
		recycle(o)
		return result{err: ctx.Err()}
	}
	d.mu.Unlock()
	if o.call {
		return result{err: ctx.Err()} // o is left to the GC: its outcome is on its way
	}
	return received(o, <-o.res) // stepped: the outcome is there or about to be
}

// received is the outcome of o taken from o.res; o is recycled.
func received(o *op, r result) result {
	recycle(o)
	return r
}
