package adapters

import (
	"bytes"
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Identity names a user's sessions whatever their IDs: SessionsOf and
// SendUser reach all of them; a resume authenticates again (the hook sees
// Resume and the session's ID) and its new Identity rides on the next
// message; the SessionClosed handler can still look the identity up.
func TestIdentityFollowsTheUser(t *testing.T) {
	ctx := testCtx(t)
	const promise = "the identity Authenticate returns follows the session and addresses the user"
	var auths atomic.Int64
	resumes := make(chan session.AuthRequest, 1)
	got := make(chan Message, 4)
	closed := make(chan Identity, 3)
	h := newHarness(t, ServerOptions{
		Session: session.ServerConfig{LinkConfig: immediateAcks},
		Authenticate: func(ctx context.Context, r session.AuthRequest) (Identity, error) {
			if r.Resume {
				resumes <- r
			}
			return Identity{User: string(r.Auth), Data: auths.Add(1)}, nil
		},
		OnMessage: func(_ context.Context, m Message) { got <- m },
		OnEvent: func(ctx context.Context, ev session.Event) {
			if sc, ok := ev.(*session.SessionClosed); ok {
				id, _ := ServerFrom(ctx).Identity(sc.Client)
				closed <- id
			}
		},
	})
	dial := func(user string, msgs chan Message, events chan session.Event) *Client {
		return h.dial(ctx, ClientOptions{
			Session:   session.ClientConfig{LinkConfig: immediateAcks, Auth: []byte(user)},
			OnMessage: func(_ context.Context, m Message) { msgs <- m },
			OnEvent: func(_ context.Context, ev session.Event) {
				if events != nil {
					events <- ev
				}
			},
		})
	}
	a1msgs, bmsgs, a2msgs := make(chan Message, 4), make(chan Message, 4), make(chan Message, 4)
	a2events := make(chan session.Event, 16)
	a1 := dial("alice", a1msgs, nil)
	b := dial("bob", bmsgs, nil)
	a2 := dial("alice", a2msgs, a2events)
	want := []proto.ClientID{a1.ID(), a2.ID()}
	slices.SortFunc(want, func(x, y proto.ClientID) int { return bytes.Compare(x[:], y[:]) })
	if s := h.srv.SessionsOf("alice"); !slices.Equal(s, want) {
		t.Fatalf("SessionsOf(alice) = %v, want %v", s, want)
	}
	if n, err := h.srv.SendUser(ctx, "alice", []byte("hi alice")); n != 2 || err != nil {
		t.Fatalf("SendUser = %d, %v", n, err)
	}
	for _, ch := range []chan Message{a1msgs, a2msgs} {
		if m := receive(t, ch, promise, "SendUser did not reach a session of the user"); string(m.Payload) != "hi alice" {
			t.Fatalf("got %q", m.Payload)
		}
	}

	h.cut() // a2's connection: it resumes, and is authenticated again
	r := receive(t, resumes, promise, "no authentication of the resume")
	if r.Client != a2.ID() || string(r.Auth) != "alice" {
		t.Fatalf("resume authenticated for %s with %q, want %s", r.Client, r.Auth, a2.ID())
	}
	for {
		if _, ok := receive(t, a2events, promise, "a2 did not resume").(*session.Resumed); ok {
			break
		}
	}
	if err := a2.Send(ctx, []byte("after the resume")); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, got, promise, "no message after the resume"); m.Identity != (Identity{User: "alice", Data: int64(4)}) {
		t.Fatalf("identity after the resume %+v, want alice with the 4th authentication", m.Identity)
	}
	if s := h.srv.SessionsOf("alice"); !slices.Equal(s, want) {
		t.Fatalf("SessionsOf(alice) after a resume = %v, want %v", s, want)
	}

	if err := a1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if id := receive(t, closed, promise, "no SessionClosed"); id.User != "alice" {
		t.Fatalf("the SessionClosed handler found identity %+v", id)
	}
	if s := h.srv.SessionsOf("alice"); !slices.Equal(s, []proto.ClientID{a2.ID()}) {
		t.Fatalf("SessionsOf(alice) after a1 closed = %v, want [%s]", s, a2.ID())
	}
	if _, ok := h.srv.Identity(proto.ClientID{}); ok {
		t.Fatal("Identity of no session")
	}
	// A client's Close returns once its CLOSE is written; the server ends
	// the session when it reads it. Wait for that before closing the
	// server, which would otherwise detach a session whose CLOSE is still
	// unread (and report no SessionClosed for it).
	for _, c := range []*Client{a2, b} {
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		receive(t, closed, promise, "no SessionClosed for a client that closed")
	}
	closeAll(ctx, t, h)
}
