package session

import (
	"errors"
	"strings"
	"testing"

	"github.com/bettersocket/bettersocket/proto"
)

// Names travel with their messages and requests in both directions, and
// with broadcasts; unnamed traffic stays unnamed.
func TestNamesTravelWithMessagesAndRequests(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	id := c1.m.ID()
	must(t, c1.m.Step(p.now, Send{Name: "chat", Payload: []byte("hi")}))
	must(t, c1.m.Step(p.now, Call{ID: 1, Name: "quote", Payload: []byte("q")}))
	must(t, c1.m.Step(p.now, Send{Payload: []byte("plain")}))
	must(t, p.srv.Step(p.now, Send{To: id, Name: "tick", Payload: []byte("t")}))
	must(t, p.srv.Step(p.now, Call{To: id, ID: 7, Name: "ping", Payload: []byte("p")}))
	must(t, p.srv.Step(p.now, Join{Client: id, Room: "lobby"}))
	must(t, p.srv.Step(p.now, Broadcast{Room: "lobby", Name: "news", Payload: []byte("n")}))
	p.stabilize()
	eq(t, "server events", p.takeServerEvents(), []string{
		`delivered seq=1 "hi" name="chat"`,
		`request id=1 "q" name="quote"`,
		`delivered seq=3 "plain"`,
	})
	evs := c1.events
	eq(t, "client events", p.takeEvents(c1), []string{
		`delivered seq=1 "t" name="tick"`,
		`request id=7 "p" name="ping"`,
		`delivered seq=3 "n" room="lobby" name="news"`,
	})
	if d := evs[2].(*Delivered); d.Name != "news" || d.Room != "lobby" {
		t.Fatalf("Delivered %+v", d)
	}
	if r := evs[1].(*RequestReceived); r.Name != "ping" || r.ID != 7 {
		t.Fatalf("RequestReceived %+v", r)
	}
}

func TestNameValidation(t *testing.T) {
	p := settled(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	id := c1.m.ID()
	for _, name := range []string{strings.Repeat("n", proto.MaxNameLen+1), "\xff"} {
		for _, in := range []Input{Send{Name: name}, Call{ID: 1, Name: name}, Publish{ID: 2, Room: "r", Name: name}} {
			if err := c1.m.Step(p.now, in); !errors.Is(err, ErrInvalid) {
				t.Errorf("client %s with name %q: %v, want ErrInvalid", inputName(in), name, err)
			}
		}
		for _, in := range []Input{Send{To: id, Name: name}, Call{To: id, ID: 1, Name: name}, Broadcast{Room: "r", Name: name}} {
			if err := p.srv.Step(p.now, in); !errors.Is(err, ErrInvalid) {
				t.Errorf("server %s with name %q: %v, want ErrInvalid", inputName(in), name, err)
			}
		}
	}
	if err := c1.m.Step(p.now, Publish{ID: 3, Room: ""}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Publish to no room: %v, want ErrInvalid", err)
	}
	must(t, c1.m.Step(p.now, Send{Name: strings.Repeat("n", proto.MaxNameLen)}))
}

// A member's publish reaches every other member, tagged with the room and
// name; the publisher gets an empty response, and the server application
// sees it with Room set.
func TestPublishReachesTheOtherMembers(t *testing.T) {
	var seen []PublishRequest
	p := settled(t, ServerConfig{AllowPublish: func(r PublishRequest) bool {
		seen = append(seen, r)
		return true
	}}, ClientConfig{}, 3)
	c1, c2, c3 := p.c(1), p.c(2), p.c(3)
	for _, pc := range []*pclient{c1, c2, c3} {
		must(t, p.srv.Step(p.now, Join{Client: pc.m.ID(), Room: "lobby"}))
	}
	must(t, c1.m.Step(p.now, Publish{ID: 1, Room: "lobby", Name: "chat", Payload: []byte("hi")}))
	p.stabilize()
	eq(t, "trace", p.takeTrace(), []string{
		`c1 -> s: PUBLISH seq=1 ack=0 id=1 room="lobby" "hi" name="chat"`,
		`s -> c1: RESPONSE seq=1 ack=1 id=1 ""`,
		`s -> c2: DATA seq=1 ack=0 "hi" room="lobby" name="chat"`,
		`s -> c3: DATA seq=1 ack=0 "hi" room="lobby" name="chat"`,
		"c1 -> s: ACK 1",
		"c2 -> s: ACK 1",
		"c3 -> s: ACK 1",
	})
	eq(t, "c1", p.takeEvents(c1), []string{`response id=1 ""`})
	eq(t, "c2", p.takeEvents(c2), []string{`delivered seq=1 "hi" room="lobby" name="chat"`})
	eq(t, "c3", p.takeEvents(c3), []string{`delivered seq=1 "hi" room="lobby" name="chat"`})
	srvEvents := p.sevents
	eq(t, "server", p.takeServerEvents(), []string{`delivered seq=1 "hi" room="lobby" name="chat"`})
	if d := srvEvents[0].(*Delivered); d.Client != c1.m.ID() || d.Room != "lobby" {
		t.Fatalf("server Delivered %+v", d)
	}
	if len(seen) != 1 || seen[0].Client != c1.m.ID() || seen[0].Room != "lobby" || seen[0].Name != "chat" || string(seen[0].Payload) != "hi" {
		t.Fatalf("AllowPublish saw %+v", seen)
	}
}

// A publish is refused, with nothing delivered to anyone, when the client
// is not a member of the room or the AllowPublish hook says no.
func TestPublishRefused(t *testing.T) {
	p := settled(t, ServerConfig{AllowPublish: func(r PublishRequest) bool { return r.Name != "shout" }}, ClientConfig{}, 2)
	c1, c2 := p.c(1), p.c(2)
	must(t, p.srv.Step(p.now, Join{Client: c2.m.ID(), Room: "lobby"}))
	must(t, c1.m.Step(p.now, Publish{ID: 1, Room: "lobby", Payload: []byte("intruder")}))
	must(t, c1.m.Step(p.now, Publish{ID: 2, Room: "nowhere", Payload: []byte("void")}))
	p.stabilize()
	evs := c1.events
	eq(t, "non-member", p.takeEvents(c1), []string{
		"response id=1 error: session: remote error forbidden: not a member of the room",
		"response id=2 error: session: remote error forbidden: not a member of the room",
	})
	var re *RemoteError
	if !errors.As(evs[0].(*Response).Err, &re) || re.Code != proto.ErrCodeForbidden {
		t.Fatalf("Response.Err = %v", evs[0].(*Response).Err)
	}
	must(t, p.srv.Step(p.now, Join{Client: c1.m.ID(), Room: "lobby"}))
	must(t, c1.m.Step(p.now, Publish{ID: 3, Room: "lobby", Name: "shout", Payload: []byte("LOUD")}))
	p.stabilize()
	eq(t, "refused by the hook", p.takeEvents(c1), []string{"response id=3 error: session: remote error forbidden: publish refused"})
	eq(t, "c2", p.takeEvents(c2), nil)
	eq(t, "server", p.takeServerEvents(), nil)
}

// A member whose send window is full is skipped, as by Broadcast; the
// publisher learns that not everyone got it.
func TestPublishReportsSkippedMembers(t *testing.T) {
	p := settled(t, ServerConfig{LinkConfig: LinkConfig{MaxInflight: 1}}, ClientConfig{}, 3)
	c1, c2, c3 := p.c(1), p.c(2), p.c(3)
	for _, pc := range []*pclient{c1, c2, c3} {
		must(t, p.srv.Step(p.now, Join{Client: pc.m.ID(), Room: "lobby"}))
	}
	must(t, p.srv.Step(p.now, Send{To: c3.m.ID(), Payload: []byte("fills c3's window")}))
	must(t, c1.m.Step(p.now, Publish{ID: 1, Room: "lobby", Payload: []byte("hi")}))
	p.stabilize()
	eq(t, "c1", p.takeEvents(c1), []string{"response id=1 error: session: remote error unavailable: 1 members skipped: send windows full"})
	srvEvents := p.sevents
	eq(t, "server", p.takeServerEvents(), []string{`delivered seq=1 "hi" room="lobby"`})
	if d := srvEvents[0].(*Delivered); len(d.Skipped) != 1 || d.Skipped[0] != c3.m.ID() {
		t.Fatalf("Delivered.Skipped = %v, want [c3]", d.Skipped)
	}
	eq(t, "c2", p.takeEvents(c2), []string{`delivered seq=1 "hi" room="lobby"`})
	eq(t, "c3", p.takeEvents(c3), []string{`delivered seq=1 "fills c3's window"`})
}
