// Package timerq is an indexed binary min-heap of deadlines. Items can be
// added, moved and removed in O(log n); ties are broken by the order in which
// items were last scheduled, so iteration order is deterministic.
package timerq

import "time"

// Item is one entry. Embed it (or keep a pointer) in the owner; Value points
// back at the owner.
type Item[T any] struct {
	At    time.Time
	Value T
	index int // position in the heap, -1 when not queued
	tie   uint64
	init  bool
}

// Queued reports whether the item is in a queue.
func (it *Item[T]) Queued() bool { return it.init && it.index >= 0 }

// Queue is the heap. The zero value is empty and ready to use.
type Queue[T any] struct {
	items []*Item[T]
	ties  uint64
}

// Len returns the number of queued items.
func (q *Queue[T]) Len() int { return len(q.items) }

// Set schedules it at at, inserting it or moving it.
func (q *Queue[T]) Set(it *Item[T], at time.Time) {
	q.ties++
	it.At, it.tie = at, q.ties
	if !it.Queued() {
		it.init = true
		it.index = len(q.items)
		q.items = append(q.items, it)
		q.up(it.index)
		return
	}
	if !q.down(it.index) {
		q.up(it.index)
	}
}

// Remove takes it out of the queue; it is a no-op when it is not queued.
func (q *Queue[T]) Remove(it *Item[T]) {
	if !it.Queued() {
		return
	}
	i, last := it.index, len(q.items)-1
	if i != last {
		q.swap(i, last)
	}
	q.items[last] = nil
	q.items = q.items[:last]
	it.index = -1
	if i != last {
		if !q.down(i) {
			q.up(i)
		}
	}
}

// Peek returns the earliest item, or nil when the queue is empty.
func (q *Queue[T]) Peek() *Item[T] {
	if len(q.items) == 0 {
		return nil
	}
	return q.items[0]
}

// PopDue removes and returns the earliest item if it is due at now
// (At <= now), or returns nil.
func (q *Queue[T]) PopDue(now time.Time) *Item[T] {
	it := q.Peek()
	if it == nil || it.At.After(now) {
		return nil
	}
	q.Remove(it)
	return it
}

func (q *Queue[T]) less(i, j int) bool {
	a, b := q.items[i], q.items[j]
	if !a.At.Equal(b.At) {
		return a.At.Before(b.At)
	}
	return a.tie < b.tie
}

func (q *Queue[T]) swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.items[i].index = i
	q.items[j].index = j
}

func (q *Queue[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !q.less(j, i) {
			break
		}
		q.swap(i, j)
		j = i
	}
}

func (q *Queue[T]) down(i0 int) bool {
	i, n := i0, len(q.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && q.less(r, l) {
			j = r
		}
		if !q.less(j, i) {
			break
		}
		q.swap(i, j)
		i = j
	}
	return i > i0
}
