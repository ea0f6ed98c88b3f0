package main

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
)

// TestChatServer runs the example's server as main does and drives it as a
// user would: a wrong token is refused, two users meet in a room, a room
// message arrives, both methods answer, and cancelling the server's context
// shuts it down gracefully (the clients are told and Run returns nil).
func TestChatServer(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard, not a verdict
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverCtx, shutdown := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- newServer().Run(serverCtx, ln) }()
	url := "ws://" + ln.Addr().String()

	_, err = gorilla.Dial(ctx, url, adapters.ClientOptions{Session: adapters.ClientConfig{Auth: []byte("mallory")}})
	var refused *adapters.CloseError
	if !errors.As(err, &refused) || refused.Code != adapters.ClosePolicy {
		t.Fatalf("Dial with an unknown token: %v, want a CLOSE policy refusal", err)
	}

	chats := make(chan string, 1)
	lost := make(chan struct{}, 1)
	mux := adapters.NewMux()
	adapters.HandleEvent(mux, "chat", func(ctx context.Context, m adapters.Message, text string, err error) {
		if err == nil {
			chats <- text
		}
	})
	alice, err := gorilla.Dial(ctx, url, adapters.ClientOptions{
		Session: adapters.ClientConfig{Auth: []byte("alice-token")},
		Mux:     mux,
		OnEvent: func(ctx context.Context, ev adapters.Event) {
			if _, ok := ev.(*adapters.ConnectionLost); ok {
				select {
				case lost <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := gorilla.Dial(ctx, url, adapters.ClientOptions{Session: adapters.ClientConfig{Auth: []byte("bob-token")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*adapters.Client{alice, bob} {
		if err := c.Join(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
	}

	if err := adapters.Publish(ctx, bob, "lobby", "chat", "hi alice"); err != nil {
		t.Fatal(err)
	}
	select {
	case text := <-chats:
		if text != "hi alice" {
			t.Fatalf("alice got %q", text)
		}
	case <-ctx.Done():
		t.Fatal("alice never got bob's room message")
	}

	me, err := adapters.Invoke[struct{}, string](ctx, bob, "whoami", struct{}{})
	if err != nil || me != "bob" {
		t.Fatalf("whoami = %q, %v; want bob", me, err)
	}
	who, err := adapters.Invoke[string, []string](ctx, alice, "who", "lobby")
	slices.Sort(who)
	if err != nil || !slices.Equal(who, []string{"alice", "bob"}) {
		t.Fatalf("who lobby = %q, %v; want alice and bob", who, err)
	}
	_, err = adapters.Invoke[int, string](ctx, alice, "who", 7)
	var remote *adapters.RemoteError
	if !errors.As(err, &remote) || remote.Code != adapters.ErrCodeBadRequest {
		t.Fatalf("who with an int: %v, want a bad-request error", err)
	}

	shutdown()
	if err := <-served; err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	select {
	case <-lost:
	case <-ctx.Done():
		t.Fatal("alice was not told the server went away")
	}
	for _, c := range []*adapters.Client{alice, bob} {
		closeCtx, stop := context.WithTimeout(ctx, 5*time.Second)
		c.Close(closeCtx) // the server is gone: the session ends here, whatever it reports
		stop()
	}
}
