package session

import (
	"strings"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// Edge behaviours that are easy to break without noticing: each test pins
// one boundary of the protocol.

// A clean Close right after the last response arrived (its ACK held for
// AckDelay, as the adapters configure) must acknowledge it: the server's
// SessionClosed then lists nothing as lost. Before the fix the CLOSE went
// out alone and the server reported the response lost, which a server that
// resends what it was told is lost would duplicate.
func TestCleanCloseCarriesFinalAck(t *testing.T) {
	link := LinkConfig{AckDelay: time.Millisecond}
	p := newPump(t, ServerConfig{LinkConfig: link}, ClientConfig{LinkConfig: link}, 1)
	c1 := p.c(1)
	p.handshake(c1)
	must(t, c1.m.Step(p.now, Call{ID: 1, Payload: []byte("q")}))
	p.stabilize()
	must(t, p.srv.Step(p.now, Reply{To: c1.m.ID(), ID: 1, Payload: []byte("r")}))
	p.stabilize()
	p.takeTrace()
	p.takeServerEvents()
	must(t, c1.m.Step(p.now, Close{Reason: "done"}))
	p.stabilize()
	eq(t, "trace", p.takeTrace(), []string{
		"c1 -> s: ACK 1",
		`c1 -> s: CLOSE normal "done"`,
		"c1 -> s: FIN",
		"s -> c1: FIN",
	})
	evs := p.takeServerEvents()
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "session-closed ") || !strings.Contains(evs[0], "unacked=[] requests=[]") {
		t.Fatalf("server events %q, want one session-closed with nothing lost", evs)
	}
	if st := p.srv.Stats(); st.SessionsLost != 0 {
		t.Fatalf("server SessionsLost = %d, want 0", st.SessionsLost)
	}
}

// The same holds for many sessions closing at once (the issue saw 200 of
// 200 report their last response lost).
func TestCleanCloseOfManySessionsLosesNothing(t *testing.T) {
	link := LinkConfig{AckDelay: time.Millisecond}
	const n = 20
	p := newPump(t, ServerConfig{LinkConfig: link}, ClientConfig{LinkConfig: link}, n)
	for i := 1; i <= n; i++ {
		p.handshake(p.c(i))
	}
	for i := 1; i <= n; i++ {
		must(t, p.c(i).m.Step(p.now, Call{ID: 1, Payload: []byte("q")}))
	}
	p.stabilize()
	for i := 1; i <= n; i++ {
		must(t, p.srv.Step(p.now, Reply{To: p.c(i).m.ID(), ID: 1, Payload: []byte("r")}))
		must(t, p.srv.Step(p.now, Send{To: p.c(i).m.ID(), Payload: []byte("m")}))
	}
	p.stabilize()
	for i := 1; i <= n; i++ {
		must(t, p.c(i).m.Step(p.now, Close{}))
	}
	p.stabilize()
	closed := 0
	for _, ev := range p.sevents {
		if sc, ok := ev.(*SessionClosed); ok {
			closed++
			if len(sc.Lost.Unacked) != 0 || len(sc.Lost.Requests) != 0 {
				t.Errorf("session %s closed cleanly reports lost %v", sc.Client, sc.Lost)
			}
		}
	}
	if closed != n {
		t.Fatalf("%d sessions closed, want %d", closed, n)
	}
}

// A resume HELLO whose ack is exactly one past the last sequence number the
// server sent (the first value it never sent) is a protocol violation, not
// a panic; the last one sent is valid.
func TestResumeAckOnePastLastSentIsProtocolError(t *testing.T) {
	h, w := sentThenDetached(t, "x", "y")
	h.step(Connected{Conn: 2})
	h.recv(2, resumeHello(w.ID, w.Token, 3, 2)) // sent 1 and 2
	h.expect([]string{`2: CLOSE protocol-error "session: protocol violation: resume ack 3 outside [0, 2]"`}, []ConnID{2}, []string{
		"session-closed " + w.ID.String() + ": session: closed by local: protocol-error: session: protocol violation: resume ack 3 outside [0, 2] unacked=[1 2] requests=[] last=0",
		"conn-rejected 2: session: protocol violation: resume ack 3 outside [0, 2]",
	})

	// The last sequence number sent is within range.
	h2, w := sentThenDetached(t, "x", "y")
	h2.step(Connected{Conn: 2})
	h2.recv(2, resumeHello(w.ID, w.Token, 2, 2))
	got, rd := h2.ready()
	if len(got) != 1 || !strings.HasPrefix(got[0], "2: WELCOME") || !strings.Contains(got[0], "resumed") {
		t.Fatalf("resume with ack = last sent: %q", got)
	}
	if len(rd.Hangup) != 0 {
		t.Fatalf("hangups %v", rd.Hangup)
	}
}

// sentThenDetached is a server whose session (on connection 1) was sent
// payloads, unacknowledged, then detached; it returns the WELCOME.
func sentThenDetached(t *testing.T, payloads ...string) (*srv, *proto.Welcome) {
	t.Helper()
	h := newSrv(t, ServerConfig{})
	w := h.accept(1)
	for _, p := range payloads {
		h.step(Send{To: w.ID, Payload: []byte(p)})
	}
	h.ready()
	h.step(Disconnected{Conn: 1})
	h.ready()
	return h, w
}

// Close while a request is acknowledged but not yet answered waits for its
// response, which is delivered and not reported lost.
func TestCloseWaitsForAcknowledgedRequestResponse(t *testing.T) {
	h := newCli(t, ClientConfig{CloseTimeout: 5 * time.Second})
	h.open(testWelcome(1))
	h.step(Call{ID: 7, Payload: []byte("q")})
	h.expect([]string{`REQUEST seq=1 ack=0 id=7 "q"`}, nil)
	h.recv(&proto.Ack{Ack: 1}) // acknowledged, not answered
	h.expect(nil, nil)
	h.step(Close{Reason: "bye"})
	rd := h.expect(nil, nil)
	if rd.Hangup {
		t.Fatalf("hung up with a request still unanswered")
	}
	if want := t0.Add(5 * time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want the close timeout %s", rd.Deadline, want)
	}
	h.at(4 * time.Second)
	h.step(Timeout{})
	h.expect(nil, nil)
	h.recv(&proto.Response{Seq: 1, Ack: 1, ID: 7, Payload: []byte("r")})
	rd = h.expect([]string{"ACK 1", `CLOSE normal "bye"`},
		[]string{`response id=7 "r"`, "closed: <nil> unacked=[] requests=[] last=1"})
	if !rd.Hangup {
		t.Fatalf("no hangup after the response")
	}
}

// Past the close timeout, the unanswered request is reported lost.
func TestCloseTimeoutReportsUnansweredRequest(t *testing.T) {
	h := newCli(t, ClientConfig{CloseTimeout: 5 * time.Second})
	h.open(testWelcome(1))
	h.step(Call{ID: 7, Payload: []byte("q")})
	h.ready()
	h.recv(&proto.Ack{Ack: 1})
	h.step(Close{Reason: "bye"})
	h.ready()
	h.at(5 * time.Second)
	h.step(Timeout{})
	h.expect([]string{`CLOSE normal "bye"`},
		[]string{"response id=7 error: session: session lost", "closed: <nil> unacked=[] requests=[7] last=0"})
}

// A client that asked to resume session A and gets a WELCOME resuming
// another session closes with a protocol error.
func TestWelcomeResumingAnotherSessionIsProtocolError(t *testing.T) {
	h := newCli(t, ClientConfig{})
	h.open(testWelcome(1))
	h.step(Disconnected{Conn: h.conn})
	h.ready()
	h.conn++
	h.step(Connected{Conn: h.conn})
	got, _ := h.ready()
	if len(got) != 1 || !strings.Contains(got[0], "resume="+testID(1).String()) {
		t.Fatalf("want a resume HELLO for session 1, got %q", got)
	}
	w := testWelcome(2)
	w.Resumed = true
	h.recv(w)
	rd := h.expect([]string{`CLOSE protocol-error "session: protocol violation: resumed a different session ` + testID(2).String() + `"`},
		[]string{"closed: session: closed by local: protocol-error: session: protocol violation: resumed a different session " + testID(2).String() + " unacked=[] requests=[] last=0"})
	if !rd.Hangup {
		t.Fatalf("no hangup")
	}
	if h.m.ID() != testID(1) {
		t.Fatalf("client adopted the other session %s", h.m.ID())
	}
}

// The new token is proven by any frame the client sends after WELCOME: a
// DATA carrying the ack, not only a standalone ACK. From then on the
// previous token is refused.
func TestNewTokenProvenByDataAfterWelcome(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	w1 := h.accept(1)
	id := w1.ID
	h.step(Disconnected{Conn: 1})
	h.ready()
	w2 := h.tryResume(2, id, w1.Token)
	if !w2.Resumed {
		t.Fatalf("resume refused")
	}
	h.recv(2, &proto.Data{Seq: 1, Ack: 0, Payload: []byte("a")}) // no standalone ACK
	h.ready()
	h.step(Disconnected{Conn: 2})
	h.ready()
	if w := h.tryResume(3, id, w1.Token); w.Resumed || w.ID == id {
		t.Fatalf("the previous token still resumes after a DATA proved the new one")
	}
	if w := h.tryResume(4, id, w2.Token); !w.Resumed || w.ID != id {
		t.Fatalf("the proven new token was refused")
	}
}

// In Datagram mode a single held frame larger than the reorder byte limit
// is still held when nothing else is (otherwise a large frame behind a gap
// could never be received out of order), and delivered once the gap fills.
func TestDatagramHoldsOneFrameLargerThanReorderLimit(t *testing.T) {
	h := newSrv(t, ServerConfig{LinkConfig: LinkConfig{Mode: Datagram, MaxUnackedBytes: 64}})
	h.accept(1)
	big := strings.Repeat("b", 100)
	h.recv(1, &proto.Data{Seq: 2, Payload: []byte(big)})
	h.expect([]string{"1: ACK 0"}, nil, nil)
	if st := h.s.Stats(); st.ReorderDropped != 0 {
		t.Fatalf("ReorderDropped = %d: the only early frame was dropped", st.ReorderDropped)
	}
	// A second early frame over the limit is dropped (the sender resends).
	h.recv(1, &proto.Data{Seq: 3, Payload: []byte("c")})
	h.expect([]string{"1: ACK 0"}, nil, nil)
	if st := h.s.Stats(); st.ReorderDropped != 1 {
		t.Fatalf("ReorderDropped = %d, want 1", st.ReorderDropped)
	}
	h.recv(1, &proto.Data{Seq: 1, Payload: []byte("a")})
	h.expect([]string{"1: ACK 2"}, nil, []string{`delivered seq=1 "a"`, "delivered seq=2 len=100"})
}

// A message with more frames than MaxFramesPerStep is processed in slices:
// each step stops after the limit and leaves the rest, whole frames, for
// the driver to step as a message of its own; the outcome is that of one
// step.
func TestMaxFramesPerStepLeavesTheRestUnread(t *testing.T) {
	h := newSrv(t, ServerConfig{MaxFramesPerStep: 2})
	h.accept(1)
	var frames []proto.Frame
	for i := range 5 {
		frames = append(frames, &proto.Data{Seq: uint64(i + 1), Payload: []byte{'a' + byte(i)}})
	}
	data := encode(t, frames...)
	var delivered []string
	for steps := 1; ; steps++ {
		h.step(Recv{Conn: 1, Data: data})
		_, rd := h.ready()
		delivered = append(delivered, eventStrings(rd.Events)...)
		n, more := h.s.Unread()
		if !more {
			if steps != 3 {
				t.Fatalf("%d steps for 5 frames at 2 per step, want 3", steps)
			}
			break
		}
		if n >= len(data) {
			t.Fatalf("Unread %d of a %d-byte message", n, len(data))
		}
		data = data[len(data)-n:]
	}
	eq(t, "delivered", delivered, []string{`delivered seq=1 "a"`, `delivered seq=2 "b"`, `delivered seq=3 "c"`, `delivered seq=4 "d"`, `delivered seq=5 "e"`})

	// Without the limit, one step takes the whole message.
	h = newSrv(t, ServerConfig{})
	h.accept(1)
	h.recv(1, frames...)
	if n, more := h.s.Unread(); n != 0 || more {
		t.Fatalf("Unread %d, %t without MaxFramesPerStep", n, more)
	}
}

// Idle tells a message that delivered nothing on an established
// connection from one that delivered something or opened the connection.
func TestServerIdleTellsMessagesThatDeliverNothing(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	h.step(Connected{Conn: 1})
	h.recv(1, &proto.Hello{Version: proto.Version})
	if h.s.Idle() {
		t.Fatal("HELLO counted idle")
	}
	cases := []struct {
		name   string
		frames []proto.Frame
		idle   bool
	}{
		{"ACK", []proto.Frame{&proto.Ack{}}, true},
		{"HEARTBEAT", []proto.Frame{&proto.Heartbeat{}}, true},
		{"DATA", []proto.Frame{&proto.Data{Seq: 1, Payload: []byte("a")}}, false},
		{"duplicate DATA", []proto.Frame{&proto.Data{Seq: 1, Payload: []byte("a")}}, true},
		{"ACKs and a DATA", []proto.Frame{&proto.Ack{}, &proto.Ack{}, &proto.Data{Seq: 2, Payload: []byte("b")}}, false},
	}
	for _, tc := range cases {
		h.recv(1, tc.frames...)
		if h.s.Idle() != tc.idle {
			t.Errorf("%s: Idle %t, want %t", tc.name, h.s.Idle(), tc.idle)
		}
	}
	h.ready()
}

// A kicked session's CLOSE is preceded by the acknowledgement the server
// still owed, so the client does not report as lost what the server got.
func TestKickCarriesFinalAck(t *testing.T) {
	h := newSrv(t, ServerConfig{LinkConfig: LinkConfig{AckDelay: time.Second}})
	w := h.accept(1)
	h.recv(1, &proto.Data{Seq: 1, Payload: []byte("a")})
	h.expect(nil, nil, []string{`delivered seq=1 "a"`}) // the ACK is held
	h.step(Kick{Client: w.ID, Reason: "bye"})
	h.expect([]string{"1: ACK 1", `1: CLOSE policy "bye"`}, []ConnID{1},
		[]string{"session-closed " + w.ID.String() + `: session: closed by local: policy: bye unacked=[] requests=[] last=1`})
}
