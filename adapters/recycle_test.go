package adapters

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/bettersocket/bettersocket/session"
)

// The client gives the machine back the Delivered events its handlers are
// done with (eventQueue.done, before its next step), and the machine
// reuses them: each message still reaches its handler with its own room,
// name and payload, and a payload the handler kept stays as it was.
func TestReusedDeliveriesKeepEachMessage(t *testing.T) {
	ctx := testCtx(t)
	allow := func(session.RoomRequest) bool { return true }
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{AllowRoom: allow}})
	type got struct {
		room, name string
		payload    []byte
	}
	msgs := make(chan got, 1024)
	c := h.dial(ctx, ClientOptions{OnMessage: func(_ context.Context, m Message) {
		msgs <- got{m.Room, m.Name, m.Payload}
	}})
	defer closeAll(ctx, t, h, c)
	if err := c.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	srv := h.server()
	type want struct{ room, name, payload string }
	var wants []want
	var kept []got
	for round := range 8 {
		for i := range 100 {
			w := want{payload: fmt.Sprintf("m%d-%d", round, i)}
			var err error
			switch i % 4 {
			case 0:
				w.room = "r"
				err = srv.Broadcast(ctx, "r", []byte(w.payload))
			case 1:
				w.room, w.name = "r", "ev"
				err = srv.BroadcastEvent(ctx, "r", "ev", []byte(w.payload))
			case 2:
				w.name = "direct"
				err = srv.Emit(ctx, c.ID(), "direct", []byte(w.payload))
			default:
				err = srv.Send(ctx, c.ID(), []byte(w.payload))
			}
			if err != nil {
				t.Fatal(err)
			}
			wants = append(wants, w)
		}
		for len(kept) < len(wants) {
			kept = append(kept, receive(t, msgs, "every message reaches its handler", "a message did not arrive"))
		}
	}
	for i, w := range wants {
		g := kept[i]
		if g.room != w.room || g.name != w.name || string(g.payload) != w.payload {
			t.Fatalf("message %d: room %q name %q payload %q, want %+v", i+1, g.room, g.name, g.payload, w)
		}
	}
	// The handled messages go back to the machine: once the queue is
	// idle (its last batch's messages collected), it holds them until the
	// next step, then none.
	q := c.d.eng.(*clientEngine).q
	held := 0
	for {
		q.mu.Lock()
		idle := !q.running
		held = len(q.rec.done)
		q.mu.Unlock()
		if idle {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the client's queue never went idle")
		}
		runtime.Gosched()
	}
	if held == 0 {
		t.Fatal("the client's queue kept nothing of 800 handled messages to give back")
	}
	if err := srv.Send(ctx, c.ID(), []byte("last")); err != nil {
		t.Fatal(err)
	}
	if g := receive(t, msgs, "every message reaches its handler", "the last message did not arrive"); string(g.payload) != "last" {
		t.Fatalf("last message: %q", g.payload)
	}
	q.mu.Lock()
	left := len(q.rec.done)
	q.mu.Unlock()
	if left > 1 {
		t.Fatalf("after the next message, the queue still holds %d handled messages (at most the one just handled)", left)
	}
}
