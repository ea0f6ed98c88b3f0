package fuzz

import (
	"testing"

	"github.com/bettersocket/bettersocket/session"
)

// TestClientStarts checks that the setup of FuzzClient reaches the states
// its targets are named after, so that the fuzzer starts where it should.
func TestClientStarts(t *testing.T) {
	for _, mode := range []session.Mode{session.Stream, session.Datagram} {
		for start := range byte(nStarts) {
			w := newClientWorld(t, mode)
			w.setup(start)
			est, closed := w.c.Established(), w.m.closed
			switch start {
			case startHandshake:
				if est || !w.live || !w.m.id.IsZero() {
					t.Errorf("%s start %d: established %v live %v id %s", mode, start, est, w.live, w.m.id)
				}
			case startOpen, startResumed, startClosing:
				if !est || closed {
					t.Errorf("%s start %d: established %v closed %v", mode, start, est, closed)
				}
			case startTraffic:
				if !est || w.m.lastSeq == 0 || len(w.m.pendingIn) != 1 || len(w.m.pendingOut) != 2 {
					t.Errorf("%s start %d: established %v last %d pending in %v out %v", mode, start, est, w.m.lastSeq, w.m.pendingIn, w.m.pendingOut)
				}
			case startResuming:
				if est || !w.live || w.m.id.IsZero() {
					t.Errorf("%s start %d: established %v live %v id %s", mode, start, est, w.live, w.m.id)
				}
			case startIdle:
				if est || w.live || !w.dial {
					t.Errorf("%s start %d: established %v live %v dial %v", mode, start, est, w.live, w.dial)
				}
			case startClosed:
				if !closed {
					t.Errorf("%s start %d: not closed", mode, start)
				}
			}
			if start == startResumed && w.c.Stats().Resumes != 1 {
				t.Errorf("%s start %d: %d resumes", mode, start, w.c.Stats().Resumes)
			}
		}
	}
}
