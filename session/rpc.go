package session

import (
	"slices"
	"time"

	"github.com/bettersocket/bettersocket/session/internal/timerq"
)

// requests tracks request/response state of one session: this side's
// requests waiting for their one outcome (with their timeouts), and the
// peer's requests waiting for this side's reply.
type requests struct {
	max int
	out map[uint64]*timerq.Item[uint64]
	q   timerq.Queue[uint64]
	in  map[uint64]struct{}
	// spare is the item of the last request that finished, for the next
	// one: one request at a time then allocates no item.
	spare *timerq.Item[uint64]
}

func (r *requests) init(max int) { *r = requests{max: max} }

// start registers this side's request id, timing out at deadline.
func (r *requests) start(id uint64, deadline time.Time, peerMax int) error {
	if _, dup := r.out[id]; dup {
		return ErrDuplicateRequest
	}
	limit := r.max
	if peerMax > 0 {
		limit = min(limit, peerMax)
	}
	if len(r.out) >= limit {
		return ErrTooManyRequests
	}
	if r.out == nil {
		r.out = make(map[uint64]*timerq.Item[uint64])
	}
	it := r.spare
	r.spare = nil
	if it == nil {
		it = new(timerq.Item[uint64])
	}
	*it = timerq.Item[uint64]{Value: id}
	r.out[id] = it
	r.q.Set(it, deadline)
	return nil
}

// finish ends this side's request id; false when it was not pending.
func (r *requests) finish(id uint64) bool {
	it, ok := r.out[id]
	if !ok {
		return false
	}
	delete(r.out, id)
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
	delete(r.out, it.Value)
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
	if len(r.out) == 0 {
		return nil
	}
	ids := make([]uint64, 0, len(r.out))
	for id := range r.out {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// received registers the peer's request id. A duplicate ID is a protocol
// violation; exceeding the announced limit is a policy violation.
func (r *requests) received(id uint64) error {
	if _, dup := r.in[id]; dup {
		return protocolErr("request id %d already pending", id)
	}
	if len(r.in) >= r.max {
		return ErrTooManyRequests
	}
	if r.in == nil {
		r.in = make(map[uint64]struct{})
	}
	r.in[id] = struct{}{}
	return nil
}

// answer consumes the peer's pending request id.
func (r *requests) answer(id uint64) error {
	if _, ok := r.in[id]; !ok {
		return ErrUnknownRequest
	}
	delete(r.in, id)
	return nil
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
