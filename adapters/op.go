package adapters

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// An op is one application command on its way to the loop. It has exactly
// one outcome: it is stepped once (and its result sent on res), or it is
// cancelled before the loop took it (and never stepped). The mutex makes
// "cancel" and "step" exclusive, so a Send that returns ctx.Err() was not
// sent, and one that returns nil was.
type op struct {
	mu    sync.Mutex
	state opState
	in    session.Input
	to    proto.ClientID // the session whose window it waits for
	wait  bool           // park under backpressure instead of failing
	call  bool           // a request: the loop assigns the ID, res gets the response
	async bool           // nobody waits for the outcome: the loop logs a failure
	id    uint64
	fn    func(now time.Time) error // run on the loop instead of a step
	res   chan result               // buffered: the one outcome
}

type opState uint8

const (
	opPending opState = iota
	opCancelled
	opDone
)

type result struct {
	payload []byte
	err     error
}

// ops recycles ops whose outcome their caller has received: the loop is
// then done with them. Ops given up on (ctx ended) are left to the GC.
var ops = sync.Pool{New: func() any { return &op{res: make(chan result, 1)} }}

func newOp(in session.Input) *op {
	o := ops.Get().(*op)
	o.in = in
	return o
}

// recycle returns o, whose outcome has been received, to the pool.
func recycle(o *op) {
	res := o.res
	*o = op{res: res}
	ops.Put(o)
}

// received is the outcome of o taken from o.res; o is recycled.
func received(o *op, r result) result {
	recycle(o)
	return r
}

// finish delivers the outcome of an op that is still pending.
func (o *op) finish(r result) {
	o.mu.Lock()
	pending := o.state == opPending
	if pending {
		o.state = opDone
	}
	o.mu.Unlock()
	if pending {
		o.res <- r // the last touch: the caller may recycle o at once
	}
}

// exec submits o and waits for its outcome or for ctx. Every op that was
// submitted gets its outcome: the loop steps it (or runs it), or answers
// it with session.ErrClosed when it ends first.
func (d *driver) exec(ctx context.Context, o *op) result {
	if err := ctx.Err(); err != nil {
		return result{err: err}
	}
	if !d.in.push(input{o: o}, d.done) {
		return result{err: session.ErrClosed}
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
	o.mu.Lock()
	if o.state == opPending {
		o.state = opCancelled
		o.mu.Unlock()
		return result{err: ctx.Err()}
	}
	o.mu.Unlock()
	if o.call {
		return result{err: ctx.Err()} // sent; its response will be dropped
	}
	return received(o, <-o.res) // stepped: the outcome is there or about to be
}

// onOp runs or steps a command that just arrived.
func (d *driver) onOp(now time.Time, o *op) {
	if _, ok := o.in.(session.Send); !ok {
		d.mustReady = true // a Call, for one, sets a timeout: Deadline moves
	}
	if o.fn != nil {
		o.mu.Lock()
		if o.state == opPending {
			o.state = opDone
			d.reply(o, result{err: o.fn(now)})
		}
		o.mu.Unlock()
		return
	}
	if o.wait && len(d.parked[o.to]) > 0 {
		d.park(o) // behind the others: first come, first sent
		return
	}
	if !d.try(now, o) {
		d.park(o)
	}
}

// try steps o. It returns false, leaving o pending, when o must wait for
// the window (or the request limit) to open.
func (d *driver) try(now time.Time, o *op) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != opPending {
		return true // cancelled by its caller: drop it
	}
	if o.call && o.id == 0 {
		d.nextCall++
		o.id = d.nextCall
		switch in := o.in.(type) {
		case session.Call:
			in.ID = o.id
			o.in = in
		case session.JoinRoom:
			in.ID = o.id
			o.in = in
		case session.LeaveRoom:
			in.ID = o.id
			o.in = in
		}
	}
	err := d.eng.step(now, o.in)
	if rep, ok := o.in.(session.Reply); ok && o.async && errors.Is(err, session.ErrTooLarge) {
		// The request still gets its one answer.
		rep.Payload, rep.Err = nil, &proto.Error{Code: proto.ErrCodeInternal, Message: "response too large"}
		o.in = rep
		err = d.eng.step(now, o.in)
	}
	if o.wait && (errors.Is(err, session.ErrBackpressure) || errors.Is(err, session.ErrTooManyRequests)) {
		return false
	}
	o.state = opDone
	if err != nil || !o.call {
		d.reply(o, result{err: err})
		return true
	}
	d.calls[o.id] = o
	return true
}

func (d *driver) park(o *op) {
	q := append(d.parked[o.to], o)
	if n := len(q); n >= 64 && n&(n-1) == 0 {
		// Callers that gave up leave their ops behind; sweep them out
		// now and then so that the queue stays as long as the waiters.
		live := q[:0]
		for _, p := range q {
			p.mu.Lock()
			if p.state == opPending {
				live = append(live, p)
			}
			p.mu.Unlock()
		}
		clear(q[len(live):])
		d.nparked -= len(q) - len(live)
		q = live
	}
	d.parked[o.to] = q
	d.nparked++
}

// retryParked steps parked commands in order, per session, until one has
// to wait again.
func (d *driver) retryParked(now time.Time) {
	for to, q := range d.parked {
		i := 0
		for i < len(q) && d.try(now, q[i]) {
			i++
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

// resolve delivers a request's outcome to its caller.
func (d *driver) resolve(r *session.Response) {
	o := d.calls[r.ID]
	if o == nil {
		return
	}
	delete(d.calls, r.ID)
	d.reply(o, result{payload: r.Payload, err: r.Err})
}

// reply queues the outcome of a stepped op, to be handed over at the end of
// the loop cycle (see driver.endCycle).
func (d *driver) reply(o *op, r result) {
	if o.async {
		d.async = append(d.async, reply{o, r})
	} else {
		d.replies = append(d.replies, reply{o, r})
	}
}

type reply struct {
	o *op
	r result
}

// endCycle hands over what the cycle produced: first the writers are woken
// (a response may be on its way), then the application's callers. The Go
// scheduler runs the goroutine woken last first, so the callers run at once
// and hand the loop their next command while the writers are busy — which
// is how consecutive Sends end up in one transport message.
func (d *driver) endCycle() {
	for i, rp := range d.async {
		if rp.r.err != nil {
			d.log.Debug("command failed", "input", fmt.Sprintf("%T", rp.o.in), "err", rp.r.err)
		}
		recycle(rp.o)
		d.async[i] = reply{}
	}
	d.async = d.async[:0]
	for i, c := range d.wakeups {
		c.wakeWriter()
		d.wakeups[i] = nil
	}
	d.wakeups = d.wakeups[:0]
	sendReplies(d.replies)
	d.replies = d.replies[:0]
}

func sendReplies(rs []reply) {
	for i, rp := range rs {
		rp.o.res <- rp.r
		rs[i] = reply{}
	}
}
