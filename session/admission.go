package session

import (
	"container/heap"
	"fmt"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// Admission: per-source limits that keep one client (or one address) from
// taking what every client shares. The driver names each connection's
// source in [Connected] (the adapters use the client's IP address); a
// source owns its connections awaiting HELLO, its detached sessions and a
// new-session budget:
//
//   - at most MaxPendingPerSource connections of a source await HELLO; the
//     next is closed at once with CLOSE overloaded;
//   - when MaxPendingConns are pending in all, a newcomer evicts the oldest
//     pending connection of the source with the most of them, unless its
//     own source is that heavy: strangers filling the slots cannot lock a
//     client (one that comes back to resume, say) out;
//   - a source starts new sessions at SourceSessionBurst at once, then one
//     per SourceSessionInterval (the generic cell rate algorithm: one
//     theoretical arrival time per source); a HELLO beyond that is refused
//     with CLOSE overloaded, which clients retry after their backoff.
//     Resumes are never limited;
//   - at most MaxDetachedPerSource detached sessions per source, beyond
//     which its own oldest is evicted; and when the global detached
//     budget is exceeded, the source with the most detached sessions loses
//     its oldest first, so one client that churns sessions evicts its own.
//
// A source's record lives while it has pending connections or detached
// sessions, or a new-session budget that is not full again yet; so the
// records are bounded by the global limits and the rate.

type source struct {
	key               string
	pending, detached int
	pend              chain[serverConn]    // its connections awaiting HELLO, oldest first
	det               chain[serverSession] // its detached sessions, oldest first
	tat               time.Time            // new-session budget: theoretical arrival time
	pi, di            int                  // positions in the heaviest-first heaps; -1: not in
	idle              bool                 // in the server's idle list
}

// heaviest is a max-heap of sources by one of their counts.
type heaviest struct {
	s     []*source
	count func(*source) int
	pos   func(*source) *int
}

func (h *heaviest) Len() int           { return len(h.s) }
func (h *heaviest) Less(i, j int) bool { return h.count(h.s[i]) > h.count(h.s[j]) }
func (h *heaviest) Swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	*h.pos(h.s[i]), *h.pos(h.s[j]) = i, j
}
func (h *heaviest) Push(x any) {
	so := x.(*source)
	*h.pos(so) = len(h.s)
	h.s = append(h.s, so)
}
func (h *heaviest) Pop() any {
	so := h.s[len(h.s)-1]
	h.s[len(h.s)-1] = nil
	h.s = h.s[:len(h.s)-1]
	*h.pos(so) = -1
	return so
}

// update puts so where its count says: in the heap while it is positive.
func (h *heaviest) update(so *source) {
	in, n := *h.pos(so) >= 0, h.count(so)
	switch {
	case in && n > 0:
		heap.Fix(h, *h.pos(so))
	case in:
		heap.Remove(h, *h.pos(so))
	case n > 0:
		heap.Push(h, so)
	}
}

func (h *heaviest) top() *source {
	if len(h.s) == 0 {
		return nil
	}
	return h.s[0]
}

type admission struct {
	sources  map[string]*source
	byPend   heaviest
	byDet    heaviest
	idle     []*source // sources that may be forgettable, oldest first
	idleHead int
}

func (a *admission) init() {
	a.sources = make(map[string]*source)
	a.byPend = heaviest{count: func(so *source) int { return so.pending }, pos: func(so *source) *int { return &so.pi }}
	a.byDet = heaviest{count: func(so *source) int { return so.detached }, pos: func(so *source) *int { return &so.di }}
}

// source returns the record of key, making one.
func (a *admission) source(key string) *source {
	so := a.sources[key]
	if so == nil {
		so = &source{key: key, pi: -1, di: -1}
		so.pend.at, so.det.at = connPending, sessSrcDetached
		a.sources[key] = so
	}
	return so
}

// known returns the record of key, which holds something of it.
func (a *admission) known(key string) *source {
	so := a.sources[key]
	if so == nil {
		panic("session: bug: the source of a pending connection or detached session is gone")
	}
	return so
}

// maybeIdle notes that so may soon be forgettable.
func (a *admission) maybeIdle(so *source) {
	if !so.idle && so.pending == 0 && so.detached == 0 {
		so.idle = true
		a.idle = append(a.idle, so)
	}
}

// sweep forgets sources that hold nothing and whose new-session budget is
// full again, oldest first, stopping at the first that is not yet.
func (a *admission) sweep(now time.Time) {
	for a.idleHead < len(a.idle) {
		so := a.idle[a.idleHead]
		if so.pending == 0 && so.detached == 0 && so.tat.After(now) {
			break
		}
		a.idle[a.idleHead] = nil
		a.idleHead++
		so.idle = false
		if so.pending == 0 && so.detached == 0 && a.sources[so.key] == so {
			delete(a.sources, so.key)
		}
	}
	if a.idleHead > len(a.idle)/2 {
		n := copy(a.idle, a.idle[a.idleHead:])
		clear(a.idle[n:])
		a.idle, a.idleHead = a.idle[:n], 0
	}
}

// --- pending connections ---

// admitConn decides on a new connection c: nil admits it (perhaps
// after evicting another source's pending connection); an error refuses it.
func (s *Server) admitConn(now time.Time, c *serverConn) error {
	a := &s.adm
	a.sweep(now)
	so := a.source(c.src)
	if c.src != "" && s.cfg.MaxPendingPerSource > 0 && so.pending >= s.cfg.MaxPendingPerSource {
		a.maybeIdle(so)
		s.stats.Throttled++
		return fmt.Errorf("%w: %d connections of this source await HELLO", ErrOverloaded, so.pending)
	}
	if s.pending >= s.cfg.MaxPendingConns {
		top := a.byPend.top()
		if top == nil || top.pending <= so.pending {
			a.maybeIdle(so)
			return fmt.Errorf("%w: %d connections awaiting HELLO", ErrOverloaded, s.pending)
		}
		s.stats.Throttled++
		s.reject(top.pend.head, proto.CloseOverloaded, fmt.Errorf("%w: evicted for a newer connection; %d await HELLO from this source", ErrOverloaded, top.pending))
	}
	s.pending++
	so.pending++
	so.pend.push(c)
	a.byPend.update(so)
	return nil
}

// Admits reports whether a connection from source would be admitted now
// rather than refused with CLOSE overloaded (see MaxPendingPerSource and
// MaxPendingConns). It changes nothing: a WebSocket driver asks it before
// the upgrade, so that a refused client costs an HTTP error rather than a
// WebSocket connection.
func (s *Server) Admits(source string) bool { return s.AdmitsWaiting(source, 0) }

// AdmitsWaiting is Admits for a driver that holds, besides, waiting more
// connections of source that it has not attached yet (a WebSocket
// server's connections that have not sent their upgrade request): they
// count as awaiting HELLO, against MaxPendingPerSource and in the
// comparison with the heaviest source.
func (s *Server) AdmitsWaiting(source string, waiting int) bool {
	if s.shutdown {
		return false
	}
	pending := waiting
	if so := s.adm.sources[source]; so != nil {
		pending += so.pending
	}
	if source != "" && s.cfg.MaxPendingPerSource > 0 && pending >= s.cfg.MaxPendingPerSource {
		return false
	}
	if s.pending >= s.cfg.MaxPendingConns {
		top := s.adm.byPend.top()
		return top != nil && top.pending > pending
	}
	return true
}

// unpend takes c out of the handshake: its slot and its timer.
func (s *Server) unpend(c *serverConn) {
	s.pending--
	s.timers.Remove(&c.timer)
	a := &s.adm
	so := a.known(c.src)
	so.pend.remove(c)
	so.pending--
	a.byPend.update(so)
	a.maybeIdle(so)
}

// --- new sessions ---

// mayStart reports whether c's source may start a new session now, and if
// so counts it.
func (s *Server) mayStart(now time.Time, c *serverConn) error {
	if c.src == "" || s.cfg.SourceSessionBurst <= 0 {
		return nil
	}
	so := s.adm.source(c.src)
	iv := s.cfg.SourceSessionInterval
	tat := so.tat
	if tat.Before(now) {
		tat = now
	}
	// Allowed while the budget's debt (tat - now) stays within the burst.
	if tat.Sub(now) > time.Duration(s.cfg.SourceSessionBurst-1)*iv {
		s.stats.Throttled++
		return fmt.Errorf("%w: too many new sessions from this source", ErrOverloaded)
	}
	so.tat = tat.Add(iv)
	return nil
}

// --- detached sessions ---

// detachedBySource files sess, just detached, under its source and evicts
// that source's oldest detached session when it holds too many.
func (s *Server) detachedBySource(now time.Time, sess *serverSession) {
	a := &s.adm
	so := a.source(sess.src)
	so.det.push(sess)
	so.detached++
	a.byDet.update(so)
	if sess.src != "" && s.cfg.MaxDetachedPerSource > 0 && so.detached > s.cfg.MaxDetachedPerSource {
		s.stats.Throttled++
		s.endSession(now, so.det.head, ErrEvicted, nil)
	}
}

// undetachedBySource takes sess out of its source's detached list.
func (s *Server) undetachedBySource(sess *serverSession) {
	a := &s.adm
	so := a.known(sess.src)
	so.det.remove(sess)
	so.detached--
	a.byDet.update(so)
	a.maybeIdle(so)
}

// evictionVictim is the detached session to evict when the global budget
// is exceeded: the oldest of the source with the most.
func (s *Server) evictionVictim() *serverSession {
	if top := s.adm.byDet.top(); top != nil {
		return top.det.head
	}
	return nil
}
