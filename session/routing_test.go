package session

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/bettersocket/bettersocket/proto"
)

// routing is the state of one run of the routing property: who owns which
// session, and what was delivered.
type routing struct {
	p         *pump
	owner     map[proto.ClientID]*pclient // session ID → the client that started it
	tokens    map[proto.ClientID][][]byte // every token a session's client held, oldest first
	delivered map[string]bool             // payloads delivered, to catch duplicates
	n         int
	attackers int
}

// check asserts, for every event since the last check: a client delivers
// only messages addressed to a session it started itself, each once; the
// server attributes each client message to the session that sent it.
func (r *routing) check(t *rapid.T) {
	for _, pc := range r.p.clients {
		for _, ev := range pc.events {
			switch ev := ev.(type) {
			case *SessionStarted:
				if o := r.owner[ev.Client]; o != nil && o != pc {
					t.Fatalf("%s started session %s that %s owns", pc.name, ev.Client, o.name)
				}
				r.owner[ev.Client] = pc
			case *Resumed:
				if r.owner[ev.Client] != pc {
					t.Fatalf("%s resumed session %s it never started", pc.name, ev.Client)
				}
			case *Delivered:
				to, _, ok := strings.Cut(strings.TrimPrefix(string(ev.Payload), "to="), "#")
				if !ok || to != ev.Client.String() || r.owner[ev.Client] != pc {
					t.Fatalf("%s (session %s) delivered %q addressed elsewhere", pc.name, ev.Client, ev.Payload)
				}
				if r.delivered[string(ev.Payload)] {
					t.Fatalf("%s delivered %q twice", pc.name, ev.Payload)
				}
				r.delivered[string(ev.Payload)] = true
			}
		}
		pc.events = nil
		pc.dials = nil
		if pc.m.have {
			hist := r.tokens[pc.m.id]
			if len(hist) == 0 || string(hist[len(hist)-1]) != string(pc.m.token) {
				r.tokens[pc.m.id] = append(hist, slices.Clone(pc.m.token))
			}
		}
	}
	for _, ev := range r.p.sevents {
		if d, ok := ev.(*Delivered); ok {
			from, _, ok := strings.Cut(strings.TrimPrefix(string(d.Payload), "from="), "#")
			if !ok || from != d.Client.String() {
				t.Fatalf("server attributed %q to session %s", d.Payload, d.Client)
			}
			if r.delivered[string(d.Payload)] {
				t.Fatalf("server delivered %q twice", d.Payload)
			}
			r.delivered[string(d.Payload)] = true
		}
	}
	r.p.sevents = nil
}

func (r *routing) client(t *rapid.T) *pclient {
	return r.p.clients[rapid.IntRange(0, len(r.p.clients)-1).Draw(t, "client")]
}

// queue picks one direction of one client's transport.
func (r *routing) queue(t *rapid.T) (*pclient, *[]msg) {
	pc := r.client(t)
	if rapid.Bool().Draw(t, "up") {
		return pc, &pc.up
	}
	return pc, &pc.down
}

// TestRoutingNeverCrossesClients is the G3 property: a message sent to
// client A is never delivered to client B, across resumes, disconnects,
// half-open connections, loss, duplication, reordering, expiry, and HELLOs
// that present another client's ID with a wrong or stale token.
func TestRoutingNeverCrossesClients(t *testing.T) {
	var total struct{ runs, steps, sessions, resumes, lost, attacks, delivered int }
	rapid.Check(t, func(t *rapid.T) {
		mode := Mode(rapid.IntRange(0, 1).Draw(t, "mode"))
		window := time.Duration(rapid.IntRange(5, 120).Draw(t, "resumeWindowSeconds")) * time.Second
		p := newPump(t, ServerConfig{
			Rand:         seeded(rapid.Uint64().Draw(t, "serverSeed")),
			LinkConfig:   LinkConfig{Mode: mode, MaxInflight: 16},
			ResumeWindow: window,
			MaxDetached:  rapid.IntRange(1, 4).Draw(t, "maxDetached"),
		}, ClientConfig{LinkConfig: LinkConfig{Mode: mode, MaxInflight: 16}}, rapid.IntRange(2, 4).Draw(t, "clients"))
		p.tracing = false
		r := &routing{
			p: p, owner: make(map[proto.ClientID]*pclient),
			tokens: make(map[proto.ClientID][][]byte), delivered: make(map[string]bool),
		}
		actions := map[string]func(*rapid.T){
			"dial": func(t *rapid.T) {
				pc := r.client(t)
				if pc.m.state != clientIdle {
					return
				}
				p.connect(pc)
			},
			"serverSend": func(t *rapid.T) {
				pc := r.client(t)
				id := pc.m.ID()
				if p.srv.sessions[id] == nil {
					return
				}
				r.n++
				_ = p.srv.Step(p.now, Send{To: id, Payload: fmt.Appendf(nil, "to=%s#%d", id, r.n)})
			},
			"broadcast": func(t *rapid.T) {
				// Rooms address sessions too: each member gets its own copy,
				// so the payload cannot name the addressee; send one DATA per
				// member instead via Join + Send, and check room tagging.
				pc := r.client(t)
				id := pc.m.ID()
				if p.srv.sessions[id] == nil {
					return
				}
				_ = p.srv.Step(p.now, Join{Client: id, Room: id.String()})
				r.n++
				_ = p.srv.Step(p.now, Broadcast{Room: id.String(), Payload: fmt.Appendf(nil, "to=%s#%d", id, r.n)})
			},
			"clientSend": func(t *rapid.T) {
				pc := r.client(t)
				if !pc.m.have {
					return
				}
				r.n++
				_ = pc.m.Step(p.now, Send{Payload: fmt.Appendf(nil, "from=%s#%d", pc.m.ID(), r.n)})
			},
			"ready": func(t *rapid.T) { p.ready() },
			"deliver": func(t *rapid.T) {
				pc, q := r.queue(t)
				if len(*q) == 0 {
					return
				}
				if q == &pc.up {
					p.deliverUp(pc)
				} else {
					p.deliverDown(pc)
				}
			},
			"drop": func(t *rapid.T) {
				_, q := r.queue(t)
				if len(*q) == 0 {
					return
				}
				*q = (*q)[1:]
			},
			"duplicate": func(t *rapid.T) {
				_, q := r.queue(t)
				if len(*q) == 0 || mode == Stream { // streams neither duplicate nor reorder
					return
				}
				*q = slices.Insert(*q, 0, (*q)[0])
			},
			"reorder": func(t *rapid.T) {
				_, q := r.queue(t)
				if len(*q) < 2 || mode == Stream {
					return
				}
				(*q)[0], (*q)[1] = (*q)[1], (*q)[0]
			},
			"cut": func(t *rapid.T) {
				pc := r.client(t)
				if pc.conn == 0 {
					return
				}
				p.cut(pc)
			},
			"halfOpen": func(t *rapid.T) {
				pc := r.client(t)
				if pc.conn == 0 {
					return
				}
				p.cutClientSide(pc)
			},
			"kick": func(t *rapid.T) {
				pc := r.client(t)
				if p.srv.sessions[pc.m.ID()] == nil {
					return
				}
				must(t, p.srv.Step(p.now, Kick{Client: pc.m.ID(), Reason: "kick"}))
			},
			"advance": func(t *rapid.T) {
				p.advance(time.Duration(rapid.SampledFrom([]int{100, 500, 1000, 3000, 8000, 20_000, 130_000}).Draw(t, "ms")) * time.Millisecond)
			},
			"stabilize": func(t *rapid.T) { p.stabilize() },
			"impersonate": func(t *rapid.T) {
				if r.attackers >= 4 {
					return
				}
				victim := r.client(t)
				vid := victim.m.ID()
				if vid.IsZero() {
					return
				}
				var token []byte
				if hist := r.tokens[vid]; len(hist) > 0 && rapid.Bool().Draw(t, "stale") {
					token = hist[rapid.IntRange(0, len(hist)-1).Draw(t, "which")]
					// A token the server accepts is the credential itself: only
					// stale ones are an attack.
					if sess := p.srv.sessions[vid]; sess != nil && sess.tokenMatches(token) {
						return
					}
				} else {
					token = rapid.SliceOfN(rapid.Byte(), proto.TokenLen, proto.TokenLen).Draw(t, "token")
				}
				r.attackers++
				a := p.addClient(ClientConfig{LinkConfig: LinkConfig{Mode: mode, MaxInflight: 16}}, uint64(1000+r.attackers))
				a.m.id, a.m.have = vid, true
				a.m.token = slices.Clone(token)
				a.m.link.recvAck = uint64(rapid.IntRange(0, 3).Draw(t, "ack"))
				p.connect(a)
			},
		}
		// Weights: traffic and delivery dominate, so that sessions get
		// established and resumed between the faults.
		weights := map[string]int{
			"dial": 6, "serverSend": 4, "broadcast": 1, "clientSend": 3, "ready": 3, "deliver": 12,
			"drop": 1, "duplicate": 1, "reorder": 1, "cut": 1, "halfOpen": 1, "kick": 1,
			"advance": 1, "stabilize": 3, "impersonate": 1,
		}
		var names []string
		for name := range actions {
			for range weights[name] {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		steps := rapid.IntRange(50, 400).Draw(t, "steps")
		for range steps {
			actions[rapid.SampledFrom(names).Draw(t, "action")](t)
			r.check(t)
		}
		st := p.srv.Stats()
		total.runs++
		total.steps += steps
		total.sessions += int(st.SessionsStarted)
		total.resumes += int(st.Resumes)
		total.attacks += r.attackers
		total.delivered += len(r.delivered)
		for _, pc := range p.clients {
			total.lost += int(pc.m.Stats().SessionsLost)
		}
	})
	// What the runs exercised, so that a change that makes them vacuous
	// shows in -v output.
	t.Logf("%d runs: %d steps, %d sessions, %d resumes, %d client sessions lost, %d impersonations, %d messages delivered",
		total.runs, total.steps, total.sessions, total.resumes, total.lost, total.attacks, total.delivered)
}
