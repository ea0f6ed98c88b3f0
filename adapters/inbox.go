package adapters

import (
	"sync"

	"github.com/bettersocket/bettersocket/session"
)

// inbox is the loop's input queue: transport events from the readers and
// dialers, and commands from the application, in arrival order. One mutex
// and one wake-up channel replace a select over several channels, and the
// loop takes everything that has arrived in one swap. Transport events are
// bounded (a reader waits while netQueue of them are pending, which pushes
// back on the peer); commands are bounded by the goroutines that wait for
// them.
type inbox struct {
	mu       sync.Mutex
	items    []input
	spare    []input
	nNet     int
	sleeping bool          // the loop waits on wake
	closed   bool          // the loop has ended: nothing more is taken
	wake     chan struct{} // capacity 1
	room     chan struct{} // closed when transport events may be posted again
}

type input struct {
	ev netEvent
	o  *op // nil for a transport event
}

func newInbox() inbox { return inbox{wake: make(chan struct{}, 1)} }

// push appends in; false once the loop has ended. A transport event waits
// while the queue is full, until done is closed.
func (b *inbox) push(in input, done <-chan struct{}) bool {
	b.mu.Lock()
	for in.o == nil && b.nNet >= netQueue && !b.closed {
		if b.room == nil {
			b.room = make(chan struct{})
		}
		room := b.room
		b.mu.Unlock()
		select {
		case <-room:
		case <-done:
			return false
		}
		b.mu.Lock()
	}
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.items = append(b.items, in)
	if in.o == nil {
		b.nNet++
	}
	wake := b.sleeping
	b.sleeping = false
	b.mu.Unlock()
	if wake {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// take returns everything queued, or nil after marking the loop asleep: the
// next push then signals wake. The returned slice is valid until the next
// take.
func (b *inbox) take() []input {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.items) == 0 {
		b.sleeping = true
		return nil
	}
	items := b.items
	clear(b.spare)
	b.items, b.spare = b.spare[:0], items
	b.nNet = 0
	if b.room != nil {
		close(b.room)
		b.room = nil
	}
	return items
}

// close stops the inbox: transport events still queued are dropped, and
// commands get session.ErrClosed, so that every command has an outcome.
func (b *inbox) close() {
	b.mu.Lock()
	b.closed = true
	for _, in := range b.items {
		if in.o != nil {
			in.o.finish(result{err: session.ErrClosed})
		}
	}
	clear(b.items)
	b.items = nil
	if b.room != nil {
		close(b.room)
		b.room = nil
	}
	b.mu.Unlock()
}
