package adapters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// slowRoom is a server with policy, two members that read and one whose
// window holds 4 messages and whose reading the test stops (slowGate),
// all in room "r".
type slowRoom struct {
	h          *harness
	fast       []*Client
	fastMsgs   []chan Message
	slow       *Client
	slowGate   *gate
	slowMsgs   chan Message
	slowEvents chan session.Event
}

func newSlowRoom(ctx context.Context, t *testing.T, policy SlowPolicy) *slowRoom {
	// The server's window: 4 unacknowledged messages per member.
	r := &slowRoom{h: newHarness(t, ServerOptions{SlowMembers: policy, Session: session.ServerConfig{LinkConfig: session.LinkConfig{AckDelay: -1, MaxInflight: 4}}})}
	for range 2 {
		ch := make(chan Message, 64)
		c := r.h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: immediateAcks},
			OnMessage: func(_ context.Context, m Message) { ch <- m }})
		r.fast, r.fastMsgs = append(r.fast, c), append(r.fastMsgs, ch)
	}
	r.slowGate = newGate(true)
	r.h.clientGate = r.slowGate
	r.slowMsgs, r.slowEvents = make(chan Message, 64), make(chan session.Event, 64)
	r.slow = r.h.dial(ctx, ClientOptions{
		Session:   session.ClientConfig{LinkConfig: immediateAcks},
		OnMessage: func(_ context.Context, m Message) { r.slowMsgs <- m },
		OnEvent:   func(_ context.Context, ev session.Event) { r.slowEvents <- ev },
	})
	r.h.clientGate = newGate(true)
	for _, c := range append(slices.Clone(r.fast), r.slow) {
		if err := r.h.srv.Join(ctx, c.ID(), "r"); err != nil {
			t.Fatal(err)
		}
	}
	r.slowGate.shut()
	// Fill the slow member's window.
	for i := range 4 {
		if err := r.h.srv.Broadcast(ctx, "r", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatalf("broadcast %d within the window: %v", i, err)
		}
	}
	for i := range 4 {
		r.fastGot(t, fmt.Sprintf("m%d", i))
	}
	r.fastAcked(ctx, t)
	return r
}

// fastAcked waits until the reading members have acknowledged everything,
// so that only the slow member's window is full.
func (r *slowRoom) fastAcked(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, c := range r.fast {
		if err := r.h.srv.Flush(ctx, c.ID()); err != nil {
			t.Fatal(err)
		}
	}
}

// fastGot checks that both reading members got payload next, in room r.
func (r *slowRoom) fastGot(t *testing.T, payload string) {
	t.Helper()
	for _, ch := range r.fastMsgs {
		m := receive(t, ch, "a broadcast reaches the members that read", "a reading member got nothing")
		if string(m.Payload) != payload || m.Room != "r" {
			t.Fatalf("reading member got %q in room %q, want %q in r", m.Payload, m.Room, payload)
		}
	}
}

// slowGot checks that the slow member got payloads, in order, in room r.
func (r *slowRoom) slowGot(t *testing.T, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		m := receive(t, r.slowMsgs, "the slow member gets what was sent to it", "the slow member got nothing")
		if string(m.Payload) != p || m.Room != "r" {
			t.Fatalf("slow member got %q in room %q, want %q in r", m.Payload, m.Room, p)
		}
	}
}

func (r *slowRoom) close(ctx context.Context, t *testing.T) {
	r.slowGate.release()
	closeAll(ctx, t, r.h, append(r.fast, r.slow)...)
}

// By default a broadcast waits for a member whose window is full, while
// the members that read get it at once; the waiting member gets it, as a
// room message in order, when it reads again. When the caller's ctx ends
// first, the error names the member that did not get it.
func TestBroadcastWaitsForAFullWindow(t *testing.T) {
	ctx := testCtx(t)
	r := newSlowRoom(ctx, t, WaitSlow)
	done := make(chan error, 1)
	go func() { done <- r.h.srv.Broadcast(ctx, "r", []byte("m4")) }()
	r.fastGot(t, "m4")
	select {
	case err := <-done:
		t.Fatalf("Broadcast returned %v while the slow member's window is full", err)
	default:
	}
	r.slowGate.release()
	if err := receive(t, done, "a waiting broadcast returns once every member has it", "Broadcast never returned"); err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	r.slowGot(t, "m0", "m1", "m2", "m3", "m4")

	// Again, with a ctx that ends while the member does not read.
	r.slowGate.shut()
	for i := 5; i < 9; i++ {
		if err := r.h.srv.Broadcast(ctx, "r", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
		r.fastGot(t, fmt.Sprintf("m%d", i))
	}
	r.fastAcked(ctx, t)
	bctx, cancel := context.WithCancel(ctx)
	go func() { done <- r.h.srv.Broadcast(bctx, "r", []byte("m9")) }()
	r.fastGot(t, "m9")
	cancel()
	err := receive(t, done, "a waiting broadcast returns when its ctx ends", "Broadcast never returned")
	var be *session.BroadcastError
	if !errors.Is(err, context.Canceled) || !errors.Is(err, session.ErrBackpressure) || !errors.As(err, &be) ||
		!slices.Equal(be.Skipped, []proto.ClientID{r.slow.ID()}) {
		t.Fatalf("Broadcast with a cancelled ctx: %v, want context.Canceled and a BroadcastError naming %s", err, r.slow.ID())
	}
	r.slowGate.release()
	r.slowGot(t, "m5", "m6", "m7", "m8")
	if err := r.h.srv.Broadcast(ctx, "r", []byte("m10")); err != nil {
		t.Fatal(err)
	}
	r.slowGot(t, "m10") // m9 was not sent to it, as reported
	r.fastGot(t, "m10")
	r.close(ctx, t)
}

// SkipSlow skips the member whose window is full and names it.
func TestBroadcastSkipSlow(t *testing.T) {
	ctx := testCtx(t)
	r := newSlowRoom(ctx, t, SkipSlow)
	err := r.h.srv.Broadcast(ctx, "r", []byte("m4"))
	var be *session.BroadcastError
	if !errors.As(err, &be) || !slices.Equal(be.Skipped, []proto.ClientID{r.slow.ID()}) {
		t.Fatalf("Broadcast: %v, want a BroadcastError naming %s", err, r.slow.ID())
	}
	r.fastGot(t, "m4")
	r.slowGate.release()
	if err := r.h.srv.Flush(ctx, r.slow.ID()); err != nil {
		t.Fatal(err)
	}
	r.fastAcked(ctx, t)
	if err := r.h.srv.Broadcast(ctx, "r", []byte("m5")); err != nil {
		t.Fatal(err)
	}
	r.slowGot(t, "m0", "m1", "m2", "m3", "m5")
	r.fastGot(t, "m5")
	r.close(ctx, t)
}

// EndSlow ends the session of the member whose window is full: the
// broadcast returns at once, the others get it, the member's session is
// gone from the server.
func TestBroadcastEndSlow(t *testing.T) {
	ctx := testCtx(t)
	r := newSlowRoom(ctx, t, EndSlow)
	if err := r.h.srv.Broadcast(ctx, "r", []byte("m4")); err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	r.fastGot(t, "m4")
	ids, err := r.h.srv.Sessions(ctx)
	if err != nil || slices.Contains(ids, r.slow.ID()) || len(ids) != 2 {
		t.Fatalf("sessions after ending the slow one: %v, %v", ids, err)
	}
	lost := r.slow.ID()
	r.slowGate.release()
	for {
		ev := receive(t, r.slowEvents, "the ended member learns its session was lost", "no SessionLost")
		if sl, ok := ev.(*session.SessionLost); ok {
			if sl.Client != lost {
				t.Fatalf("SessionLost of %s, want %s", sl.Client, lost)
			}
			break
		}
	}
	r.close(ctx, t)
}
