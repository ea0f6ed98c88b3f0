package adapters

import (
	"context"
	"slices"
	"testing"

	"github.com/bettersocket/bettersocket/session"
)

// With Session.Presence, joins and leaves reach OnEvent, whose handler
// finds its Server in ctx and tells the room; IsMember and RoomsOf follow
// the joins.
func TestPresenceToldToTheRoom(t *testing.T) {
	ctx := testCtx(t)
	const promise = "presence events reach OnEvent, whose handler can broadcast through ServerFrom(ctx)"
	h := newHarness(t, ServerOptions{
		Session: session.ServerConfig{LinkConfig: immediateAcks, Presence: true, AllowRoom: func(session.RoomRequest) bool { return true }},
		// A handler may run only once the server is closing (closeAll's
		// session ends leave the room too, and a's own join is told to
		// nobody, whenever its queue gets to it): then ctx has ended and
		// telling the room fails, as it should.
		OnEvent: func(ctx context.Context, ev session.Event) {
			var err error
			switch ev := ev.(type) {
			case *session.MemberJoined:
				err = ServerFrom(ctx).BroadcastExcept(ctx, ev.Room, ev.Client, []byte("joined "+ev.Client.String()))
			case *session.MemberLeft:
				err = ServerFrom(ctx).Broadcast(ctx, ev.Room, []byte("left "+ev.Client.String()))
			}
			if err != nil && ctx.Err() == nil {
				t.Error(err)
			}
		},
	})
	msgs := make(chan Message, 8)
	a := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: immediateAcks}, OnMessage: func(_ context.Context, m Message) { msgs <- m }})
	b := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: immediateAcks}})
	if err := a.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if err := b.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, msgs, promise, "no join notice"); string(m.Payload) != "joined "+b.ID().String() || m.Room != "r" {
		t.Fatalf("a got %q in room %q", m.Payload, m.Room)
	}
	if !h.srv.IsMember(b.ID(), "r") || h.srv.IsMember(b.ID(), "s") || !slices.Equal(h.srv.RoomsOf(a.ID()), []string{"r"}) {
		t.Fatalf("IsMember/RoomsOf disagree with the joins: rooms of a %v", h.srv.RoomsOf(a.ID()))
	}
	if err := b.Leave(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, msgs, promise, "no leave notice"); string(m.Payload) != "left "+b.ID().String() || m.Room != "r" {
		t.Fatalf("a got %q in room %q", m.Payload, m.Room)
	}
	if h.srv.IsMember(b.ID(), "r") || h.srv.RoomsOf(b.ID()) != nil {
		t.Fatal("b is still a member after leaving")
	}
	closeAll(ctx, t, h, a, b)
}
