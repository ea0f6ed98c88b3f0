package session

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// A resume retransmits exactly what the other side has not received, in
// order, in both directions, and each message is delivered once.
func TestResumeRetransmitsBothDirectionsExactlyOnce(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	p.handshake(c1)
	p.send(c1, "a")
	p.send(c1, "b")
	p.stabilize()
	p.send(c1, "c")
	p.ready()
	p.send(c1, "d")
	p.sendTo(c1, "x")
	p.sendTo(c1, "y")
	p.ready()
	p.deliverUp(c1) // "c" reaches the server
	p.ready()
	p.dropDown(c1) // "x" and "y"
	p.dropDown(c1) // the server's ACK 3
	p.cut(c1)
	eq(t, "before the cut", p.takeTrace()[6:], []string{
		`c1 -> s: DATA seq=3 ack=0 "c"`,
		`s ->x c1: DATA seq=1 ack=2 "x"`,
		`s ->x c1: DATA seq=2 ack=2 "y"`,
		"s ->x c1: ACK 3",
	})
	p.takeEvents(c1)
	eq(t, "server events", p.takeServerEvents()[3:], []string{
		`delivered seq=3 "c"`,
		"detached <c1>: EOF",
	})

	p.connect(c1)
	p.stabilize()
	eq(t, "resume", p.takeTrace(), []string{
		"c1 -> s: HELLO v=1 resume=<c1> ack=0 attempt=2",
		"s -> c1: WELCOME id=<c1> hb=30s idle=1m15s resumed=true seq=0 ack=3",
		`s -> c1: DATA seq=1 ack=3 "x"`,
		`s -> c1: DATA seq=2 ack=3 "y"`,
		`c1 -> s: DATA seq=4 ack=2 "d"`,
		"s -> c1: ACK 4",
	})
	eq(t, "client events", p.takeEvents(c1), []string{"resumed <c1>", `delivered seq=1 "x"`, `delivered seq=2 "y"`})
	eq(t, "server events", p.takeServerEvents(), []string{"resumed <c1>", `delivered seq=4 "d"`})
	cs, ss := c1.m.Stats(), p.srv.Stats()
	if cs.Retransmits != 1 || ss.Retransmits != 2 || cs.Resumes != 1 || ss.Resumes != 1 || ss.Delivered != 4 || cs.Delivered != 2 {
		t.Fatalf("client %+v\nserver %+v", cs, ss)
	}
	if c1.m.link.unacked() != 0 || p.srv.sessions[c1.m.ID()].link.unacked() != 0 {
		t.Fatalf("unacked frames remain after the resume settled")
	}
}

// A HELLO presenting a live session's ID with a wrong token starts a new
// session; the real one is untouched, still attached and still working.
func TestResumeWrongTokenStartsNewSession(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{}, 2)
	victim, mallory := p.c(1), p.c(2)
	p.handshake(victim)
	p.takeTrace()
	p.takeServerEvents()
	p.takeEvents(victim)
	vid := victim.m.ID()

	mallory.m.id, mallory.m.have = vid, true
	mallory.m.token = append(mallory.m.token[:0], testToken(0xee)...)
	p.connect(mallory)
	p.stabilize()
	eq(t, "mallory's handshake", p.takeTrace(), []string{
		"c2 -> s: HELLO v=1 resume=<c1> ack=0 attempt=1",
		"s -> c2: WELCOME id=<c2> hb=30s idle=1m15s resumed=false seq=0 ack=0",
		"c2 -> s: ACK 0",
	})
	eq(t, "server events", p.takeServerEvents(), []string{"session-started <c2>"})
	eq(t, "mallory's events", p.takeEvents(mallory), []string{
		"session-lost <c1>: session: resume refused unacked=[] requests=[] last=0",
		"session-started <c2>",
	})
	if mallory.m.ID() == vid {
		t.Fatalf("mallory got the victim's ID")
	}
	p.sendTo(victim, "for the victim")
	p.stabilize()
	eq(t, "victim unaffected", p.takeTrace(), []string{
		`s -> c1: DATA seq=1 ack=0 "for the victim"`,
		"c1 -> s: ACK 1",
	})
	eq(t, "victim events", p.takeEvents(victim), []string{`delivered seq=1 "for the victim"`})
	eq(t, "mallory events", p.takeEvents(mallory), nil)
	if st := p.srv.Stats(); st.Sessions != 2 || st.Resumes != 0 || st.Detached != 0 {
		t.Fatalf("server stats %+v", st)
	}
}

// resumeHello is the HELLO of a scripted client resuming id with token on
// its connection attempt n (scripted clients number attempts by ConnID).
func resumeHello(id proto.ClientID, token []byte, ack uint64, n ConnID) *proto.Hello {
	return &proto.Hello{Version: proto.Version, Resume: &proto.Resume{ID: id, Token: token, Ack: ack, Attempt: uint64(n)}}
}

// tryResume connects conn, presents token and returns the WELCOME.
func (h *srv) tryResume(conn ConnID, id proto.ClientID, token []byte) *proto.Welcome {
	h.t.Helper()
	h.step(Connected{Conn: conn})
	h.recv(conn, resumeHello(id, token, 0, conn))
	rd := h.s.Ready()
	w, ok := decodeAll(h.t, rd.Transmit[0].Data)[0].(*proto.Welcome)
	if !ok {
		h.t.Fatalf("no WELCOME on %d", conn)
	}
	return w
}

// The token rotates on every WELCOME. Until the client proves it has the
// new one, the previous one still works (the WELCOME may have been lost
// with its connection); afterwards only the newest does.
func TestResumeTokenRotation(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	w1 := h.accept(1) // ACK 0 confirms T1
	id, t1 := w1.ID, w1.Token
	h.step(Disconnected{Conn: 1})

	w2 := h.tryResume(2, id, t1) // WELCOME T2 is lost with connection 2
	if !w2.Resumed || string(w2.Token) == string(t1) {
		t.Fatalf("resume 2: resumed %t, token rotated %t", w2.Resumed, string(w2.Token) != string(t1))
	}
	h.step(Disconnected{Conn: 2})

	w3 := h.tryResume(3, id, t1) // T1 still works: T2 was never confirmed
	if !w3.Resumed || w3.ID != id {
		t.Fatalf("resume 3 with the unconfirmed-previous token refused")
	}
	h.step(Disconnected{Conn: 3})

	w4 := h.tryResume(4, id, w3.Token) // the client got T3
	if !w4.Resumed {
		t.Fatalf("resume 4 with the newest token refused")
	}
	h.recv(4, &proto.Ack{Ack: 0}) // confirms T4
	h.ready()
	h.step(Disconnected{Conn: 4})
	h.ready()

	for i, stale := range [][]byte{t1, w2.Token, w3.Token} {
		w := h.tryResume(ConnID(10+i), id, stale)
		if w.Resumed || w.ID == id {
			t.Fatalf("stale token %d resumed the session", i)
		}
	}
	w5 := h.tryResume(20, id, w4.Token)
	if !w5.Resumed || w5.ID != id {
		t.Fatalf("the confirmed newest token was refused")
	}
}

// A client that received the new token but whose confirmation was lost
// resumes with the new token; if that WELCOME is lost too, the token it
// holds must still work.
func TestResumeTokenSurvivesLostConfirmationThenLostWelcome(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	w1 := h.accept(1)
	id := w1.ID
	h.step(Disconnected{Conn: 1})
	w2 := h.tryResume(2, id, w1.Token) // WELCOME T2 arrives; the client's ACK does not
	h.step(Disconnected{Conn: 2})
	w3 := h.tryResume(3, id, w2.Token) // resume with T2: WELCOME T3 is lost
	if !w3.Resumed {
		t.Fatalf("resume with the unconfirmed new token refused")
	}
	h.step(Disconnected{Conn: 3})
	w4 := h.tryResume(4, id, w2.Token) // the client still holds T2
	if !w4.Resumed || w4.ID != id {
		t.Fatalf("the token the client holds (proven on the previous resume) was refused: session stranded")
	}
	// T1 is no longer needed once T2 was presented.
	h.step(Disconnected{Conn: 4})
	if w := h.tryResume(5, id, w1.Token); w.Resumed {
		t.Fatalf("T1 still resumes after the client proved it holds T2")
	}
}

// A session not resumed within its window ends on both sides, each
// reporting exactly what it never got acknowledged.
func TestResumeAfterWindowLosesSessionOnBothSides(t *testing.T) {
	p := newPump(t, ServerConfig{ResumeWindow: time.Minute}, ClientConfig{}, 1)
	c1 := p.c(1)
	p.handshake(c1)
	p.sendTo(c1, "x")
	p.stabilize()
	p.sendTo(c1, "y")
	p.sendTo(c1, "z")
	must(t, p.srv.Step(p.now, Call{To: c1.m.ID(), ID: 9, Payload: []byte("q?"), Timeout: time.Hour}))
	p.send(c1, "a")
	must(t, c1.m.Step(p.now, Call{ID: 4, Payload: []byte("r?"), Timeout: time.Hour}))
	p.ready()
	p.cut(c1)
	p.takeTrace()
	p.takeEvents(c1)
	p.takeServerEvents()

	p.advance(time.Minute)
	evs := p.sevents
	eq(t, "server events", p.takeServerEvents(), []string{
		"response id=9 error: session: session lost",
		"session-closed <c1>: session: resume window expired unacked=[2 3 4] requests=[9] last=0",
	})
	sc := evs[1].(*SessionClosed)
	if !errors.Is(sc.Err, ErrExpired) || string(sc.Lost.Unacked[0].Payload) != "y" ||
		sc.Lost.Unacked[2].Type != proto.TypeRequest || sc.Lost.Unacked[2].ID != 9 || sc.Lost.LastReceived != 0 {
		t.Fatalf("SessionClosed %+v", sc)
	}

	p.connect(c1)
	p.stabilize()
	eq(t, "trace", p.takeTrace(), []string{
		"c1 -> s: HELLO v=1 resume=<c1> ack=1 attempt=2",
		"s -> c1: WELCOME id=<c1#2> hb=30s idle=1m15s resumed=false seq=0 ack=0",
		"c1 -> s: ACK 0",
	})
	evs = c1.events
	eq(t, "client events", p.takeEvents(c1), []string{
		"response id=4 error: session: session lost",
		"session-lost <c1>: session: resume refused unacked=[1 2] requests=[4] last=1",
		"session-started <c1#2>",
	})
	sl := evs[1].(*SessionLost)
	if !errors.Is(sl.Err, ErrResumeRefused) || string(sl.Lost.Unacked[0].Payload) != "a" || sl.Lost.Unacked[1].ID != 4 {
		t.Fatalf("SessionLost %+v", sl)
	}
	// The new session starts from scratch.
	p.send(c1, "fresh")
	p.stabilize()
	eq(t, "new session", p.takeTrace(), []string{`c1 -> s: DATA seq=1 ack=0 "fresh"`, "s -> c1: ACK 1"})
}

func TestEvictionMaxDetachedOldestFirst(t *testing.T) {
	h := newSrv(t, ServerConfig{MaxDetached: 2})
	var ids []proto.ClientID
	for conn := ConnID(1); conn <= 3; conn++ {
		ids = append(ids, h.accept(conn).ID)
	}
	h.step(Send{To: ids[0], Payload: []byte("p")})
	h.ready()
	h.step(Disconnected{Conn: 1})
	h.at(time.Second)
	h.step(Disconnected{Conn: 2})
	h.expect(nil, nil, []string{"detached " + ids[0].String() + ": <nil>", "detached " + ids[1].String() + ": <nil>"})
	h.at(2 * time.Second)
	h.step(Disconnected{Conn: 3})
	rd := h.expect(nil, nil, []string{
		"detached " + ids[2].String() + ": <nil>",
		"session-closed " + ids[0].String() + ": session: evicted unacked=[1] requests=[] last=0",
	})
	if sc := rd.Events[1].(*SessionClosed); !errors.Is(sc.Err, ErrEvicted) {
		t.Fatalf("SessionClosed.Err = %v", sc.Err)
	}
	if st := h.s.Stats(); st.Detached != 2 || st.Sessions != 2 {
		t.Fatalf("stats %+v", st)
	}
	// A resumed session leaves the detached list: the others stay.
	h.tryResume(4, ids[1], testToken(0)) // wrong token: a new, attached session
	h.ready()
	if st := h.s.Stats(); st.Detached != 2 || st.Sessions != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEvictionMaxDetachedBytes(t *testing.T) {
	h := newSrv(t, ServerConfig{MaxDetachedBytes: 100})
	a, b := h.accept(1).ID, h.accept(2).ID
	h.step(Disconnected{Conn: 1})
	h.step(Disconnected{Conn: 2})
	h.ready()
	// Bytes queued for detached sessions count against the budget.
	h.step(Send{To: a, Payload: make([]byte, 60)})
	h.expect(nil, nil, nil)
	h.step(Send{To: b, Payload: make([]byte, 41)})
	h.expect(nil, nil, []string{"session-closed " + a.String() + ": session: evicted unacked=[1] requests=[] last=0"})
	if h.s.detachedBytes != 41 || h.s.detachedN != 1 {
		t.Fatalf("detached bytes %d sessions %d, want 41 1", h.s.detachedBytes, h.s.detachedN)
	}
	// A session that detaches holding bytes counts them too.
	c := h.accept(3).ID
	h.step(Send{To: c, Payload: make([]byte, 70)})
	h.ready()
	h.step(Disconnected{Conn: 3})
	h.expect(nil, nil, []string{
		"detached " + c.String() + ": <nil>",
		"session-closed " + b.String() + ": session: evicted unacked=[1] requests=[] last=0",
	})
	if h.s.detachedBytes != 70 || h.s.detachedN != 1 {
		t.Fatalf("detached bytes %d sessions %d, want 70 1", h.s.detachedBytes, h.s.detachedN)
	}
}

// The client resumes while the server still holds its old connection
// (half-open). The old one gets CLOSE superseded and is hung up; nothing
// that arrives or happens on it later touches the resumed session.
func TestResumeOverHalfOpenConnection(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	p.handshake(c1)
	p.send(c1, "a")
	p.ready()
	stale := c1.up[0] // "a" on connection 1, to be delivered late
	p.cutClientSide(c1)
	p.takeTrace()
	p.takeEvents(c1)
	p.takeServerEvents()
	if st := p.srv.Stats(); st.Detached != 0 || st.Connections != 1 {
		t.Fatalf("server should still see connection 1: %+v", st)
	}

	p.connect(c1)
	p.deliverUp(c1) // HELLO on 2
	// Before Ready hangs it up, the superseded connection is already dead
	// to the session: its late frames and disconnect are ignored.
	must(t, p.srv.Step(p.now, Recv{Conn: stale.conn, Data: stale.data}))
	must(t, p.srv.Step(p.now, Disconnected{Conn: stale.conn, Err: errEOF}))
	rd := p.srv.Ready()
	eq(t, "server output", serverWire(t, rd.Transmit), []string{
		`1: CLOSE superseded "resumed on another connection"`,
		"2: WELCOME id=" + c1.m.ID().String() + " hb=30s idle=1m15s resumed=true seq=0 ack=0",
	})
	eq(t, "hangups", rd.Hangup, []ConnID{1})
	eq(t, "server events", eventStrings(rd.Events), []string{"resumed " + c1.m.ID().String()})
	for _, o := range rd.Transmit {
		if o.Conn == 2 {
			c1.down = append(c1.down, msg{conn: 2, data: o.Data})
		}
	}
	p.stabilize()
	eq(t, "resume", p.takeTrace(), []string{
		"c1 -> s: HELLO v=1 resume=<c1> ack=0 attempt=2",
		"s -> c1: WELCOME id=<c1> hb=30s idle=1m15s resumed=true seq=0 ack=0",
		`c1 -> s: DATA seq=1 ack=0 "a"`,
		"s -> c1: ACK 1",
	})
	eq(t, "server events", p.takeServerEvents(), []string{`delivered seq=1 "a"`})

	// After the hangup, too.
	must(t, p.srv.Step(p.now, Recv{Conn: stale.conn, Data: stale.data}))
	must(t, p.srv.Step(p.now, Disconnected{Conn: stale.conn, Err: errEOF}))
	p.ready()
	if len(p.sevents) != 0 || p.busy() {
		t.Fatalf("late input of connection 1 had an effect: %q", p.takeServerEvents())
	}
	if st := p.srv.Stats(); st.Detached != 0 || st.Connections != 1 || st.Delivered != 1 || st.DuplicatesDropped != 0 {
		t.Fatalf("server stats %+v", st)
	}
	// The old epoch's idle deadline is gone: the session times out only
	// relative to its new connection.
	p.run(time.Minute)
	eq(t, "events", p.takeServerEvents(), nil)
}

// A resume HELLO whose ack is outside what the server ever sent is a
// protocol violation: the session ends, reported.
func TestResumeAckOutOfRangeEndsSession(t *testing.T) {
	h, w := sentThenDetached(t, "x")
	h.step(Connected{Conn: 2})
	h.recv(2, resumeHello(w.ID, w.Token, 5, 2))
	h.expect([]string{`2: CLOSE protocol-error "session: protocol violation: resume ack 5 outside [0, 1]"`}, []ConnID{2}, []string{
		"session-closed " + w.ID.String() + ": session: closed by local: protocol-error: session: protocol violation: resume ack 5 outside [0, 1] unacked=[1] requests=[] last=0",
		"conn-rejected 2: session: protocol violation: resume ack 5 outside [0, 1]",
	})
}

// The server's idle timeout detaches the session and keeps it for a
// resume; the client that receives its CLOSE idle-timeout (its own
// traffic was lost, the server's was not) reconnects and resumes instead of
// ending the session.
func TestServerIdleTimeoutCloseIsResumedByClient(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	p.advance(50 * time.Second)
	p.sendTo(c1, "x")
	p.ready()
	for len(c1.down) > 0 {
		p.deliverDown(c1)
	}
	p.ready()
	for len(c1.up) > 0 {
		p.dropUp(c1) // the client's heartbeat and ack are lost
	}
	p.advance(25 * time.Second)
	p.stabilize()
	evs := c1.events
	eq(t, "client events", p.takeEvents(c1)[:2], []string{
		`delivered seq=1 "x"`,
		`connection-lost: session: closed by peer: idle-timeout: nothing received`,
	})
	if d, ok := evs[2].(*Dial); !ok || d.Attempt != 1 {
		t.Fatalf("no Dial after the server's idle timeout: %v", evs[2])
	}
	eq(t, "server events", p.takeServerEvents(), []string{"detached <c1>: session: idle timeout"})
	p.takeTrace()
	p.connect(c1)
	p.stabilize()
	eq(t, "resume", p.takeTrace(), []string{
		"c1 -> s: HELLO v=1 resume=<c1> ack=1 attempt=2",
		"s -> c1: WELCOME id=<c1> hb=30s idle=1m15s resumed=true seq=0 ack=0",
		"c1 -> s: ACK 1",
	})
	eq(t, "client events", p.takeEvents(c1), []string{"resumed <c1>"})
}

// Likewise a connection the server closes for a slow handshake: the
// session it would have resumed is still there.
func TestServerHandshakeTimeoutCloseIsRetriedByClient(t *testing.T) {
	p := settled(t, ServerConfig{HandshakeTimeout: time.Second}, ClientConfig{}, 1)
	c1 := p.c(1)
	p.cut(c1)
	p.connect(c1)
	p.dropUp(c1) // the HELLO is slow: lost here
	p.advance(time.Second)
	p.stabilize()
	got := p.takeEvents(c1)
	eq(t, "client events", []string{got[0], got[2]}, []string{
		"connection-lost: EOF",
		`connection-lost: session: closed by peer: handshake-timeout: session: handshake timeout`,
	})
	if !strings.HasPrefix(got[3], "dial attempt=2 ") || len(got) != 4 {
		t.Fatalf("events %q, want a second Dial last", got)
	}
	p.connect(c1)
	p.stabilize()
	eq(t, "client events", p.takeEvents(c1), []string{"resumed <c1>"})
}

// A HELLO read late from a connection the client already replaced carries an
// older attempt number. Its token is still valid (the newer WELCOME is not
// confirmed yet), but it must not take the session from the newer
// connection: it is refused and the session stays where it is.
func TestServerRefusesStaleResumeAttempt(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	w := h.accept(1)
	h.step(Disconnected{Conn: 1})
	h.ready()
	h.step(Connected{Conn: 2})
	h.step(Connected{Conn: 3})
	h.recv(2, resumeHello(w.ID, w.Token, 0, 2))
	h.ready()
	h.recv(3, resumeHello(w.ID, w.Token, 0, 1))
	const why = "session: protocol violation: stale resume attempt 1, session is at 2"
	h.expect([]string{`3: CLOSE superseded "` + why + `"`}, []ConnID{3}, []string{"conn-rejected 3: " + why})
	must(t, h.s.Step(h.now, Send{To: w.ID, Payload: []byte("x")}))
	h.expect([]string{`2: DATA seq=1 ack=0 "x"`}, nil, nil)
	if st := h.s.Stats(); st.Sessions != 1 || st.Resumes != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A Close while the connection is lost does not give up what is pending:
// the client dials at once (not after its backoff), resumes, and closes
// once the server has acknowledged everything.
func TestCloseAcrossAReconnect(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{ReconnectMin: time.Hour, ReconnectMax: time.Hour}, 1)
	c1 := p.c(1)
	sentAndLost(p, c1, "a")
	p.cut(c1)
	p.takeTrace()
	p.takeEvents(c1)
	p.takeServerEvents()
	closeBye(p, c1)
	eq(t, "close while disconnected: dial now", p.takeEvents(c1), []string{"dial attempt=1 at=" + p.now.Format(time.RFC3339)})
	p.connect(c1)
	p.stabilize()
	eq(t, "resumed, flushed, closed", p.takeTrace(), []string{
		"c1 -> s: HELLO v=1 resume=<c1> ack=0 attempt=2",
		"s -> c1: WELCOME id=<c1> hb=30s idle=1m15s resumed=true seq=0 ack=0",
		`c1 -> s: DATA seq=1 ack=0 "a"`,
		"s -> c1: ACK 1",
		`c1 -> s: CLOSE normal "bye"`,
		"c1 -> s: FIN",
		"s -> c1: FIN",
	})
	eq(t, "client events", p.takeEvents(c1), []string{"resumed <c1>", "closed: <nil> unacked=[] requests=[] last=0"})
	eq(t, "server events", p.takeServerEvents(), []string{
		"resumed <c1>", `delivered seq=1 "a"`, "session-closed <c1>: session: closed by peer: normal: bye unacked=[] requests=[] last=1",
	})
}

// A Close whose resume is refused reports what was pending as lost, with
// the refusal as the cause, and closes the new session it was offered.
func TestCloseWhoseResumeIsRefused(t *testing.T) {
	p := newPump(t, ServerConfig{ResumeWindow: time.Second}, ClientConfig{}, 1)
	c1 := p.c(1)
	sentAndLost(p, c1, "a")
	p.cut(c1)
	p.run(2 * time.Second) // the server forgets the session
	p.takeTrace()
	p.takeEvents(c1)
	p.takeServerEvents()
	closeBye(p, c1)
	p.takeEvents(c1)
	p.connect(c1)
	p.stabilize()
	eq(t, "client events", p.takeEvents(c1), []string{"closed: session: resume refused unacked=[1] requests=[] last=0"})
	eq(t, "the new session is closed at once", p.takeTrace(), []string{
		"c1 -> s: HELLO v=1 resume=<c1> ack=0 attempt=2",
		"s -> c1: WELCOME id=<c1#2> hb=30s idle=1m15s resumed=false seq=0 ack=0",
		`c1 -> s: CLOSE normal "bye"`,
		"c1 -> s: FIN",
		"s -> c1: FIN",
	})
}

// A connection lost while a Close waits for acknowledgements is re-dialled
// at once, not after the backoff.
func TestConnectionLostWhileClosing(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{ReconnectMin: time.Hour, ReconnectMax: time.Hour}, 1)
	c1 := p.c(1)
	sentAndLost(p, c1, "a")
	p.takeEvents(c1)
	must(t, c1.m.Step(p.now, Close{Reason: "bye"}))
	p.cut(c1)
	eq(t, "lost while closing: dial now", p.takeEvents(c1), []string{"connection-lost: EOF", "dial attempt=1 at=" + p.now.Format(time.RFC3339)})
	p.connect(c1)
	p.stabilize()
	eq(t, "client events", p.takeEvents(c1), []string{"resumed <c1>", "closed: <nil> unacked=[] requests=[] last=0"})
}

// CloseTimeout ends a Close whatever the connection is doing: here a
// reconnect whose HELLO goes unanswered, its handshake timing out at the
// same moment.
func TestCloseTimeoutDuringReconnect(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{CloseTimeout: time.Second, HandshakeTimeout: time.Second, ReconnectMin: time.Hour, ReconnectMax: time.Hour}, 1)
	c1 := p.c(1)
	sentAndLost(p, c1, "a")
	p.cut(c1)
	p.takeEvents(c1)
	closeBye(p, c1)
	p.connect(c1)
	p.ready()
	p.dropUp(c1) // the HELLO
	p.takeEvents(c1)
	p.run(time.Second)
	eq(t, "client events", p.takeEvents(c1), []string{"closed: <nil> unacked=[1] requests=[] last=0"})
	if !c1.deadline.IsZero() {
		t.Fatalf("a closed client has a deadline: %v", c1.deadline)
	}
}

// sentAndLost establishes pc's session, then has it send payload, which
// the network loses: it stays unacknowledged.
func sentAndLost(p *pump, pc *pclient, payload string) {
	p.t.Helper()
	p.handshake(pc)
	p.send(pc, payload)
	p.ready()
	p.dropUp(pc)
}

// closeBye closes client c gracefully ("bye") and drains the machines once.
func closeBye(p *pump, c *pclient) {
	p.t.Helper()
	must(p.t, c.m.Step(p.now, Close{Reason: "bye"}))
	p.ready()
}
