package sim

import (
	"strings"
	"time"

	"github.com/bettersocket/bettersocket/session"
)

// Converge is the liveness phase of a run: it ends every fault, stops
// random loss and duplication (reordering stays), reconnects clients that
// crashed, and runs until nothing is outstanding: every client connected,
// every message delivered, every request answered, and no server session
// left that no client has. If that takes longer than within (zero: a bound
// derived from the timeouts), the oracle reports a liveness violation
// listing what is still outstanding.
func (s *Sim) Converge(within time.Duration) {
	s.resetBudget()
	if within <= 0 {
		within = s.convergeBound()
	}
	s.traceNote("s", "", "converge")
	s.heal("")
	s.opts.Loss, s.opts.Dup = 0, 0
	for _, c := range s.clients {
		if !c.ended && c.conn == nil && !c.dial.set {
			s.dial(c)
		}
	}
	deadline := s.now + within
	for {
		s.settle()
		out := s.oracle.outstanding()
		if len(out) == 0 {
			return
		}
		if s.now >= deadline || s.exhausted() {
			s.oracle.violate("liveness", "not converged %s after healing: %s", within, strings.Join(out, "; "))
			return
		}
		s.runUntil(min(s.now+time.Second, deadline))
	}
}

// convergeBound is long enough for a healed network to finish everything:
// detect dead connections, let abandoned sessions expire, time out requests
// and reconnect through the longest backoff.
func (s *Sim) convergeBound() time.Duration {
	o := &s.opts
	or := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	hb := or(o.Heartbeat, session.DefaultHeartbeatInterval)
	idle := or(o.IdleTimeout, hb*5/2)
	return idle + or(o.ResumeWindow, session.DefaultResumeWindow) +
		or(o.RequestTimeout, session.DefaultRequestTimeout) +
		or(o.ReconnectMax, session.DefaultReconnectMax) +
		or(o.HandshakeTimeout, session.DefaultHandshakeTimeout) + time.Minute
}
