package adapters

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters/internal/clock"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// restart replaces h's server with a new one made with opts (a new
// process: no sessions) and shuts the old one down, as a deploy does.
func (h *harness) restart(ctx context.Context, opts ServerOptions) {
	h.t.Helper()
	h.mu.Lock()
	old := h.srv
	h.srv = NewServer(opts)
	h.mu.Unlock()
	if err := old.Close(ctx); err != nil {
		h.t.Fatalf("closing the old server: %v", err)
	}
}

// advanceToRedial moves clk to the client's redial after its connection
// was lost at fakeStart (its randomness fails: the backoff is
// ReconnectMin). The loss may be read later than that: between requests
// the client's connection may be unread (a reader starts readerGrace
// later), and the driver's checks of its readers (a reader running
// handlers is due for review inlineGrace later) may be armed first, for
// a moment when nothing else is due; clk is moved through those, and the
// redial must then be due the backoff after the loss was read.
func advanceToRedial(t *testing.T, clk *clock.Fake, promise string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), promiseBound)
	defer cancel()
	backoff := fakeStart.Add(session.DefaultReconnectMin)
	for {
		var redial time.Time
		armed, err := clk.WaitArmed(ctx, func(a []time.Time) bool {
			// The loss was read at or before now: the redial is due
			// between the backoff after fakeStart and after now.
			latest := clk.Now().Add(session.DefaultReconnectMin)
			if i := slices.IndexFunc(a, func(at time.Time) bool { return !at.Before(backoff) && !at.After(latest) }); i >= 0 {
				redial = a[i]
				return true
			}
			return len(a) > 0 && a[0].Before(backoff)
		})
		if err != nil {
			t.Fatalf("promise broken: %s: no redial armed (armed: %v)", promise, sinceStart(armed))
		}
		if redial.IsZero() {
			<-clk.Advance(armed[0].Sub(clk.Now())) // a check of the readers first
			continue
		}
		<-clk.Advance(redial.Sub(clk.Now()))
		return
	}
}

func (h *harness) server() *Server {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.srv
}

const rejoined = "after a lost session the client re-joins its rooms, says so, and gets the next room broadcast"

// After a server restart the client's session is lost; the new session
// re-joins the rooms the client had joined (not the one it left), one
// RoomsRejoined event says which are back and which the new server
// refused, and the next broadcast to a room reaches the client, tagged
// with the room.
func TestRoomsAreRejoinedAfterASessionIsLost(t *testing.T) {
	ctx := testCtx(t)
	clk := newFakeClock()
	allow := func(r session.RoomRequest) bool { return true }
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{LinkConfig: immediateAcks, AllowRoom: allow}})
	h.plain = true
	msgs := make(chan Message, 4)
	events := make(chan session.Event, 16)
	c := h.dial(ctx, ClientOptions{
		Session:   session.ClientConfig{LinkConfig: immediateAcks, Rand: failingRand{}},
		OnMessage: func(_ context.Context, m Message) { msgs <- m },
		OnEvent:   func(_ context.Context, ev session.Event) { events <- ev },
		clock:     clk,
	})
	for _, r := range []string{"lobby", "news", "secret", "gone"} {
		if err := c.Join(ctx, r); err != nil {
			t.Fatalf("join %s: %v", r, err)
		}
	}
	if err := c.Leave(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if got := c.Rooms(); !slices.Equal(got, []string{"lobby", "news", "secret"}) {
		t.Fatalf("Rooms() = %q", got)
	}
	lostID := c.ID()
	// The new server refuses "secret".
	h.restart(ctx, ServerOptions{Session: session.ServerConfig{
		LinkConfig: immediateAcks,
		AllowRoom:  func(r session.RoomRequest) bool { return r.Room != "secret" },
	}})
	advanceToRedial(t, clk, rejoined)
	var ev *session.RoomsRejoined
	var sawLost, sawStarted bool
	for ev == nil {
		switch e := receive(t, events, rejoined, "no RoomsRejoined event after the session was lost").(type) {
		case *session.SessionLost:
			sawLost = e.Client == lostID
		case *session.SessionStarted:
			sawStarted = sawLost
		case *session.RoomsRejoined:
			ev = e
		}
	}
	if !sawLost || !sawStarted {
		t.Fatalf("RoomsRejoined came without SessionLost of the old session then SessionStarted first (lost %v, started %v)", sawLost, sawStarted)
	}
	if ev.Client != c.ID() || ev.Client == lostID {
		t.Fatalf("RoomsRejoined of %s; the new session is %s, the lost one %s", ev.Client, c.ID(), lostID)
	}
	if !slices.Equal(ev.Rejoined, []string{"lobby", "news"}) || len(ev.Refused) != 1 || ev.Refused[0].Room != "secret" {
		t.Fatalf("promise broken: %s: %v", rejoined, ev)
	}
	var re *session.RemoteError
	if !errors.As(ev.Refused[0].Err, &re) || re.Code != proto.ErrCodeForbidden {
		t.Fatalf("refusal of %q: %v, want a forbidden RemoteError", ev.Refused[0].Room, ev.Refused[0].Err)
	}
	if got := c.Rooms(); !slices.Equal(got, []string{"lobby", "news"}) {
		t.Fatalf("Rooms() after the re-join = %q", got)
	}
	srv := h.server()
	if got, err := srv.Members(ctx, "lobby"); err != nil || !slices.Equal(got, []proto.ClientID{c.ID()}) {
		t.Fatalf("the new server's lobby: %v, %v", got, err)
	}
	if err := srv.Broadcast(ctx, "news", []byte("headline")); err != nil {
		t.Fatal(err)
	}
	m := receive(t, msgs, rejoined, "the broadcast after the re-join never arrived")
	if string(m.Payload) != "headline" || m.Room != "news" {
		t.Fatalf("got %q in room %q", m.Payload, m.Room)
	}
	closeAll(ctx, t, h, c)
}
