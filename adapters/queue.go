package adapters

import (
	"sync"
	"sync/atomic"

	"github.com/bettersocket/bettersocket/session"
)

// DefaultMaxPendingEvents is the default for ClientOptions.MaxPendingEvents
// and ServerOptions.MaxPendingEvents.
const DefaultMaxPendingEvents = 1024

// eventQueue hands the events of one session to the application's handlers,
// in order, on a goroutine of its own: never on the loop, so a handler may
// call back into the Client or Server (Send, Request, Close) without
// deadlocking. The goroutine exists only while events are waiting. The loop
// never blocks on a queue; instead the connection's reader pauses while the
// backlog is over the limit (see waitSpace).
type eventQueue struct {
	d       *driver
	limit   int64
	backlog atomic.Int64 // queued or being handled
	waiter  atomic.Bool  // a reader waits on space

	mu      sync.Mutex
	items   []session.Event
	spare   []session.Event
	running bool
	space   chan struct{} // closed when the backlog has shrunk
}

func newEventQueue(d *driver, limit int) *eventQueue {
	return &eventQueue{d: d, limit: int64(limit)}
}

// push appends ev; called by the loop only.
func (q *eventQueue) push(ev session.Event) {
	q.backlog.Add(1)
	q.mu.Lock()
	q.items = append(q.items, ev)
	if !q.running {
		q.running = true
		q.d.hwg.Add(1)
		go q.run()
	}
	q.mu.Unlock()
}

func (q *eventQueue) run() {
	defer q.d.hwg.Done()
	q.mu.Lock()
	for len(q.items) > 0 {
		batch := q.items
		q.items, q.spare = q.spare[:0], nil
		q.mu.Unlock()
		for i, ev := range batch {
			q.d.handle(ev)
			batch[i] = nil
			if q.backlog.Add(-1) <= q.limit/2 && q.waiter.Load() {
				q.wake()
			}
		}
		q.mu.Lock()
		q.spare = batch[:0]
	}
	q.running = false
	if cap(q.spare) > idleCap || cap(q.items) > idleCap {
		q.items, q.spare = nil, nil // an idle session keeps no burst's buffer
	}
	q.wakeLocked()
	q.mu.Unlock()
}

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
// when done is closed first.
func (q *eventQueue) waitSpace(done <-chan struct{}) bool {
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
		}
	}
	return true
}
