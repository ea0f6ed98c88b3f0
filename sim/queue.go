package sim

import (
	"time"
)

// evKind says what an event does when its time comes.
type evKind uint8

const (
	evMsg   evKind = iota // a transport message reaches the far end of a direction
	evFin                 // the far end learns that the sending end hung up
	evReset               // one end learns that its connection was reset
	evTimer               // a machine's deadline
	evDial                // a client's dial
)

// network reports whether the event is traffic (as opposed to a timer or a
// dial): settling the network means running until none is left.
func (k evKind) network() bool { return k <= evReset }

// event is one entry of the queue. Events are values in a slice-backed
// binary heap: scheduling allocates nothing once the heap has grown.
type event struct {
	at   time.Duration // since Epoch
	seq  uint64        // insertion order breaks ties
	kind evKind
	dir  uint8 // evMsg, evFin: the direction; evReset: the end told
	lost bool  // evMsg: lost on the way (shown, not delivered)
	node int32 // evTimer, evDial: -1 for the server, else the client index
	gen  uint64
	conn *conn
	data []byte
}

// queue orders events by (at, seq).
type queue struct {
	h   []event
	seq uint64
	net int // network events queued
}

func (q *queue) len() int { return len(q.h) }

func (q *queue) push(e event) {
	q.seq++
	e.seq = q.seq
	if e.kind.network() {
		q.net++
	}
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

func (q *queue) less(i, j int) bool {
	a, b := &q.h[i], &q.h[j]
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// peek returns the earliest event; the queue must not be empty.
func (q *queue) peek() *event { return &q.h[0] }

// pop removes and returns the earliest event; the queue must not be empty.
func (q *queue) pop() event {
	e := q.h[0]
	n := len(q.h) - 1
	q.h[0] = q.h[n]
	q.h[n] = event{}
	q.h = q.h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
	if e.kind.network() {
		q.net--
	}
	return e
}
