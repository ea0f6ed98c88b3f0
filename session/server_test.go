package session

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

func TestServerHandshakeTimeout(t *testing.T) {
	h := newSrv(t, ServerConfig{HandshakeTimeout: 5 * time.Second})
	h.step(Connected{Conn: 1})
	rd := h.expect(nil, nil, nil)
	if want := t0.Add(5 * time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want %s", rd.Deadline, want)
	}
	h.at(5*time.Second - time.Nanosecond)
	h.step(Timeout{})
	h.expect(nil, nil, nil)
	h.at(5 * time.Second)
	h.step(Timeout{})
	rd = h.expect([]string{`1: CLOSE handshake-timeout "session: handshake timeout"`}, []ConnID{1},
		[]string{"conn-rejected 1: session: handshake timeout"})
	if cr := rd.Events[0].(*ConnRejected); !errors.Is(cr.Err, ErrHandshakeTimeout) {
		t.Fatalf("ConnRejected.Err = %v", cr.Err)
	}
	if st := h.s.Stats(); st.Connections != 0 || st.Sessions != 0 || !rd.Deadline.IsZero() {
		t.Fatalf("after the timeout: connections %d sessions %d deadline %s", st.Connections, st.Sessions, rd.Deadline)
	}
	// A late HELLO on the hung-up connection is ignored.
	h.recv(1, &proto.Hello{Version: proto.Version})
	h.expect(nil, nil, nil)
}

func TestServerMaxPendingConns(t *testing.T) {
	h := newSrv(t, ServerConfig{MaxPendingConns: 2})
	h.step(Connected{Conn: 1})
	h.step(Connected{Conn: 2})
	h.step(Connected{Conn: 3})
	h.expect([]string{`3: CLOSE overloaded "session: overloaded: 2 connections awaiting HELLO"`}, []ConnID{3},
		[]string{"conn-rejected 3: session: overloaded: 2 connections awaiting HELLO"})
	// A completed handshake frees a slot.
	h.recv(1, &proto.Hello{Version: proto.Version})
	h.ready()
	h.step(Connected{Conn: 4})
	h.expect(nil, nil, nil)
	h.step(Connected{Conn: 5})
	h.expect([]string{`5: CLOSE overloaded "session: overloaded: 2 connections awaiting HELLO"`}, []ConnID{5},
		[]string{"conn-rejected 5: session: overloaded: 2 connections awaiting HELLO"})
	// So does a disconnect.
	h.step(Disconnected{Conn: 2})
	h.step(Connected{Conn: 6})
	h.expect(nil, nil, nil)
	if st := h.s.Stats(); st.Connections != 3 {
		t.Fatalf("Connections = %d, want 3 (1, 4, 6)", st.Connections)
	}
	if err := h.s.Step(h.now, Connected{Conn: 6}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Connected with a live ConnID: %v, want ErrInvalid", err)
	}
}

func TestServerMaxSessions(t *testing.T) {
	h := newSrv(t, ServerConfig{MaxSessions: 1})
	w := h.accept(1)
	h.step(Connected{Conn: 2})
	h.recv(2, &proto.Hello{Version: proto.Version})
	rd := h.expect([]string{`2: CLOSE overloaded "session: overloaded: 1 sessions"`}, []ConnID{2},
		[]string{"conn-rejected 2: session: overloaded: 1 sessions"})
	if cr := rd.Events[0].(*ConnRejected); !errors.Is(cr.Err, ErrOverloaded) {
		t.Fatalf("ConnRejected.Err = %v", cr.Err)
	}
	// A resume of the existing session is no new session: it is allowed.
	h.step(Disconnected{Conn: 1})
	h.ready()
	h.step(Connected{Conn: 3})
	h.recv(3, &proto.Hello{Version: proto.Version, Resume: &proto.Resume{ID: w.ID, Token: w.Token, Attempt: 3}})
	_, rd = h.ready()
	eq(t, "events", eventStrings(rd.Events), []string{"resumed " + w.ID.String()})
	// Once the session ends, a new one fits.
	h.step(Kick{Client: w.ID})
	h.ready()
	h.accept(4)
}

func TestServerAuthorizeRefusesFirstConnect(t *testing.T) {
	var seen []AuthRequest
	h := newSrv(t, ServerConfig{Authorize: func(r AuthRequest) error {
		seen = append(seen, r)
		if string(r.Auth) != "good" {
			return errors.New("bad credentials")
		}
		return nil
	}})
	h.step(Connected{Conn: 1})
	h.recv(1, &proto.Hello{Version: proto.Version, Auth: []byte("bad")})
	h.expect([]string{`1: CLOSE policy "session: unauthorized: bad credentials"`}, []ConnID{1},
		[]string{"conn-rejected 1: session: unauthorized: bad credentials"})
	h.step(Connected{Conn: 2})
	h.recv(2, &proto.Hello{Version: proto.Version, Auth: []byte("good")})
	_, rd := h.ready()
	st := rd.Events[0].(*SessionStarted)
	if st.Conn != 2 || string(st.Auth) != "good" {
		t.Fatalf("SessionStarted %+v", st)
	}
	if len(seen) != 2 {
		t.Fatalf("Authorize ran %d times, want 2", len(seen))
	}
	for i, want := range []AuthRequest{{Conn: 1, Auth: []byte("bad")}, {Conn: 2, Auth: []byte("good")}} {
		if seen[i].Conn != want.Conn || string(seen[i].Auth) != string(want.Auth) || seen[i].Resume || !seen[i].Client.IsZero() {
			t.Fatalf("AuthRequest %d = %+v, want %+v", i, seen[i], want)
		}
	}
	if st := h.s.Stats(); st.Sessions != 1 || st.SessionsStarted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// The authorization hook runs on every resume; refusing one ends the
// session, reported with what it lost, and the client is told CLOSE policy.
func TestServerAuthorizeRefusesResume(t *testing.T) {
	revoked := false
	var seen []AuthRequest
	p := newPump(t, ServerConfig{Authorize: func(r AuthRequest) error {
		seen = append(seen, r)
		if revoked {
			return errors.New("revoked")
		}
		return nil
	}}, ClientConfig{Auth: []byte("tok")}, 1)
	c1 := p.c(1)
	p.handshake(c1)
	id := c1.m.ID()
	p.sendTo(c1, "x")
	p.send(c1, "a")
	p.ready()
	p.cut(c1)
	p.takeTrace()
	p.takeEvents(c1)
	p.takeServerEvents()

	revoked = true
	p.connect(c1)
	p.stabilize()
	eq(t, "trace", p.takeTrace(), []string{
		"c1 -> s: HELLO v=1 resume=<c1> ack=0 attempt=2 auth=3B",
		`s -> c1: CLOSE policy "session: unauthorized: revoked"`,
		"s -> c1: FIN",
		"c1 -> s: FIN",
	})
	eq(t, "server events", p.takeServerEvents(), []string{
		"session-closed <c1>: session: closed by local: policy: session: unauthorized: revoked unacked=[1] requests=[] last=0",
		"conn-rejected 2: session: unauthorized: revoked",
	})
	eq(t, "client events", p.takeEvents(c1), []string{
		"closed: session: closed by peer: policy: session: unauthorized: revoked unacked=[1] requests=[] last=0",
	})
	if len(seen) != 2 || !seen[1].Resume || seen[1].Client != id || seen[1].Conn != 2 || string(seen[1].Auth) != "tok" {
		t.Fatalf("AuthRequests %+v", seen)
	}
	if st := p.srv.Stats(); st.Sessions != 0 {
		t.Fatalf("Sessions = %d, want 0", st.Sessions)
	}
}

func TestServerRejectsBadHandshakes(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	h.step(Connected{Conn: 1})
	h.recv(1, &proto.Hello{Version: 2})
	h.expect([]string{`1: CLOSE unsupported-version "session: protocol violation: version 2, want 1"`}, []ConnID{1},
		[]string{"conn-rejected 1: session: protocol violation: version 2, want 1"})

	h.step(Connected{Conn: 2})
	h.recv(2, &proto.Ack{Ack: 0})
	h.expect([]string{`2: CLOSE protocol-error "session: protocol violation: ACK before HELLO"`}, []ConnID{2},
		[]string{"conn-rejected 2: session: protocol violation: ACK before HELLO"})

	h.step(Connected{Conn: 3})
	h.step(Recv{Conn: 3, Data: []byte{0x01}})
	_, rd := h.ready()
	if len(rd.Hangup) != 1 || rd.Hangup[0] != 3 || !errors.Is(rd.Events[0].(*ConnRejected).Err, ErrProtocol) {
		t.Fatalf("garbage: hangup %v events %q", rd.Hangup, eventStrings(rd.Events))
	}
	if st := h.s.Stats(); st.ProtocolErrors != 2 || st.Connections != 0 || st.Sessions != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerSecondHelloAndRoomTaggedDataAreViolations(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	w := h.accept(1)
	h.recv(1, &proto.Hello{Version: proto.Version})
	h.expect([]string{`1: CLOSE protocol-error "session: protocol violation: second HELLO"`}, []ConnID{1},
		[]string{"session-closed " + w.ID.String() + ": session: closed by local: protocol-error: session: protocol violation: second HELLO unacked=[] requests=[] last=0"})

	w = h.accept(2)
	h.recv(2, &proto.Data{Seq: 1, Payload: []byte("x"), Room: "r"})
	h.expect([]string{`2: CLOSE protocol-error "session: protocol violation: client DATA tagged with room \"r\""`}, []ConnID{2},
		[]string{"session-closed " + w.ID.String() + `: session: closed by local: protocol-error: session: protocol violation: client DATA tagged with room "r" unacked=[] requests=[] last=0`})
}

func TestServerIdleTimeoutDetachesThenExpires(t *testing.T) {
	h := newSrv(t, ServerConfig{HeartbeatInterval: 10 * time.Second, ResumeWindow: time.Minute})
	w := h.accept(1)
	id := w.ID.String()
	h.step(Send{To: w.ID, Payload: []byte("x")})
	rd := h.expect([]string{`1: DATA seq=1 ack=0 "x"`}, nil, nil)
	if want := t0.Add(25 * time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want the idle timeout (2.5 × heartbeat) %s", rd.Deadline, want)
	}
	h.at(25 * time.Second)
	h.step(Timeout{})
	rd = h.expect([]string{`1: CLOSE idle-timeout "nothing received"`}, []ConnID{1},
		[]string{"detached " + id + ": session: idle timeout"})
	if d := rd.Events[0].(*Detached); d.Conn != 1 || !errors.Is(d.Err, ErrIdleTimeout) {
		t.Fatalf("Detached %+v", d)
	}
	if want := t0.Add(85 * time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want the end of the resume window %s", rd.Deadline, want)
	}
	if st := h.s.Stats(); st.Detached != 1 || st.Sessions != 1 || st.Connections != 0 {
		t.Fatalf("stats %+v", st)
	}
	h.at(85 * time.Second)
	h.step(Timeout{})
	rd = h.expect(nil, nil, []string{"session-closed " + id + ": session: resume window expired unacked=[1] requests=[] last=0"})
	if sc := rd.Events[0].(*SessionClosed); !errors.Is(sc.Err, ErrExpired) || string(sc.Lost.Unacked[0].Payload) != "x" {
		t.Fatalf("SessionClosed %+v", sc)
	}
	if st := h.s.Stats(); st.Detached != 0 || st.Sessions != 0 || st.SessionsLost != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerKick(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{}, 2)
	c1, c2 := p.c(1), p.c(2)
	p.handshake(c1)
	p.handshake(c2)
	p.takeTrace()
	p.takeEvents(c1)
	p.takeServerEvents()
	p.sendTo(c1, "x")
	p.ready()
	p.dropDown(c1)
	must(t, p.srv.Step(p.now, Kick{Client: c1.m.ID(), Reason: "bye"}))
	p.stabilize()
	eq(t, "trace", p.takeTrace(), []string{
		`s ->x c1: DATA seq=1 ack=0 "x"`,
		`s -> c1: CLOSE policy "bye"`,
		"s -> c1: FIN",
		"c1 -> s: FIN",
	})
	evs := p.sevents
	eq(t, "server events", p.takeServerEvents(), []string{
		"session-closed <c1>: session: closed by local: policy: bye unacked=[1] requests=[] last=0",
	})
	var ce *CloseError
	if !errors.As(evs[0].(*SessionClosed).Err, &ce) || ce.Code != proto.ClosePolicy {
		t.Fatalf("SessionClosed.Err %v", evs[0].(*SessionClosed).Err)
	}
	eq(t, "client events", p.takeEvents(c1), []string{"closed: session: closed by peer: policy: bye unacked=[] requests=[] last=0"})
	eq(t, "other client events", p.takeEvents(c2), []string{"session-started <c2>"})
	if err := p.srv.Step(p.now, Kick{Client: c1.m.ID()}); !errors.Is(err, ErrUnknownClient) {
		t.Fatalf("Kick of an ended session: %v, want ErrUnknownClient", err)
	}
	if got := p.srv.Sessions(); len(got) != 1 || got[0] != c2.m.ID() {
		t.Fatalf("Sessions() = %v, want only c2", got)
	}
}

// A client may itself close with going-away: the session stays resumable.
func TestServerClientGoingAwayDetaches(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	w := h.accept(1)
	h.recv(1, &proto.Close{Code: proto.CloseGoingAway, Reason: "moving"})
	rd := h.expect(nil, []ConnID{1}, []string{"detached " + w.ID.String() + ": session: closed by peer: going-away: moving"})
	if d := rd.Events[0].(*Detached); d.Conn != 1 {
		t.Fatalf("Detached.Conn = %d, want 1", d.Conn)
	}
	h.step(Connected{Conn: 2})
	h.recv(2, &proto.Hello{Version: proto.Version, Resume: &proto.Resume{ID: w.ID, Token: w.Token, Attempt: 2}})
	_, rd = h.ready()
	eq(t, "events", eventStrings(rd.Events), []string{"resumed " + w.ID.String()})
}

func TestServerKickDetachedSession(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	w := h.accept(1)
	h.step(Disconnected{Conn: 1})
	h.expect(nil, nil, []string{"detached " + w.ID.String() + ": <nil>"})
	h.step(Kick{Client: w.ID, Reason: "gone"})
	h.expect(nil, nil, []string{"session-closed " + w.ID.String() + ": session: closed by local: policy: gone unacked=[] requests=[] last=0"})
	if st := h.s.Stats(); st.Detached != 0 || st.Sessions != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Shutdown sends CLOSE going-away; clients reconnect. The shutting-down
// machine turns new connections away with going-away too, so clients keep
// dialing; a restarted server without the state tells them the session is
// lost, with exactly what they never got acknowledged.
func TestServerShutdown(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{}, 2)
	c1, c2 := p.c(1), p.c(2)
	p.handshake(c1)
	p.handshake(c2)
	p.takeTrace()
	p.takeEvents(c1)
	p.takeEvents(c2)
	p.takeServerEvents()

	must(t, p.srv.Step(p.now, Shutdown{Reason: "restart"}))
	p.stabilize()
	eq(t, "trace", p.takeTrace(), []string{
		`s -> c1: CLOSE going-away "restart"`,
		"s -> c1: FIN",
		`s -> c2: CLOSE going-away "restart"`,
		"s -> c2: FIN",
		"c1 -> s: FIN",
		"c2 -> s: FIN",
	})
	for i, ev := range p.sevents {
		if d := ev.(*Detached); d.Conn != ConnID(i+1) {
			t.Fatalf("Detached %d names connection %d, want %d", i, d.Conn, i+1)
		}
	}
	eq(t, "server events", p.takeServerEvents(), []string{
		"detached <c1>: session: closed by local: going-away: restart",
		"detached <c2>: session: closed by local: going-away: restart",
	})
	for _, pc := range []*pclient{c1, c2} {
		evs := pc.events
		got := p.takeEvents(pc)
		if len(got) != 2 || got[0] != "connection-lost: session: closed by peer: going-away: restart" || evs[1].(*Dial).Attempt != 1 {
			t.Fatalf("%s events %q", pc.name, got)
		}
	}

	p.send(c1, "m")
	p.connect(c1)
	p.stabilize()
	// Turned away at once, before its HELLO is read.
	eq(t, "trace", p.takeTrace(), []string{
		`s -> c1: CLOSE going-away "server shutting down"`,
		"s -> c1: FIN",
		"c1 -> s: HELLO v=1 resume=<c1> ack=0 attempt=2",
		"c1 -> s: FIN",
	})
	if got := p.takeEvents(c1); len(got) != 2 || got[0] != "connection-lost: session: closed by peer: going-away: server shutting down" {
		t.Fatalf("c1 events %q", got)
	}

	// A restarted process without the sessions.
	p.srv = NewServer(ServerConfig{Rand: seeded(2)})
	p.connect(c1)
	p.stabilize()
	tr := p.takeTrace()
	eq(t, "trace", tr[:1], []string{"c1 -> s: HELLO v=1 resume=<c1> ack=0 attempt=3"})
	evs := c1.events
	eq(t, "c1 events", p.takeEvents(c1), []string{
		`session-lost <c1>: session: resume refused unacked=[1] requests=[] last=0`,
		"session-started <c1#2>",
	})
	sl := evs[0].(*SessionLost)
	if !errors.Is(sl.Err, ErrResumeRefused) || string(sl.Lost.Unacked[0].Payload) != "m" {
		t.Fatalf("SessionLost %+v", sl)
	}
	if st := c1.m.Stats(); st.SessionsLost != 1 || st.SessionsStarted != 2 {
		t.Fatalf("client stats %+v", st)
	}
}

func TestServerCommandErrors(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	unknown := testID(9)
	for _, in := range []Input{
		Send{To: unknown}, Call{To: unknown, ID: 1}, Reply{To: unknown, ID: 1},
		Join{Client: unknown, Room: "r"}, Leave{Client: unknown, Room: "r"}, Kick{Client: unknown},
	} {
		err := h.s.Step(h.now, in)
		if !errors.Is(err, ErrUnknownClient) || err.Error() != "session: unknown client: "+unknown.String() {
			t.Fatalf("%T to an unknown client: %v", in, err)
		}
	}
	for _, in := range []Input{JoinRoom{}, LeaveRoom{}, Close{}, Abort{}} {
		if err := h.s.Step(h.now, in); !errors.Is(err, ErrInvalid) || err.Error() != fmt.Sprintf("session: invalid command: %T is not a server input", in) {
			t.Fatalf("%T: %v", in, err)
		}
	}
	w := h.accept(1)
	if err := h.s.Step(h.now, Reply{To: w.ID, ID: 5}); !errors.Is(err, ErrUnknownRequest) {
		t.Fatalf("Reply to a request never received: %v", err)
	}
	if err := h.s.Step(h.now, Send{To: w.ID, Payload: make([]byte, DefaultMaxMessageSize)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Send of 1 MiB: %v, want ErrTooLarge", err)
	}
}

// A connection that vanishes before HELLO frees its slot and its timer.
func TestServerDisconnectBeforeHello(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	h.step(Connected{Conn: 1})
	h.step(Disconnected{Conn: 1})
	rd := h.expect(nil, nil, nil)
	if !rd.Deadline.IsZero() || h.s.pending != 0 || h.s.timers.Len() != 0 {
		t.Fatalf("deadline %s pending %d timers %d", rd.Deadline, h.s.pending, h.s.timers.Len())
	}
}
