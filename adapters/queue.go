package adapters

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/bettersocket/bettersocket/session"
)

// DefaultMaxPendingEvents is the default for ClientOptions.MaxPendingEvents
// and ServerOptions.MaxPendingEvents.
const DefaultMaxPendingEvents = 1024

// eventQueue hands the events of one session to the application's handlers,
// in order, one at a time, on a worker goroutine or on the connection's
// reader (which hands the reading over when a handler is slow or waits on
// the driver: reading.go), never under the driver's lock, so a handler may
// call back into the Client or Server (Send, Request, Close) without
// deadlocking. A queue has a goroutine only while events are waiting. Pushing never blocks; instead the
// connection's reader pauses while the backlog is over the limit (see
// waitSpace).
type eventQueue struct {
	d     *driver
	limit int64

	backlog atomic.Int64 // queued or being handled
	waiter  atomic.Bool  // a reader waits on space
	keep    int32        // the largest buffer it keeps while idle

	mu      sync.Mutex
	items   []session.Event
	spare   []session.Event
	running bool
	space   chan struct{} // closed when the backlog has shrunk
	rec     *recycler     // a client's queue's; nil on a server
}

// recycler holds the messages a client's handlers are done with (their
// payloads dropped: the handlers have them) until the driver gives them
// back to the machine (session's Recycle), before its next step, for the
// next deliveries. A server's queues have none: an idle session holds
// nothing (the eventQueue stays in its 112-byte size class).
type recycler struct {
	done []*session.Delivered // under the queue's mu
	give func([]*session.Delivered)
}

// newEventQueue returns a queue that holds up to limit events and keeps
// memory for keep of them while idle: a server has a queue per session,
// each kept small (idleCap); a client has one, which keeps what a
// transport message of a stream brings (keepReady), instead of growing
// its buffer again for every message.
func newEventQueue(d *driver, limit, keep int) *eventQueue {
	return &eventQueue{d: d, limit: int64(limit), keep: int32(keep)}
}

// giveBack hands the handled messages over to the machine; driver lock
// held, q.mu too.
func (q *eventQueue) giveBack() {
	if r := q.rec; r != nil && len(r.done) > 0 {
		r.give(r.done)
		clear(r.done)
		r.done = r.done[:0]
	}
}

// giveBackNow is giveBack for a holder of the driver's lock only.
func (q *eventQueue) giveBackNow() {
	q.mu.Lock()
	q.giveBack()
	q.mu.Unlock()
}

// push appends ev; driver lock held. When the queue was idle, the lock
// holder hands it to a worker after unlocking (startQueue).
func (q *eventQueue) push(ev session.Event) {
	q.backlog.Add(1)
	q.mu.Lock()
	q.giveBack()
	q.items = append(q.items, ev)
	q.pushed()
}

// pushAll appends the first n of *evs, in order, under one lock (a
// client's stream delivers hundreds per Ready); as push. When that is all
// of them and the queue holds none, it takes *evs's memory instead of
// copying them, and leaves its own empty buffer in *evs.
func (q *eventQueue) pushAll(evs *[]session.Event, n int) {
	if n == 0 {
		return
	}
	q.backlog.Add(int64(n))
	q.mu.Lock()
	q.giveBack()
	if len(q.items) == 0 && n == len(*evs) && cap(*evs) <= int(q.keep) {
		q.items, *evs = *evs, q.items[:0]
	} else {
		q.items = append(q.items, (*evs)[:n]...)
	}
	q.pushed()
}

// pushed ends a push: it releases q.mu, taken by the pusher, and has the
// queue started when it was idle.
func (q *eventQueue) pushed() {
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		// A worker is counted before the driver can end (end runs under
		// the lock), so that waiting for the handlers cannot miss it.
		q.d.hwg.Add(1)
		q.d.sig = append(q.d.sig, signal{q: q})
	}
}

// run handles the queue's events until there are none, with ctx as the
// handlers' context; on a worker, or inline on a reader (reading.go).
func (q *eventQueue) run(ctx context.Context) {
	q.mu.Lock()
	for len(q.items) > 0 {
		batch := q.items
		q.items, q.spare = q.spare[:0], nil
		q.mu.Unlock()
		for i, ev := range batch {
			// last: nothing else waits, so a reply may be written by
			// this goroutine rather than handed to a writer.
			q.d.handle(ctx, ev, q.backlog.Load() == 1)
			if m, ok := ev.(*session.Delivered); ok && q.rec != nil {
				m.Payload = nil // the handler's now; the event goes to rec
			} else {
				batch[i] = nil
			}
			if q.backlog.Add(-1) <= q.limit/2 && q.waiter.Load() {
				q.wake()
			}
		}
		q.mu.Lock()
		if r := q.rec; r != nil {
			for _, ev := range batch {
				if m, ok := ev.(*session.Delivered); ok && len(r.done) < maxDone {
					r.done = append(r.done, m)
				}
			}
		}
		clear(batch)
		q.spare = batch[:0]
	}
	q.running = false
	if cap(q.spare) > int(q.keep) || cap(q.items) > int(q.keep) {
		q.items, q.spare = nil, nil // an idle session keeps no burst's buffer
	}
	q.wakeLocked()
	q.mu.Unlock()
}

// maxDone is the most handled messages a client's queue holds for the
// machine to reuse, as many as the machine keeps.
const maxDone = 1024

// idleCap is the largest buffer an idle queue or writer keeps.
const idleCap = 256

func (q *eventQueue) wake() {
	q.mu.Lock()
	q.wakeLocked()
	q.mu.Unlock()
}

func (q *eventQueue) wakeLocked() {
	if q.space != nil {
		close(q.space)
		q.space = nil
		q.waiter.Store(false)
	}
}

// waitSpace blocks while the backlog is over the limit. It returns false
// when done or kill is closed first.
func (q *eventQueue) waitSpace(done, kill <-chan struct{}) bool {
	for q.backlog.Load() > q.limit {
		q.mu.Lock()
		if q.backlog.Load() <= q.limit {
			q.mu.Unlock()
			return true
		}
		if q.space == nil {
			q.space = make(chan struct{})
			q.waiter.Store(true)
		}
		ch := q.space
		q.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return false
		case <-kill:
			return false
		}
	}
	return true
}

// workers are the goroutines that run event queues. One that has emptied
// its queue waits, idle, for the next queue that needs a worker, so that a
// queue that starts (on a server: often, for every request of a client that
// waits for each response) neither creates a goroutine nor grows a fresh
// stack (handlers, and the writes they make, run deep). At most
// maxIdleWorkers wait; the others end, and all end with the driver.
type workers struct {
	mu      sync.Mutex
	idle    []*worker
	retired bool // the driver has ended
}

type worker struct{ next chan *eventQueue } // buffered: handing over never blocks

const maxIdleWorkers = 4

// startQueue runs q on an idle worker or on a new one; called after
// unlocking, with a worker counted in hwg (see push).
func (d *driver) startQueue(q *eventQueue) {
	p := &d.workers
	p.mu.Lock()
	if n := len(p.idle); n > 0 { // none once retired
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.next <- q
		d.hwg.Done() // the idle worker is counted already
		return
	}
	p.mu.Unlock()
	go d.work(q)
}

// work is a worker goroutine. An idle worker waits for its next queue, or
// for nil: the driver has ended (see retireWorkers).
func (d *driver) work(q *eventQueue) {
	defer d.hwg.Done()
	var w *worker
	for q != nil {
		q.run(d.ctx)
		if w == nil {
			w = &worker{next: make(chan *eventQueue, 1)}
		}
		if !d.idle(w) {
			return
		}
		q = <-w.next
	}
}

// idle adds w to the idle workers; false when it should end instead.
func (d *driver) idle(w *worker) bool {
	p := &d.workers
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired || len(p.idle) >= maxIdleWorkers {
		return false
	}
	p.idle = append(p.idle, w)
	return true
}

// retireWorkers ends the idle workers, and makes the busy ones end when
// their queue is empty; the driver has ended.
func (d *driver) retireWorkers() {
	p := &d.workers
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retired = true
	for i, w := range p.idle {
		w.next <- nil
		p.idle[i] = nil
	}
	p.idle = nil
}
