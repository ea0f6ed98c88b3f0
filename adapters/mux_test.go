package adapters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// A Mux routes named requests and messages to their handlers on both
// sides; unnamed traffic reaches OnMessage and OnRequest; an unknown
// method is answered not-found, an unknown event falls back to OnMessage.
func TestMuxRoutesByName(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	smux := NewMux()
	HandleMethod(smux, "price", priceOf)
	HandleMethod(smux, "echo", func(_ context.Context, r Request, s string) (string, error) {
		return r.Name + ":" + s, nil
	})
	HandleEvent(smux, "chat", func(_ context.Context, m Message, s string, err error) {
		got.add(fmt.Sprintf("chat %q %v", s, err))
	})
	h := newHarness(t, ServerOptions{
		Mux: smux,
		OnMessage: func(_ context.Context, m Message) {
			got.add(fmt.Sprintf("plain name=%q %q", m.Name, m.Payload))
		},
		OnRequest: func(_ context.Context, r Request) ([]byte, error) {
			return append([]byte("plain:"), r.Payload...), nil
		},
	})
	cmux := NewMux()
	HandleMethod(cmux, "whoami", func(_ context.Context, r Request, _ struct{}) (string, error) {
		return "client", nil
	})
	HandleEvent(cmux, "tick", func(_ context.Context, m Message, n int, err error) {
		got.add(fmt.Sprintf("tick %d %v", n, err))
	})
	c := h.dial(ctx, ClientOptions{Mux: cmux})

	if p, err := Invoke[quote, price](ctx, c, "price", quote{Symbol: "A", Qty: 2}); err != nil || p.Cents != 300 {
		t.Fatalf("Invoke price: %+v, %v", p, err)
	}
	if s, err := Invoke[string, string](ctx, c, "echo", "hi"); err != nil || s != "echo:hi" {
		t.Fatalf("Invoke echo: %q, %v", s, err)
	}
	if resp, err := c.Request(ctx, []byte("x")); err != nil || string(resp) != "plain:x" {
		t.Fatalf("unnamed request: %q, %v", resp, err)
	}
	_, err := c.Invoke(ctx, "nosuch", []byte("x"))
	var re *session.RemoteError
	if !errors.As(err, &re) || re.Code != proto.ErrCodeNotFound {
		t.Fatalf("unknown method: %v, want not-found", err)
	}
	if err := Emit(ctx, c, "chat", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := c.Emit(ctx, "other", []byte("o")); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, []byte("u")); err != nil {
		t.Fatal(err)
	}
	msgs := got.wait(ctx, t, 3)
	want := []string{`chat "hello" <nil>`, `plain name="other" "o"`, `plain name="" "u"`}
	if !slices.Equal(msgs, want) {
		t.Fatalf("server got %q, want %q", msgs, want)
	}

	// The other way: the server emits and invokes through the client's Mux.
	peer := h.srv.Peer(c.ID())
	if s, err := Invoke[struct{}, string](ctx, peer, "whoami", struct{}{}); err != nil || s != "client" {
		t.Fatalf("server Invoke: %q, %v", s, err)
	}
	// The client has a Mux but no OnRequest: unnamed requests are
	// unavailable, as without a Mux.
	if _, err := h.srv.Request(ctx, c.ID(), []byte("x")); !errors.As(err, &re) || re.Code != proto.ErrCodeUnavailable {
		t.Fatalf("unnamed request to a client without OnRequest: %v", err)
	}
	if err := Emit(ctx, peer, "tick", 7); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Emit(ctx, c.ID(), "unrouted", []byte("dropped")); err != nil {
		t.Fatal(err)
	}
	if err := Emit(ctx, peer, "tick", 8); err != nil {
		t.Fatal(err)
	}
	msgs = got.wait(ctx, t, 5)
	if want := []string{"tick 7 <nil>", "tick 8 <nil>"}; !slices.Equal(msgs[3:], want) {
		t.Fatalf("client got %q, want %q", msgs[3:], want)
	}
	closeAll(ctx, t, h, c)
}

func TestMuxRegistrationPanics(t *testing.T) {
	m := NewMux()
	m.HandleMessage("a", func(context.Context, Message) {})
	for name, f := range map[string]func(){
		"duplicate event":  func() { m.HandleMessage("a", func(context.Context, Message) {}) },
		"empty name":       func() { m.HandleRequest("", func(context.Context, Request) ([]byte, error) { return nil, nil }) },
		"name too long":    func() { m.HandleMessage(strings.Repeat("n", proto.MaxNameLen+1), func(context.Context, Message) {}) },
		"nil handler":      func() { m.HandleRequest("b", nil) },
		"invalid UTF-8":    func() { m.HandleMessage("\xff", func(context.Context, Message) {}) },
		"duplicate method": func() { HandleMethod(m, "c", priceOf); HandleMethod(m, "c", priceOf) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	m.HandleRequest("a", func(context.Context, Request) ([]byte, error) { return nil, nil }) // events and methods are apart
}

// serverSecret is a type whose name must never reach a client.
type serverSecret struct {
	Account  string
	Password string
}

type wrongShape struct {
	Other int
	Thing []string
}

// A request of the wrong type gets bad-request, not zero values; no error
// text a client sees names the server's Go types or other internals.
func TestWrongTypeIsBadRequestAndErrorsLeakNothing(t *testing.T) {
	ctx := testCtx(t)
	called := 0
	mux := NewMux()
	HandleMethod(mux, "login", func(_ context.Context, _ Request, s serverSecret) (serverSecret, error) {
		called++
		return s, nil
	})
	HandleMethod(mux, "fail", func(context.Context, Request, serverSecret) (serverSecret, error) {
		return serverSecret{}, fmt.Errorf("adapters_test.serverSecret: open /srv/db/secrets.db: %w", errors.New("permission denied"))
	})
	h := newHarness(t, ServerOptions{Mux: mux, OnRequest: HandleRequest(nil, nil, func(_ context.Context, _ Request, s serverSecret) (serverSecret, error) {
		called++
		return s, nil
	})})
	c := h.dial(ctx, ClientOptions{})

	var texts []string
	check := func(what string, err error, code proto.ErrorCode) {
		t.Helper()
		var re *session.RemoteError
		if !errors.As(err, &re) || re.Code != code {
			t.Fatalf("%s: %v, want a remote %s error", what, err, code)
		}
		texts = append(texts, err.Error())
	}
	_, err := Invoke[wrongShape, wrongShape](ctx, c, "login", wrongShape{Other: 1, Thing: []string{"x"}})
	check("Invoke with another struct", err, proto.ErrCodeBadRequest)
	_, err = Invoke[string, serverSecret](ctx, c, "login", "not a struct")
	check("Invoke with a string", err, proto.ErrCodeBadRequest)
	_, err = Call[wrongShape, wrongShape](ctx, c, wrongShape{Other: 2})
	check("Call with another struct", err, proto.ErrCodeBadRequest)
	_, err = c.Invoke(ctx, "login", []byte{0xff, 0x00})
	check("Invoke with bytes that are not CBOR", err, proto.ErrCodeBadRequest)
	_, err = c.Invoke(ctx, "fail", mustCBOR(t, serverSecret{}))
	check("a handler's plain error", err, proto.ErrCodeInternal)
	_, err = c.Invoke(ctx, "adapters.serverSecret", []byte{})
	check("an unknown method", err, proto.ErrCodeNotFound)
	if called != 0 {
		t.Fatalf("the handler ran %d times for payloads of the wrong type", called)
	}
	for _, s := range texts {
		for _, leak := range []string{"serverSecret", "adapters", "Secret", "Password", "cbor", "codec", "/srv", "permission", "struct", "string"} {
			if strings.Contains(strings.TrimPrefix(s, "session: remote error "), leak) {
				t.Errorf("error text %q reveals %q", s, leak)
			}
		}
	}
	if s, err := Invoke[serverSecret, serverSecret](ctx, c, "login", serverSecret{Account: "a"}); err != nil || s.Account != "a" {
		t.Fatalf("Invoke of the right type: %+v, %v", s, err)
	}
	closeAll(ctx, t, h, c)
}

// A client publishes to a room it is a member of: every other member gets
// it with Room and Name, the server application sees it with Room set, a
// non-member's publish and one the AllowPublish hook refuses are refused
// with forbidden and reach nobody.
func TestClientPublish(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	mux := NewMux()
	HandleEvent(mux, "chat", func(_ context.Context, m Message, s string, err error) {
		got.add(fmt.Sprintf("server %s room=%q %q %v", m.Name, m.Room, s, err))
	})
	h := newHarness(t, ServerOptions{
		Mux: mux,
		Session: session.ServerConfig{
			AllowRoom:    func(r session.RoomRequest) bool { return r.Room == "lobby" },
			AllowPublish: func(r session.PublishRequest) bool { return r.Name != "shout" },
		},
	})
	member := func(name string) MessageHandler {
		return func(_ context.Context, m Message) {
			got.add(fmt.Sprintf("%s %s room=%q %x", name, m.Name, m.Room, m.Payload))
		}
	}
	c1 := h.dial(ctx, ClientOptions{OnMessage: member("c1")})
	c2 := h.dial(ctx, ClientOptions{OnMessage: member("c2")})
	c3 := h.dial(ctx, ClientOptions{OnMessage: member("c3")})
	for _, c := range []*Client{c1, c2} {
		if err := c.Join(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
	}
	var re *session.RemoteError
	if err := Publish(ctx, c3, "lobby", "chat", "intruder"); !errors.As(err, &re) || re.Code != proto.ErrCodeForbidden {
		t.Fatalf("a non-member's publish: %v, want forbidden", err)
	}
	if err := c1.Publish(ctx, "lobby", "shout", []byte("LOUD")); !errors.As(err, &re) || re.Code != proto.ErrCodeForbidden {
		t.Fatalf("a publish the hook refuses: %v, want forbidden", err)
	}
	if err := Publish(ctx, c1, "lobby", "chat", "hi"); err != nil {
		t.Fatalf("a member's publish: %v", err)
	}
	msgs := got.wait(ctx, t, 2)
	slices.Sort(msgs)
	want := []string{`c2 chat room="lobby" 626869`, `server chat room="lobby" "hi" <nil>`}
	if !slices.Equal(msgs, want) {
		t.Fatalf("got %q, want %q", msgs, want)
	}
	// Nothing else arrives: the publisher gets no echo, c3 nothing.
	if err := h.srv.BroadcastEvent(ctx, "lobby", "news", []byte{1}); err != nil {
		t.Fatal(err)
	}
	msgs = got.wait(ctx, t, 4)
	slices.Sort(msgs[2:])
	if want := []string{`c1 news room="lobby" 01`, `c2 news room="lobby" 01`}; !slices.Equal(msgs[2:], want) {
		t.Fatalf("after the broadcast: %q, want %q", msgs[2:], want)
	}
	closeAll(ctx, t, h, c1, c2, c3)
}

func mustCBOR[T any](t *testing.T, v T) []byte {
	t.Helper()
	b, err := codec.CBOR[T]().Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
