package session

import (
	"errors"
	"strings"
	"testing"

	"github.com/bettersocket/bettersocket/proto"
)

func ids(pcs ...*pclient) []proto.ClientID {
	out := make([]proto.ClientID, len(pcs))
	for i, pc := range pcs {
		out[i] = pc.m.ID()
	}
	return out
}

// Spec TODO scenario: several clients in a room all get the same message.
func TestRoomBroadcastWithExcept(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 3)
	c1, c2, c3 := p.c(1), p.c(2), p.c(3)
	for _, pc := range []*pclient{c1, c2, c3} {
		must(t, p.srv.Step(p.now, Join{Client: pc.m.ID(), Room: "lobby"}))
	}
	must(t, p.srv.Step(p.now, Join{Client: c1.m.ID(), Room: "lobby"})) // already in: no-op
	eq(t, "members", p.srv.Members("lobby"), ids(c1, c2, c3))
	must(t, p.srv.Step(p.now, Broadcast{Room: "lobby", Payload: []byte("hi all")}))
	must(t, p.srv.Step(p.now, Broadcast{Room: "lobby", Payload: []byte("not c2"), Except: c2.m.ID()}))
	p.stabilize()
	eq(t, "trace", p.takeTrace(), []string{
		`s -> c1: DATA seq=1 ack=0 "hi all" room="lobby"`,
		`s -> c1: DATA seq=2 ack=0 "not c2" room="lobby"`,
		`s -> c2: DATA seq=1 ack=0 "hi all" room="lobby"`,
		`s -> c3: DATA seq=1 ack=0 "hi all" room="lobby"`,
		`s -> c3: DATA seq=2 ack=0 "not c2" room="lobby"`,
		"c1 -> s: ACK 2",
		"c2 -> s: ACK 1",
		"c3 -> s: ACK 2",
	})
	evs := c2.events
	eq(t, "c1", p.takeEvents(c1), []string{`delivered seq=1 "hi all" room="lobby"`, `delivered seq=2 "not c2" room="lobby"`})
	eq(t, "c2", p.takeEvents(c2), []string{`delivered seq=1 "hi all" room="lobby"`})
	eq(t, "c3", p.takeEvents(c3), []string{`delivered seq=1 "hi all" room="lobby"`, `delivered seq=2 "not c2" room="lobby"`})
	if d := evs[0].(*Delivered); d.Room != "lobby" || d.Client != c2.m.ID() || string(d.Payload) != "hi all" {
		t.Fatalf("Delivered %+v", d)
	}

	must(t, p.srv.Step(p.now, Leave{Client: c1.m.ID(), Room: "lobby"}))
	must(t, p.srv.Step(p.now, Leave{Client: c1.m.ID(), Room: "lobby"})) // not in: no-op
	eq(t, "members after c1 left", p.srv.Members("lobby"), ids(c3, c2)) // swap-removal
	must(t, p.srv.Step(p.now, Broadcast{Room: "lobby", Payload: []byte("bye")}))
	p.stabilize()
	eq(t, "c1 after leaving", p.takeEvents(c1), nil)
	eq(t, "c2", p.takeEvents(c2), []string{`delivered seq=2 "bye" room="lobby"`})
	must(t, p.srv.Step(p.now, Leave{Client: c2.m.ID(), Room: "lobby"}))
	must(t, p.srv.Step(p.now, Leave{Client: c3.m.ID(), Room: "lobby"}))
	if m := p.srv.Members("lobby"); m != nil || len(p.srv.rooms) != 0 {
		t.Fatalf("an empty room remains: %v", m)
	}
	must(t, p.srv.Step(p.now, Broadcast{Room: "lobby", Payload: []byte("nobody")}))
	if p.srv.Ready().Transmit != nil {
		t.Fatalf("a broadcast to an empty room transmitted")
	}
}

func TestRoomCommandValidation(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	id := p.c(1).m.ID()
	long := strings.Repeat("r", proto.MaxRoomLen+1)
	for _, in := range []Input{
		Join{Client: id, Room: ""}, Join{Client: id, Room: long}, Join{Client: id, Room: "\xff"},
		Leave{Client: id, Room: ""}, Broadcast{Room: ""}, Broadcast{Room: long},
	} {
		if err := p.srv.Step(p.now, in); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%T %+v: %v, want ErrInvalid", in, in, err)
		}
	}
	if err := p.c(1).m.Step(p.now, JoinRoom{ID: 1, Room: long}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("JoinRoom with a long name: %v", err)
	}
}

// A client's JOIN is refused unless the server application allows it.
func TestClientJoinRoomRefusedByDefault(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	must(t, c1.m.Step(p.now, JoinRoom{ID: 1, Room: "vip"}))
	p.stabilize()
	eq(t, "trace", p.takeTrace(), []string{
		`c1 -> s: JOIN seq=1 ack=0 id=1 room="vip"`,
		`s -> c1: RESPONSE seq=1 ack=1 id=1 error=forbidden "room request refused"`,
		"c1 -> s: ACK 1",
	})
	evs := c1.events
	eq(t, "client events", p.takeEvents(c1), []string{"response id=1 error: session: remote error forbidden: room request refused"})
	var re *RemoteError
	if !errors.As(evs[0].(*Response).Err, &re) || re.Code != proto.ErrCodeForbidden {
		t.Fatalf("Response.Err = %v", evs[0].(*Response).Err)
	}
	if m := p.srv.Members("vip"); m != nil {
		t.Fatalf("members %v", m)
	}
	eq(t, "server events", p.takeServerEvents(), nil)
}

func TestClientJoinAndLeaveThroughAllowRoom(t *testing.T) {
	var seen []RoomRequest
	p := settled(t, ServerConfig{MaxRoomsPerSession: 1, AllowRoom: func(r RoomRequest) bool {
		seen = append(seen, r)
		return true
	}}, ClientConfig{}, 1)
	c1 := p.c(1)
	must(t, c1.m.Step(p.now, JoinRoom{ID: 1, Room: "a"}))
	must(t, c1.m.Step(p.now, JoinRoom{ID: 2, Room: "b"}))
	p.stabilize()
	eq(t, "client events", p.takeEvents(c1), []string{
		`response id=1 ""`,
		"response id=2 error: session: remote error limit: session: room limit reached: session <c1> is in 1 rooms",
	})
	eq(t, "members a", p.srv.Members("a"), ids(c1))
	eq(t, "members b", p.srv.Members("b"), nil)
	must(t, c1.m.Step(p.now, LeaveRoom{ID: 3, Room: "a"}))
	p.stabilize()
	eq(t, "client events", p.takeEvents(c1), []string{`response id=3 ""`})
	eq(t, "members a", p.srv.Members("a"), nil)
	eq(t, "room requests", seen, []RoomRequest{
		{Client: c1.m.ID(), Room: "a", Join: true},
		{Client: c1.m.ID(), Room: "b", Join: true},
		{Client: c1.m.ID(), Room: "a", Join: false},
	})
}

func TestRoomLimits(t *testing.T) {
	p := settled(t, ServerConfig{MaxRoomsPerSession: 2, MaxRoomMembers: 1}, ClientConfig{}, 2)
	a, b := p.c(1).m.ID(), p.c(2).m.ID()
	must(t, p.srv.Step(p.now, Join{Client: a, Room: "r1"}))
	must(t, p.srv.Step(p.now, Join{Client: a, Room: "r2"}))
	err := p.srv.Step(p.now, Join{Client: a, Room: "r3"})
	if !errors.Is(err, ErrLimit) || err.Error() != "session: room limit reached: session "+a.String()+" is in 2 rooms" {
		t.Fatalf("third room: %v", err)
	}
	err = p.srv.Step(p.now, Join{Client: b, Room: "r1"})
	if !errors.Is(err, ErrLimit) || err.Error() != `session: room limit reached: room "r1" has 1 members` {
		t.Fatalf("second member: %v", err)
	}
	if len(p.srv.rooms) != 2 {
		t.Fatalf("rooms %d, want 2 (a refused join must not create one)", len(p.srv.rooms))
	}
}

// Membership survives a resume, a broadcast reaches a detached member when
// it resumes, and membership ends with the session.
func TestRoomMembershipAcrossResumeAndEnd(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 2)
	c1, c2 := p.c(1), p.c(2)
	for _, pc := range []*pclient{c1, c2} {
		must(t, p.srv.Step(p.now, Join{Client: pc.m.ID(), Room: "r"}))
	}
	p.cut(c1)
	must(t, p.srv.Step(p.now, Broadcast{Room: "r", Payload: []byte("while away")}))
	p.stabilize()
	eq(t, "members while detached", p.srv.Members("r"), ids(c1, c2))
	p.takeTrace()
	p.connect(c1)
	p.stabilize()
	eq(t, "resume", p.takeTrace(), []string{
		"c1 -> s: HELLO v=1 resume=<c1> ack=0 attempt=2",
		"s -> c1: WELCOME id=<c1> hb=30s idle=1m15s resumed=true seq=0 ack=0",
		`s -> c1: DATA seq=1 ack=0 "while away" room="r"`,
		"c1 -> s: ACK 1",
	})
	eq(t, "c1", p.takeEvents(c1)[2:], []string{"resumed <c1>", `delivered seq=1 "while away" room="r"`})
	eq(t, "c2", p.takeEvents(c2), []string{`delivered seq=1 "while away" room="r"`})
	eq(t, "members after resume", p.srv.Members("r"), ids(c1, c2))

	must(t, p.srv.Step(p.now, Kick{Client: c1.m.ID()}))
	p.stabilize()
	eq(t, "members after the session ended", p.srv.Members("r"), ids(c2))
	if len(p.srv.sessions[c2.m.ID()].rooms) != 1 {
		t.Fatalf("c2's room index is wrong")
	}
}

func TestSlowConsumerBackpressure(t *testing.T) {
	p := settled(t, ServerConfig{LinkConfig: LinkConfig{MaxInflight: 2}}, ClientConfig{}, 2)
	c1, c2 := p.c(1), p.c(2)
	for _, pc := range []*pclient{c1, c2} {
		must(t, p.srv.Step(p.now, Join{Client: pc.m.ID(), Room: "r"}))
	}
	p.sendTo(c1, "1")
	p.sendTo(c1, "2")
	if err := p.srv.Step(p.now, Send{To: c1.m.ID(), Payload: []byte("3")}); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("third Send with MaxInflight 2: %v, want ErrBackpressure", err)
	}
	err := p.srv.Step(p.now, Broadcast{Room: "r", Payload: []byte("b")})
	var be *BroadcastError
	if !errors.Is(err, ErrBackpressure) || !errors.As(err, &be) || be.Room != "r" || len(be.Skipped) != 1 || be.Skipped[0] != c1.m.ID() {
		t.Fatalf("broadcast: %v, want a BroadcastError skipping c1", err)
	}
	if err.Error() != `session: broadcast to "r" skipped 1 members with full windows` {
		t.Fatalf("error text %q", err)
	}
	p.stabilize()
	eq(t, "c1", p.takeEvents(c1), []string{`delivered seq=1 "1"`, `delivered seq=2 "2"`})
	eq(t, "c2", p.takeEvents(c2), []string{`delivered seq=1 "b" room="r"`})
	// Once acknowledged, there is room again.
	p.sendTo(c1, "3")
	if st := p.srv.Stats(); st.Sessions != 2 {
		t.Fatalf("a slow consumer was closed with CloseSlowConsumers off")
	}
}

func TestSlowConsumerClosed(t *testing.T) {
	p := settled(t, ServerConfig{LinkConfig: LinkConfig{MaxInflight: 2}, CloseSlowConsumers: true}, ClientConfig{}, 3)
	c1, c2, c3 := p.c(1), p.c(2), p.c(3)
	for _, pc := range []*pclient{c1, c2, c3} {
		must(t, p.srv.Step(p.now, Join{Client: pc.m.ID(), Room: "r"}))
	}
	p.sendTo(c1, "1")
	p.sendTo(c1, "2")
	p.ready()
	err := p.srv.Step(p.now, Send{To: c1.m.ID(), Payload: []byte("3")})
	if !errors.Is(err, ErrOverloaded) || err.Error() != "session: overloaded: session "+c1.m.ID().String()+" closed" {
		t.Fatalf("Send to a slow consumer: %v, want ErrOverloaded", err)
	}
	p.stabilize()
	evs := p.sevents
	eq(t, "server events", p.takeServerEvents(), []string{
		"session-closed <c1>: session: overloaded unacked=[1 2] requests=[] last=0",
	})
	if sc := evs[0].(*SessionClosed); !errors.Is(sc.Err, ErrOverloaded) || string(sc.Lost.Unacked[1].Payload) != "2" {
		t.Fatalf("SessionClosed %+v", sc)
	}
	cevs := c1.events
	// Overloaded is resumable (a server at its limits may still hold the
	// session): the client reconnects, and its resume will be refused.
	eq(t, "c1", p.takeEvents(c1), []string{
		`delivered seq=1 "1"`, `delivered seq=2 "2"`,
		`connection-lost: session: closed by peer: overloaded: slow consumer`,
		`dial attempt=1 at=2025-01-01T00:00:00.144590175Z`,
	})
	if err := cevs[2].(*ConnectionLost).Err; !errors.Is(err, ErrOverloaded) {
		t.Fatalf("client ConnectionLost.Err %v, want ErrOverloaded", err)
	}
	eq(t, "members", p.srv.Members("r"), ids(c3, c2))

	// A broadcast closes the members whose window is full and reaches the
	// others; it reports no error.
	p.sendTo(c2, "1")
	p.sendTo(c2, "2")
	p.ready()
	must(t, p.srv.Step(p.now, Broadcast{Room: "r", Payload: []byte("b")}))
	p.stabilize()
	eq(t, "server events", p.takeServerEvents(), []string{
		"session-closed <c2>: session: overloaded unacked=[1 2] requests=[] last=0",
	})
	eq(t, "c3", p.takeEvents(c3), []string{`delivered seq=1 "b" room="r"`})
	eq(t, "members", p.srv.Members("r"), ids(c3))
}

// A broadcast that pushes the detached sessions over their byte budget
// evicts the oldest; the members visited after it must still get the
// message, and the evicted one reports it lost.
func TestBroadcastEvictingAMember(t *testing.T) {
	h := newSrv(t, ServerConfig{MaxDetachedBytes: 10})
	var members []proto.ClientID
	for conn := ConnID(1); conn <= 3; conn++ {
		w := h.accept(conn)
		members = append(members, w.ID)
		h.step(Join{Client: w.ID, Room: "r"})
	}
	h.step(Disconnected{Conn: 1})
	h.step(Disconnected{Conn: 2})
	h.ready()
	h.step(Broadcast{Room: "r", Payload: []byte("123456")}) // 6 + 1 bytes each: 14 > 10
	h.expect([]string{`3: DATA seq=1 ack=0 "123456" room="r"`}, nil, []string{
		"session-closed " + members[0].String() + ": session: evicted unacked=[1] requests=[] last=0",
	})
	for _, id := range members[1:] {
		if sess := h.s.sessions[id]; sess == nil || sess.link.unacked() != 1 {
			t.Fatalf("member %s did not get the broadcast", id)
		}
	}
	eq(t, "members", h.s.Members("r"), []proto.ClientID{members[2], members[1]})
}

// A server's Send tagged with a room arrives as that room's message (what
// a driver sends a member a broadcast skipped); an invalid room name is
// refused, and a client's Send may not carry one.
func TestSendTaggedWithRoom(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	must(t, p.srv.Step(p.now, Send{To: c1.m.ID(), Payload: []byte("late"), Room: "lobby"}))
	p.stabilize()
	eq(t, "c1", p.takeEvents(c1), []string{`delivered seq=1 "late" room="lobby"`})
	if err := p.srv.Step(p.now, Send{To: c1.m.ID(), Payload: []byte("x"), Room: strings.Repeat("r", 300)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Send to an invalid room: %v, want ErrInvalid", err)
	}
	if err := c1.m.Step(p.now, Send{Payload: []byte("x"), Room: "lobby"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("client Send with a room: %v, want ErrInvalid", err)
	}
}

// With Presence, every change of membership is reported: the server's
// Join and Leave, a client's JOIN and LEAVE, and the rooms of a session
// that ends, in name order. IsMember and RoomsOf answer from the same
// state; repeated joins and leaves report nothing.
func TestPresenceAndMembershipQueries(t *testing.T) {
	p := settled(t, ServerConfig{Presence: true, AllowRoom: func(RoomRequest) bool { return true }}, ClientConfig{}, 2)
	c1, c2 := p.c(1), p.c(2)
	id1, id2 := c1.m.ID(), c2.m.ID()
	p.takeServerEvents()
	must(t, p.srv.Step(p.now, Join{Client: id1, Room: "lobby"}))
	must(t, p.srv.Step(p.now, Join{Client: id1, Room: "lobby"})) // already in
	must(t, c1.m.Step(p.now, JoinRoom{ID: 1, Room: "b"}))
	must(t, c1.m.Step(p.now, JoinRoom{ID: 2, Room: "a"}))
	must(t, c2.m.Step(p.now, JoinRoom{ID: 1, Room: "a"}))
	p.stabilize()
	eq(t, "events of the joins", p.takeServerEvents(), []string{
		`member-joined <c1> "lobby"`, `member-joined <c1> "b"`, `member-joined <c1> "a"`, `member-joined <c2> "a"`,
	})
	eq(t, "rooms of c1", p.srv.RoomsOf(id1), []string{"a", "b", "lobby"})
	eq(t, "rooms of c2", p.srv.RoomsOf(id2), []string{"a"})
	if !p.srv.IsMember(id1, "b") || p.srv.IsMember(id2, "b") || p.srv.IsMember(id2, "nowhere") || p.srv.IsMember(proto.ClientID{}, "a") {
		t.Fatal("IsMember disagrees with the joins")
	}

	must(t, c2.m.Step(p.now, LeaveRoom{ID: 2, Room: "a"}))
	must(t, p.srv.Step(p.now, Leave{Client: id1, Room: "lobby"}))
	must(t, p.srv.Step(p.now, Leave{Client: id1, Room: "lobby"})) // not in
	p.stabilize()
	eq(t, "events of the leaves", p.takeServerEvents(), []string{`member-left <c1> "lobby"`, `member-left <c2> "a"`})
	if p.srv.RoomsOf(id2) != nil || p.srv.IsMember(id2, "a") {
		t.Fatalf("c2 still in %v", p.srv.RoomsOf(id2))
	}

	must(t, p.srv.Step(p.now, Kick{Client: id1, Reason: "bye"}))
	evs := eventStrings(p.srv.Ready().Events)
	eq(t, "events of the end", evs[:2], []string{`member-left ` + id1.String() + ` "a"`, `member-left ` + id1.String() + ` "b"`})
	if !strings.HasPrefix(evs[2], "session-closed") {
		t.Fatalf("after the member-left events: %v", evs[2:])
	}
	if p.srv.RoomsOf(id1) != nil || p.srv.IsMember(id1, "a") {
		t.Fatal("an ended session is still a member")
	}
}
