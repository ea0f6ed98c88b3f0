package session

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/bettersocket/bettersocket/proto"
)

// flow is one direction of one session as the application saw it.
type flow struct {
	sent      []string
	delivered []string
	lost      map[string]bool
}

func (f *flow) addLost(frames []LostFrame) {
	if f.lost == nil {
		f.lost = make(map[string]bool)
	}
	for _, l := range frames {
		f.lost[string(l.Payload)] = true
	}
}

type ledger struct {
	up, down map[proto.ClientID]*flow
	calls    map[uint64]bool // requests accepted by Step, by ID (unique across both sides)
	outcomes map[uint64]int  // Response events, by request ID
}

func (l *ledger) flow(m map[proto.ClientID]*flow, id proto.ClientID) *flow {
	f := m[id]
	if f == nil {
		f = &flow{}
		m[id] = f
	}
	return f
}

// collect files every event into the ledger.
func (l *ledger) collect(p *pump) {
	for _, pc := range p.clients {
		for _, ev := range pc.events {
			switch ev := ev.(type) {
			case *Delivered:
				f := l.flow(l.down, ev.Client)
				f.delivered = append(f.delivered, string(ev.Payload))
			case *SessionLost:
				l.flow(l.up, ev.Client).addLost(ev.Lost.Unacked)
			case *Closed:
				l.flow(l.up, ev.Client).addLost(ev.Lost.Unacked)
			case *Response:
				l.outcomes[ev.ID]++
			case *RequestReceived:
				_ = pc.m.Step(p.now, Reply{ID: ev.ID, Payload: []byte("r")}) // may meet backpressure: the caller then times out
			}
		}
		pc.events, pc.dials = nil, nil
	}
	for _, ev := range p.sevents {
		switch ev := ev.(type) {
		case *Delivered:
			f := l.flow(l.up, ev.Client)
			f.delivered = append(f.delivered, string(ev.Payload))
		case *SessionClosed:
			l.flow(l.down, ev.Client).addLost(ev.Lost.Unacked)
		case *Response:
			l.outcomes[ev.ID]++
		case *RequestReceived:
			_ = p.srv.Step(p.now, Reply{To: ev.Client, ID: ev.ID, Payload: []byte("r")})
		}
	}
	p.sevents = nil
}

// check asserts G1 and G2 for one flow: what was delivered is exactly a
// prefix of what was sent (in order, each once), and everything after that
// prefix was reported lost, unless the session is still alive and settled,
// in which case everything was delivered.
func (f *flow) check(t *rapid.T, what string, live bool) {
	k := len(f.delivered)
	if k > len(f.sent) || !slices.Equal(f.delivered, f.sent[:k]) {
		t.Fatalf("%s: delivered %q is not a prefix of sent %q", what, f.delivered, f.sent)
	}
	if live && k != len(f.sent) {
		t.Fatalf("%s: live and settled, but only %d of %d delivered: %q", what, k, len(f.sent), f.sent[k:])
	}
	for _, s := range f.sent[k:] {
		if !f.lost[s] {
			t.Fatalf("%s: %q neither delivered nor reported lost (delivered %d of %q, lost %v)", what, s, k, f.sent, f.lost)
		}
	}
}

// TestExactlyOnceOrReportedLost is G1 and G2 for the machines: under loss,
// duplication, reordering (Datagram), cuts, half-open connections, expiry,
// eviction and kicks, every message is delivered exactly once and in order,
// or reported lost to its sender; after the network heals, live sessions
// deliver everything; and every request, either side's, ends in exactly
// one outcome.
func TestExactlyOnceOrReportedLost(t *testing.T) {
	var total struct{ runs, steps, delivered, lost, resumes, retransmits int }
	rapid.Check(t, func(t *rapid.T) {
		mode := Mode(rapid.IntRange(0, 1).Draw(t, "mode"))
		link := LinkConfig{Mode: mode, MaxInflight: rapid.IntRange(2, 16).Draw(t, "maxInflight")}
		window := time.Duration(rapid.IntRange(5, 60).Draw(t, "windowSeconds")) * time.Second
		p := newPump(t, ServerConfig{
			Rand:         seeded(rapid.Uint64().Draw(t, "seed")),
			LinkConfig:   link,
			ResumeWindow: window,
			MaxDetached:  rapid.IntRange(1, 3).Draw(t, "maxDetached"),
		}, ClientConfig{LinkConfig: link}, rapid.IntRange(1, 3).Draw(t, "clients"))
		p.tracing = false
		l := &ledger{up: map[proto.ClientID]*flow{}, down: map[proto.ClientID]*flow{}, calls: map[uint64]bool{}, outcomes: map[uint64]int{}}
		timeout := func(t *rapid.T) time.Duration {
			return time.Duration(rapid.IntRange(1, 30).Draw(t, "timeoutSeconds")) * time.Second
		}
		n := 0
		pick := func(t *rapid.T) *pclient {
			return p.clients[rapid.IntRange(0, len(p.clients)-1).Draw(t, "client")]
		}
		queue := func(t *rapid.T) *[]msg {
			pc := pick(t)
			if rapid.Bool().Draw(t, "up") {
				return &pc.up
			}
			return &pc.down
		}
		actions := map[string]func(*rapid.T){
			"dial": func(t *rapid.T) {
				if pc := pick(t); pc.m.state == clientIdle {
					p.connect(pc)
				}
			},
			"clientSend": func(t *rapid.T) {
				pc := pick(t)
				if !pc.m.have || pc.m.state == clientClosed {
					return
				}
				n++
				payload := fmt.Sprintf("up%d", n)
				if pc.m.Step(p.now, Send{Payload: []byte(payload)}) == nil {
					f := l.flow(l.up, pc.m.ID())
					f.sent = append(f.sent, payload)
				}
			},
			"serverSend": func(t *rapid.T) {
				id := pick(t).m.ID()
				if p.srv.sessions[id] == nil {
					return
				}
				n++
				payload := fmt.Sprintf("down%d", n)
				if p.srv.Step(p.now, Send{To: id, Payload: []byte(payload)}) == nil {
					f := l.flow(l.down, id)
					f.sent = append(f.sent, payload)
				}
			},
			"clientCall": func(t *rapid.T) {
				pc := pick(t)
				n++
				if pc.m.Step(p.now, Call{ID: uint64(n), Payload: []byte("q"), Timeout: timeout(t)}) == nil {
					l.calls[uint64(n)] = true
				}
			},
			"serverCall": func(t *rapid.T) {
				id := pick(t).m.ID()
				n++
				if p.srv.Step(p.now, Call{To: id, ID: uint64(n), Payload: []byte("q"), Timeout: timeout(t)}) == nil {
					l.calls[uint64(n)] = true
				}
			},
			"join": func(t *rapid.T) {
				_ = p.srv.Step(p.now, Join{Client: pick(t).m.ID(), Room: "r"})
			},
			"broadcast": func(t *rapid.T) {
				n++
				payload := fmt.Sprintf("room%d", n)
				err := p.srv.Step(p.now, Broadcast{Room: "r", Payload: []byte(payload)})
				var be *BroadcastError
				if err != nil && !errors.As(err, &be) {
					t.Fatalf("broadcast: %v", err)
				}
				for _, id := range p.srv.Members("r") {
					if be == nil || !slices.Contains(be.Skipped, id) {
						f := l.flow(l.down, id)
						f.sent = append(f.sent, payload)
					}
				}
			},
			"close": func(t *rapid.T) {
				pc := pick(t)
				switch rapid.IntRange(0, 7).Draw(t, "how") {
				case 0:
					_ = pc.m.Step(p.now, Close{Reason: "bye"})
				case 1:
					_ = pc.m.Step(p.now, Abort{Reason: "crash"})
				}
			},
			"deliver": func(t *rapid.T) {
				pc := pick(t)
				if rapid.Bool().Draw(t, "up") {
					if len(pc.up) > 0 {
						p.deliverUp(pc)
					}
				} else if len(pc.down) > 0 {
					p.deliverDown(pc)
				}
			},
			"ready":     func(t *rapid.T) { p.ready() },
			"stabilize": func(t *rapid.T) { p.stabilize() },
			"drop": func(t *rapid.T) {
				if q := queue(t); len(*q) > 0 && mode == Datagram {
					*q = (*q)[1:]
				}
			},
			"duplicate": func(t *rapid.T) {
				if q := queue(t); len(*q) > 0 && mode == Datagram {
					*q = slices.Insert(*q, 0, (*q)[0])
				}
			},
			"reorder": func(t *rapid.T) {
				if q := queue(t); len(*q) > 1 && mode == Datagram {
					(*q)[0], (*q)[1] = (*q)[1], (*q)[0]
				}
			},
			"cut": func(t *rapid.T) {
				if pc := pick(t); pc.conn != 0 {
					p.cut(pc)
				}
			},
			"halfOpen": func(t *rapid.T) {
				if pc := pick(t); pc.conn != 0 {
					p.cutClientSide(pc)
				}
			},
			"advance": func(t *rapid.T) {
				p.advance(time.Duration(rapid.SampledFrom([]int{10, 50, 300, 1000, 4000, 15_000}).Draw(t, "ms")) * time.Millisecond)
			},
			"longAdvance": func(t *rapid.T) { p.advance(70 * time.Second) },
			"kick": func(t *rapid.T) {
				if id := pick(t).m.ID(); p.srv.sessions[id] != nil && rapid.IntRange(0, 3).Draw(t, "really") == 0 {
					must(t, p.srv.Step(p.now, Kick{Client: id, Reason: "kick"}))
				}
			},
		}
		weights := map[string]int{
			"dial": 4, "clientSend": 6, "serverSend": 6, "clientCall": 2, "serverCall": 2, "join": 1, "broadcast": 2, "close": 1, "deliver": 14, "ready": 3, "stabilize": 2,
			"drop": 2, "duplicate": 1, "reorder": 1, "cut": 1, "halfOpen": 1, "advance": 3, "longAdvance": 1, "kick": 1,
		}
		var names []string
		for name, w := range weights {
			for range w {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		steps := rapid.IntRange(20, 300).Draw(t, "steps")
		for range steps {
			actions[rapid.SampledFrom(names).Draw(t, "action")](t)
			l.collect(p)
		}

		// Heal: every connection is replaced by a fresh, lossless one and
		// everything settles (resumes, retransmissions, acks).
		for _, pc := range p.clients {
			if pc.conn != 0 && pc.m.state != clientClosed {
				p.cut(pc)
			}
		}
		for _, pc := range p.clients {
			if pc.m.state == clientIdle {
				p.connect(pc)
			}
		}
		p.stabilize()
		// Sessions that ended on one side only (the other side's CLOSE was
		// lost, or its connection is half-open) end on the server when the
		// idle timeout and then the resume window pass; live ones keep
		// heartbeating meanwhile. 31 s is past every request timeout.
		p.run(75*time.Second + window + 31*time.Second)
		l.collect(p)
		p.stabilize() // the replies the last collect made
		l.collect(p)

		// G2: every request has exactly one outcome.
		for id := range l.calls {
			if l.outcomes[id] != 1 {
				t.Fatalf("request %d has %d outcomes", id, l.outcomes[id])
			}
		}
		for id, k := range l.outcomes {
			if !l.calls[id] {
				t.Fatalf("%d outcomes for request %d that was never made", k, id)
			}
		}

		for _, pc := range p.clients {
			if pc.m.state == clientOpen && pc.m.link.unacked() != 0 {
				t.Fatalf("%s: %d unacked after healing", pc.name, pc.m.link.unacked())
			}
		}
		for id, f := range l.up {
			live := false
			for _, pc := range p.clients {
				live = live || (pc.m.ID() == id && pc.m.state == clientOpen && p.srv.sessions[id] != nil)
			}
			f.check(t, "up "+id.String(), live)
		}
		for id, f := range l.down {
			live := false
			for _, pc := range p.clients {
				live = live || (pc.m.ID() == id && pc.m.state == clientOpen && p.srv.sessions[id] != nil)
			}
			f.check(t, "down "+id.String(), live)
		}
		st := p.srv.Stats()
		total.runs++
		total.steps += steps
		total.resumes += int(st.Resumes)
		total.retransmits += int(st.Retransmits)
		for _, m := range []map[proto.ClientID]*flow{l.up, l.down} {
			for _, f := range m {
				total.delivered += len(f.delivered)
				total.lost += len(f.sent) - len(f.delivered)
			}
		}
	})
	t.Logf("%d runs: %d steps, %d messages delivered, %d reported lost, %d resumes, %d server retransmissions",
		total.runs, total.steps, total.delivered, total.lost, total.resumes, total.retransmits)
}
