package session

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// connectFrom connects conn from src and returns what the server did at
// once: "" when it awaits HELLO, else the CLOSE it sent.
func (h *srv) connectFrom(conn ConnID, src string) string {
	h.t.Helper()
	h.step(Connected{Conn: conn, Source: src})
	got, _ := h.ready()
	return strings.Join(got, "; ")
}

// sessionFrom starts a new session on conn from src and returns the
// WELCOME (nil when refused).
func (h *srv) sessionFrom(conn ConnID, src string) *proto.Welcome {
	h.t.Helper()
	h.step(Connected{Conn: conn, Source: src})
	h.recv(conn, &proto.Hello{Version: proto.Version})
	rd := h.s.Ready()
	if len(rd.Transmit) == 0 {
		return nil
	}
	w, ok := decodeAll(h.t, rd.Transmit[0].Data)[0].(*proto.Welcome)
	if !ok {
		return nil
	}
	h.recv(conn, &proto.Ack{})
	h.ready()
	return w
}

func TestPendingPerSourceLimit(t *testing.T) {
	h := newSrv(t, ServerConfig{MaxPendingPerSource: 2})
	want := []string{"", "", `3: CLOSE overloaded "session: overloaded: 2 connections of this source await HELLO"`}
	for i, w := range want {
		if got := h.connectFrom(ConnID(i+1), "a"); got != w {
			t.Fatalf("connection %d from a: %q, want %q", i+1, got, w)
		}
	}
	if h.s.Admits("a") || !h.s.Admits("b") || !h.s.Admits("") {
		t.Fatalf("Admits: a %t, b %t, none %t; want false, true, true", h.s.Admits("a"), h.s.Admits("b"), h.s.Admits(""))
	}
	// Connections a driver holds unattached count against the limit.
	if !h.s.AdmitsWaiting("b", 1) || h.s.AdmitsWaiting("b", 2) || !h.s.AdmitsWaiting("", 5) {
		t.Fatalf("AdmitsWaiting: b with 1 %t, with 2 %t, none with 5 %t; want true, false, true",
			h.s.AdmitsWaiting("b", 1), h.s.AdmitsWaiting("b", 2), h.s.AdmitsWaiting("", 5))
	}
	if got := h.connectFrom(4, "b"); got != "" {
		t.Fatalf("connection from b refused: %q", got)
	}
	if got := h.connectFrom(5, ""); got != "" {
		t.Fatalf("connection without a source refused: %q", got)
	}
	if st := h.s.Stats(); st.Throttled != 1 {
		t.Fatalf("Throttled = %d, want 1", st.Throttled)
	}
}

// With every pending slot taken by one source, a newcomer from elsewhere
// evicts that source's oldest pending connection, and a client that comes
// back to resume its session gets in.
func TestFullPendingSlotsEvictTheHeaviestSourceAndResumeGetsIn(t *testing.T) {
	h := newSrv(t, ServerConfig{MaxPendingConns: 4, MaxPendingPerSource: -1})
	w := h.detachedFrom(100, "honest")
	for i := 1; i <= 4; i++ {
		if got := h.connectFrom(ConnID(i), "attacker"); got != "" {
			t.Fatalf("attacker connection %d refused early: %q", i, got)
		}
	}
	// The attacker's next connection: its source is the heaviest, refused.
	if h.s.Admits("attacker") || !h.s.Admits("honest") {
		t.Fatal("Admits does not tell the heaviest source from the others")
	}
	// A source with as many connections waiting to be attached is as
	// heavy.
	if h.s.AdmitsWaiting("honest", 4) || !h.s.AdmitsWaiting("honest", 3) {
		t.Fatal("AdmitsWaiting does not count the waiting connections against the heaviest source")
	}
	if got := h.connectFrom(5, "attacker"); !strings.HasPrefix(got, "5: CLOSE overloaded") {
		t.Fatalf("attacker's fifth connection: %q, want it refused", got)
	}
	// The honest client reconnects: the attacker's oldest is evicted.
	h.step(Connected{Conn: 101, Source: "honest"})
	h.expect([]string{`1: CLOSE overloaded "session: overloaded: evicted for a newer connection; 4 await HELLO from this source"`}, []ConnID{1},
		[]string{"conn-rejected 1: session: overloaded: evicted for a newer connection; 4 await HELLO from this source"})
	h.recv(101, resumeHello(w.ID, w.Token, 0, 101))
	got, _ := h.ready()
	if len(got) != 1 || !strings.HasPrefix(got[0], "101: WELCOME") || !strings.Contains(got[0], "resumed") {
		t.Fatalf("resume: %q", got)
	}
}

func TestNewSessionsPerSourceAreRateLimited(t *testing.T) {
	h := newSrv(t, ServerConfig{SourceSessionBurst: 3, SourceSessionInterval: time.Second})
	var first *proto.Welcome
	for i := 1; i <= 3; i++ {
		w := h.sessionFrom(ConnID(i), "a")
		if w == nil {
			t.Fatalf("session %d of the burst refused", i)
		}
		if first == nil {
			first = w
		}
	}
	h.step(Connected{Conn: 4, Source: "a"})
	h.recv(4, &proto.Hello{Version: proto.Version})
	h.expect([]string{`4: CLOSE overloaded "session: overloaded: too many new sessions from this source"`}, []ConnID{4},
		[]string{"conn-rejected 4: session: overloaded: too many new sessions from this source"})
	if w := h.sessionFrom(5, "b"); w == nil {
		t.Fatal("another source was refused")
	}
	// A resume is not a new session.
	h.step(Disconnected{Conn: 1})
	h.ready()
	h.step(Connected{Conn: 6, Source: "a"})
	h.recv(6, resumeHello(first.ID, first.Token, 0, 6))
	if got, _ := h.ready(); len(got) != 1 || !strings.Contains(got[0], "resumed") {
		t.Fatalf("resume refused by the new-session limit: %q", got)
	}
	h.at(time.Second)
	if w := h.sessionFrom(7, "a"); w == nil {
		t.Fatal("a new session one interval later was refused")
	}
	if w := h.sessionFrom(8, "a"); w != nil {
		t.Fatal("a second new session within the interval was accepted")
	}
}

// detachedFrom starts a session on conn from src and detaches it.
func (h *srv) detachedFrom(conn ConnID, src string) *proto.Welcome {
	h.t.Helper()
	w := h.sessionFrom(conn, src)
	h.step(Disconnected{Conn: conn})
	h.ready()
	return w
}

func TestDetachedPerSourceEvictsItsOwnOldest(t *testing.T) {
	h := newSrv(t, ServerConfig{MaxDetachedPerSource: 2})
	other := h.detachedFrom(10, "b")
	first := h.detachedFrom(1, "a")
	h.detachedFrom(2, "a")
	h.sessionFrom(3, "a")
	h.step(Disconnected{Conn: 3})
	_, rd := h.ready()
	evs := eventStrings(rd.Events)
	if len(evs) != 2 || !strings.HasPrefix(evs[1], "session-closed "+first.ID.String()+": session: evicted") {
		t.Fatalf("events %q, want a's oldest evicted", evs)
	}
	if _, ok := h.s.sessions[other.ID]; !ok {
		t.Fatal("another source's detached session was evicted")
	}
}

// When the global detached budget is exceeded, the source with the most
// detached sessions loses its oldest, not the oldest of all.
func TestDetachedBudgetEvictsTheHeaviestSourceFirst(t *testing.T) {
	h := newSrv(t, ServerConfig{MaxDetached: 3, MaxDetachedPerSource: -1})
	honest := h.detachedFrom(10, "honest")
	var churn []*proto.Welcome
	for i := 1; i <= 3; i++ {
		churn = append(churn, h.detachedFrom(ConnID(i), "churn"))
	}
	if _, ok := h.s.sessions[honest.ID]; !ok {
		t.Fatal("the honest client's detached session (the oldest of all) was evicted")
	}
	if _, ok := h.s.sessions[churn[0].ID]; ok {
		t.Fatal("the heaviest source's oldest detached session survived")
	}
	if st := h.s.Stats(); st.Detached != 3 {
		t.Fatalf("%d detached, want 3", st.Detached)
	}
}

// The Authorize hook sees the connection's source and transport.
func TestAuthorizeSeesSourceAndTransport(t *testing.T) {
	type transport struct{ addr string }
	var got AuthRequest
	h := newSrv(t, ServerConfig{Authorize: func(r AuthRequest) error { got = r; return nil }})
	tr := &transport{"192.0.2.1:4242"}
	h.step(Connected{Conn: 1, Source: "192.0.2.1", Transport: tr})
	h.recv(1, &proto.Hello{Version: proto.Version})
	if got.Source != "192.0.2.1" || got.Transport != tr {
		t.Fatalf("AuthRequest %+v", got)
	}
}

// Sources that hold nothing are forgotten once their new-session budget
// is full again: the records do not grow with the addresses seen.
func TestIdleSourcesAreForgotten(t *testing.T) {
	h := newSrv(t, ServerConfig{SourceSessionInterval: time.Second})
	for i := 1; i <= 50; i++ {
		h.sessionFrom(ConnID(i), string(rune('A'+i)))
		h.step(Kick{Client: h.s.Sessions()[0], Reason: "x"})
		h.ready()
	}
	h.at(time.Hour)
	h.connectFrom(1000, "late")
	if n := len(h.s.adm.sources); n > 1 {
		t.Fatalf("%d source records after every source went idle, want at most the newest", n)
	}
	if err := h.s.Step(h.now, Connected{Conn: 1000}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("duplicate connection: %v", err)
	}
}
