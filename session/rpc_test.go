package session

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/bettersocket/bettersocket/proto"
)

// settled returns a pump with n established clients and empty logs.
func settled(t *testing.T, scfg ServerConfig, ccfg ClientConfig, n int) *pump {
	p := newPump(t, scfg, ccfg, n)
	for _, pc := range p.clients {
		p.handshake(pc)
	}
	p.takeTrace()
	p.takeServerEvents()
	for _, pc := range p.clients {
		p.takeEvents(pc)
	}
	return p
}

// Spec TODO scenario: request and response, both directions.
func TestRequestResponseBothDirections(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	must(t, c1.m.Step(p.now, Call{ID: 1, Payload: []byte("ping")}))
	p.stabilize()
	evs := p.sevents
	eq(t, "server events", p.takeServerEvents(), []string{`request id=1 "ping"`})
	if rr := evs[0].(*RequestReceived); rr.Client != c1.m.ID() || rr.ID != 1 {
		t.Fatalf("RequestReceived %+v", rr)
	}
	must(t, p.srv.Step(p.now, Reply{To: c1.m.ID(), ID: 1, Payload: []byte("pong")}))
	if err := p.srv.Step(p.now, Reply{To: c1.m.ID(), ID: 1}); !errors.Is(err, ErrUnknownRequest) {
		t.Fatalf("second Reply: %v, want ErrUnknownRequest", err)
	}
	p.stabilize()

	must(t, p.srv.Step(p.now, Call{To: c1.m.ID(), ID: 1, Payload: []byte("who?")}))
	p.stabilize()
	eq(t, "client events", p.takeEvents(c1), []string{`response id=1 "pong"`, `request id=1 "who?"`})
	must(t, c1.m.Step(p.now, Reply{ID: 1, Payload: []byte("me")}))
	p.stabilize()
	eq(t, "trace", p.takeTrace(), []string{
		`c1 -> s: REQUEST seq=1 ack=0 id=1 "ping"`,
		"s -> c1: ACK 1",
		`s -> c1: RESPONSE seq=1 ack=1 id=1 "pong"`,
		"c1 -> s: ACK 1",
		`s -> c1: REQUEST seq=2 ack=1 id=1 "who?"`,
		"c1 -> s: ACK 2",
		`c1 -> s: RESPONSE seq=2 ack=2 id=1 "me"`,
		"s -> c1: ACK 2",
	})
	evs = p.sevents
	eq(t, "server events", p.takeServerEvents(), []string{`response id=1 "me"`})
	if r := evs[0].(*Response); r.Err != nil || string(r.Payload) != "me" || r.Client != c1.m.ID() {
		t.Fatalf("Response %+v", r)
	}
}

func TestRequestErrorResponse(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	must(t, c1.m.Step(p.now, Call{ID: 3, Payload: []byte("get x")}))
	p.stabilize()
	must(t, p.srv.Step(p.now, Reply{To: c1.m.ID(), ID: 3, Payload: []byte("ignored"),
		Err: &proto.Error{Code: proto.ErrCodeNotFound, Message: "no x"}}))
	p.stabilize()
	eq(t, "trace", p.takeTrace()[2:], []string{`s -> c1: RESPONSE seq=1 ack=1 id=3 error=not-found "no x"`, "c1 -> s: ACK 1"})
	evs := c1.events
	eq(t, "client events", p.takeEvents(c1), []string{"response id=3 error: session: remote error not-found: no x"})
	r := evs[0].(*Response)
	var re *RemoteError
	if !errors.As(r.Err, &re) || re.Code != proto.ErrCodeNotFound || re.Message != "no x" || r.Payload != nil {
		t.Fatalf("Response %+v", r)
	}
}

// A request's timeout counts from when it was first sent: a retransmission
// after a reconnect does not extend it. A response after the timeout is
// dropped and counted.
func TestRequestTimeoutCountsFromFirstSend(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	must(t, c1.m.Step(p.now, Call{ID: 1, Payload: []byte("slow"), Timeout: 5 * time.Second}))
	p.ready()
	p.dropUp(c1)
	p.advance(3 * time.Second)
	p.cut(c1)
	p.connect(c1)
	p.stabilize() // the REQUEST is retransmitted on the new connection at 3 s
	eq(t, "trace", p.takeTrace(), []string{
		`c1 ->x s: REQUEST seq=1 ack=0 id=1 "slow"`,
		"c1 -> s: HELLO v=1 resume=<c1> ack=0 attempt=2",
		"s -> c1: WELCOME id=<c1> hb=30s idle=1m15s resumed=true seq=0 ack=0",
		`c1 -> s: REQUEST seq=1 ack=0 id=1 "slow"`,
		"s -> c1: ACK 1",
	})
	if want := t0.Add(5 * time.Second); !c1.deadline.Equal(want) {
		t.Fatalf("client deadline %s, want the request timeout %s", c1.deadline, want)
	}
	p.takeEvents(c1)
	p.advance(2*time.Second - time.Nanosecond)
	eq(t, "events before the timeout", p.takeEvents(c1), nil)
	p.advance(time.Nanosecond)
	evs := c1.events
	eq(t, "events", p.takeEvents(c1), []string{"response id=1 error: session: request timed out"})
	if r := evs[0].(*Response); !errors.Is(r.Err, ErrRequestTimeout) || r.ID != 1 {
		t.Fatalf("Response %+v", r)
	}
	must(t, p.srv.Step(p.now, Reply{To: c1.m.ID(), ID: 1, Payload: []byte("too late")}))
	p.stabilize()
	eq(t, "late response dropped", p.takeEvents(c1), nil)
	if st := c1.m.Stats(); st.LateResponses != 1 || st.RequestTimeouts != 1 || st.Delivered != 1 {
		t.Fatalf("client stats %+v", st)
	}
	// The ID is free again.
	must(t, c1.m.Step(p.now, Call{ID: 1, Payload: []byte("again")}))
}

func TestServerRequestTimeout(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	w := h.accept(1)
	h.step(Call{To: w.ID, ID: 8, Payload: []byte("q"), Timeout: 2 * time.Second})
	rd := h.expect([]string{`1: REQUEST seq=1 ack=0 id=8 "q"`}, nil, nil)
	if want := t0.Add(2 * time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want %s", rd.Deadline, want)
	}
	h.at(2 * time.Second)
	h.step(Timeout{})
	rd = h.expect(nil, nil, []string{"response id=8 error: session: request timed out"})
	if r := rd.Events[0].(*Response); !errors.Is(r.Err, ErrRequestTimeout) || r.Client != w.ID {
		t.Fatalf("Response %+v", r)
	}
	h.recv(1, &proto.Response{Seq: 1, Ack: 1, ID: 8, Payload: []byte("late")})
	h.expect([]string{"1: ACK 1"}, nil, nil)
	if st := h.s.Stats(); st.LateResponses != 1 || st.RequestTimeouts != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRequestFailsAtOnceWhenSessionLost(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	id := c1.m.ID()
	must(t, c1.m.Step(p.now, Call{ID: 1, Payload: []byte("a")}))
	must(t, c1.m.Step(p.now, Call{ID: 2, Payload: []byte("b")}))
	p.stabilize()
	must(t, p.srv.Step(p.now, Call{To: id, ID: 5, Payload: []byte("c")}))
	must(t, p.srv.Step(p.now, Kick{Client: id, Reason: "bye"}))
	p.stabilize()
	eq(t, "server events", p.takeServerEvents(), []string{
		`request id=1 "a"`, `request id=2 "b"`,
		"response id=5 error: session: session lost",
		"session-closed <c1>: session: closed by local: policy: bye unacked=[1] requests=[5] last=2",
	})
	eq(t, "client events", p.takeEvents(c1), []string{
		"response id=1 error: session: session lost",
		"response id=2 error: session: session lost",
		"closed: session: closed by peer: policy: bye unacked=[] requests=[1 2] last=0",
	})
}

func TestRequestLimits(t *testing.T) {
	h := newCli(t, ClientConfig{LinkConfig: LinkConfig{MaxRequests: 2}})
	h.open(testWelcome(1))
	h.step(Call{ID: 1})
	if err := h.m.Step(h.now, Call{ID: 1}); !errors.Is(err, ErrDuplicateRequest) {
		t.Fatalf("duplicate ID: %v, want ErrDuplicateRequest", err)
	}
	h.step(Call{ID: 2})
	if err := h.m.Step(h.now, Call{ID: 3}); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("third request with MaxRequests 2: %v, want ErrTooManyRequests", err)
	}
	h.expect([]string{`REQUEST seq=1 ack=0 id=1 ""`, `REQUEST seq=2 ack=0 id=2 ""`}, nil)
	h.recv(&proto.Response{Seq: 1, Ack: 2, ID: 1, Payload: []byte("ok")})
	h.expect([]string{"ACK 1"}, []string{`response id=1 "ok"`})
	h.step(Call{ID: 1}) // an answered ID is free again
	if err := h.m.Step(h.now, Call{ID: 3}); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("with 1 and 2 pending: %v, want ErrTooManyRequests", err)
	}
	eq(t, "pending", h.m.reqs.pending(), []uint64{1, 2})
}

func TestRequestLimitAnnouncedByPeer(t *testing.T) {
	h := newCli(t, ClientConfig{})
	w := testWelcome(1)
	w.Limits.MaxRequests = 1
	h.open(w)
	h.step(Call{ID: 1})
	if err := h.m.Step(h.now, Call{ID: 2}); !errors.Is(err, ErrTooManyRequests) {
		t.Fatalf("second request to a peer that tracks 1: %v, want ErrTooManyRequests", err)
	}
	if h.m.link.unacked() != 1 {
		t.Fatalf("a refused Call was queued")
	}
}

// A peer that breaks the request rules loses its connection: a duplicate
// pending ID is a protocol error, more requests than announced is policy.
func TestServerPeerRequestViolations(t *testing.T) {
	h := newSrv(t, ServerConfig{LinkConfig: LinkConfig{MaxRequests: 1}})
	w := h.accept(1)
	h.recv(1, &proto.Request{Seq: 1, ID: 4}, &proto.Request{Seq: 2, ID: 4})
	h.expect([]string{`1: CLOSE protocol-error "session: protocol violation: request id 4 already pending"`}, []ConnID{1}, []string{
		`request id=4 ""`,
		"session-closed " + w.ID.String() + ": session: closed by local: protocol-error: session: protocol violation: request id 4 already pending unacked=[] requests=[] last=2",
	})
	w = h.accept(2)
	h.recv(2, &proto.Request{Seq: 1, ID: 1}, &proto.Request{Seq: 2, ID: 2})
	h.expect([]string{`2: CLOSE policy "session: too many pending requests"`}, []ConnID{2}, []string{
		`request id=1 ""`,
		"session-closed " + w.ID.String() + ": session: closed by local: policy: session: too many pending requests unacked=[] requests=[] last=2",
	})
}

// A request outstanding across a reconnect is answered exactly once after
// the resume: the server got it before the cut, answered while the session
// was detached, and the response is retransmitted on resume.
func TestRequestAnsweredOnceAcrossReconnect(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	id := c1.m.ID()
	must(t, c1.m.Step(p.now, Call{ID: 1, Payload: []byte("q")}))
	p.ready()
	p.deliverUp(c1)
	p.ready()
	p.cut(c1) // the server's ACK 1 is lost
	eq(t, "server events", p.takeServerEvents(), []string{`request id=1 "q"`, "detached <c1>: EOF"})
	must(t, p.srv.Step(p.now, Reply{To: id, ID: 1, Payload: []byte("a")}))
	p.advance(time.Second)
	p.connect(c1)
	p.stabilize()
	eq(t, "trace", p.takeTrace()[1:], []string{
		"c1 -> s: HELLO v=1 resume=<c1> ack=0 attempt=2",
		"s -> c1: WELCOME id=<c1> hb=30s idle=1m15s resumed=true seq=0 ack=1",
		`s -> c1: RESPONSE seq=1 ack=1 id=1 "a"`,
		"c1 -> s: ACK 1",
	})
	eq(t, "client events", p.takeEvents(c1)[2:], []string{"resumed <c1>", `response id=1 "a"`})
	eq(t, "server events", p.takeServerEvents(), []string{"resumed <c1>"})
	if st := p.srv.Stats(); st.Delivered != 1 {
		t.Fatalf("server delivered %d requests, want 1", st.Delivered)
	}
}

// TestRequestsModel checks the request bookkeeping (one request in a field,
// the others in a map) against plain maps under random operations.
func TestRequestsModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const max = 4
		var r requests
		r.init(max)
		out := map[uint64]time.Time{} // this side's, with their deadlines
		in := map[uint64]bool{}       // the peer's
		now := time.Unix(0, 0)
		id := rapid.Uint64Range(0, 5)
		for range rapid.IntRange(0, 60).Draw(t, "steps") {
			switch op := rapid.IntRange(0, 5).Draw(t, "op"); op {
			case 0:
				x, d := id.Draw(t, "id"), time.Duration(rapid.IntRange(0, 5).Draw(t, "timeout"))
				err := r.start(x, now.Add(d), 0)
				_, dup := out[x]
				switch {
				case dup && err != ErrDuplicateRequest, !dup && len(out) >= max && err != ErrTooManyRequests:
					t.Fatalf("start %d: %v", x, err)
				case !dup && len(out) < max:
					if err != nil {
						t.Fatalf("start %d: %v", x, err)
					}
					out[x] = now.Add(d)
				}
			case 1:
				x := id.Draw(t, "id")
				_, ok := out[x]
				if r.finish(x) != ok {
					t.Fatalf("finish %d: want %v", x, ok)
				}
				delete(out, x)
			case 2:
				now = now.Add(time.Duration(rapid.IntRange(0, 3).Draw(t, "advance")))
				for {
					x, ok := r.due(now)
					if !ok {
						break
					}
					if at, pending := out[x]; !pending || at.After(now) {
						t.Fatalf("due %d at %v, model %v %v", x, now, at, pending)
					}
					delete(out, x)
				}
				for x, at := range out {
					if !at.After(now) {
						t.Fatalf("%d due at %v was not popped at %v", x, at, now)
					}
				}
			case 3:
				x := id.Draw(t, "id")
				err := r.received(x)
				switch {
				case in[x]:
					if err == nil || errors.Is(err, ErrTooManyRequests) {
						t.Fatalf("duplicate %d: %v", x, err)
					}
				case len(in) >= max:
					if !errors.Is(err, ErrTooManyRequests) {
						t.Fatalf("over the limit %d: %v", x, err)
					}
				default:
					if err != nil {
						t.Fatalf("received %d: %v", x, err)
					}
					in[x] = true
				}
			case 4, 5:
				x := id.Draw(t, "id")
				if r.awaits(x) != in[x] {
					t.Fatalf("awaits %d: want %v", x, in[x])
				}
				if in[x] && op == 5 {
					r.answer(x)
					delete(in, x)
				}
			}
			if r.outstanding() != len(out) {
				t.Fatalf("outstanding %d, model %d", r.outstanding(), len(out))
			}
			want := slices.Sorted(maps.Keys(out))
			if got := r.pending(); !slices.Equal(got, want) {
				t.Fatalf("pending %v, model %v", got, want)
			}
		}
	})
}
