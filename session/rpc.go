package session

import (
	"slices"
	"time"

	"github.com/bettersocket/bettersocket/session/internal/timerq"
)

// requests tracks request/response state of one session: this side's
// requests waiting for their one outcome (with their timeouts), and the
// peer's requests waiting for this side's reply.
//
// Each kind keeps one request in a field of its own and only the others in
// a map, so that one request at a time, as a round trip has it, costs no
// map insertion or deletion: on the round trip's path, with the branch
// predictors cold, each costs ~0.1 µs (a deletion hashes the key through
// an indirect call, and draws a new seed when the map empties).
type requests struct {
	max int
	one *timerq.Item[uint64] // a request of this side's, or nil
	out map[uint64]*timerq.Item[uint64]
	q   timerq.Queue[uint64]
	// spare is the item of the last request that finished, for the next
	// one: one request at a time then allocates no item.
	spare *timerq.Item[uint64]

	inOne uint64 // a request of the peer's; 0: none (ID 0 goes to in)
	in    map[uint64]struct{}
}

func (r *requests) init(max int) { *r = requests{max: max} }

// outstanding is how many of this side's requests wait for their outcome.
func (r *requests) outstanding() int {
	if r.one != nil {
		return len(r.out) + 1
	}
	return len(r.out)
}

// start registers this side's request id, timing out at deadline.
func (r *requests) start(id uint64, deadline time.Time, peerMax int) error {
	if _, dup := r.out[id]; dup || r.one != nil && r.one.Value == id {
		return ErrDuplicateRequest
	}
	limit := r.max
	if peerMax > 0 {
		limit = min(limit, peerMax)
	}
	if r.outstanding() >= limit {
		return ErrTooManyRequests
	}
	it := r.spare
	r.spare = nil
	if it == nil {
		it = new(timerq.Item[uint64])
	}
	*it = timerq.Item[uint64]{Value: id}
	switch {
	case r.one == nil:
		r.one = it
	case r.out == nil:
		r.out = map[uint64]*timerq.Item[uint64]{id: it}
	default:
		r.out[id] = it
	}
	r.q.Set(it, deadline)
	return nil
}

// finish ends this side's request id; false when it was not pending.
func (r *requests) finish(id uint64) bool {
	it := r.one
	if it != nil && it.Value == id {
		r.one = nil
	} else {
		var ok bool
		if it, ok = r.out[id]; !ok {
			return false
		}
		delete(r.out, id)
	}
	r.q.Remove(it)
	r.spare = it
	return true
}

// due pops one request whose timeout has passed.
func (r *requests) due(now time.Time) (uint64, bool) {
	it := r.q.PopDue(now)
	if it == nil {
		return 0, false
	}
	if it == r.one {
		r.one = nil
	} else {
		delete(r.out, it.Value)
	}
	return it.Value, true
}

func (r *requests) deadline() time.Time {
	if it := r.q.Peek(); it != nil {
		return it.At
	}
	return time.Time{}
}

// pending returns this side's pending request IDs in ascending order.
func (r *requests) pending() []uint64 {
	if r.outstanding() == 0 {
		return nil
	}
	ids := make([]uint64, 0, r.outstanding())
	if r.one != nil {
		ids = append(ids, r.one.Value)
	}
	for id := range r.out {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// received registers the peer's request id. A duplicate ID is a protocol
// violation; exceeding the announced limit is a policy violation.
func (r *requests) received(id uint64) error {
	if r.awaits(id) {
		return protocolErr("request id %d already pending", id)
	}
	n := len(r.in)
	if r.inOne != 0 {
		n++
	}
	if n >= r.max {
		return ErrTooManyRequests
	}
	switch {
	case r.inOne == 0 && id != 0:
		r.inOne = id
	case r.in == nil:
		r.in = map[uint64]struct{}{id: {}}
	default:
		r.in[id] = struct{}{}
	}
	return nil
}

// awaits reports whether the peer's request id waits for this side's reply.
func (r *requests) awaits(id uint64) bool {
	if r.inOne == id && id != 0 {
		return true
	}
	_, ok := r.in[id]
	return ok
}

// answer consumes the peer's pending request id, which awaits a reply.
func (r *requests) answer(id uint64) {
	if r.inOne == id && id != 0 {
		r.inOne = 0
		return
	}
	delete(r.in, id)
}

// slab hands out pointers to T from chunks, so that frequent events cost
// one allocation per chunk instead of one each.
type slab[T any] struct{ buf []T }

func (s *slab[T]) new() *T {
	if len(s.buf) == cap(s.buf) {
		s.buf = make([]T, 0, 64)
	}
	s.buf = s.buf[:len(s.buf)+1]
	return &s.buf[len(s.buf)-1]
}
