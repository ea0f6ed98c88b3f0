package adapters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

func TestRooms(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{
		AllowRoom: func(r session.RoomRequest) bool { return r.Room != "vip" },
	}})
	var inboxes [3]*collector
	var clients [3]*Client
	for i := range clients {
		inboxes[i] = newCollector()
		in := inboxes[i]
		clients[i] = h.dial(ctx, ClientOptions{OnMessage: func(_ context.Context, m Message) {
			in.add(m.Room + ":" + string(m.Payload))
		}})
	}
	a, b, c := clients[0], clients[1], clients[2]
	for _, cl := range []*Client{a, b} {
		if err := cl.Join(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Join(ctx, "vip")
	var re *session.RemoteError
	if !errors.As(err, &re) || re.Code != proto.ErrCodeForbidden {
		t.Fatalf("join vip: %v, want forbidden", err)
	}
	if err := h.srv.Join(ctx, c.ID(), "lobby"); err != nil { // the server may put anyone in
		t.Fatal(err)
	}
	members, err := h.srv.Members(ctx, "lobby")
	if err != nil || !slices.Equal(members, []proto.ClientID{a.ID(), b.ID(), c.ID()}) {
		t.Fatalf("members %v, %v", members, err)
	}
	if err := h.srv.Broadcast(ctx, "lobby", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.BroadcastExcept(ctx, "lobby", a.ID(), []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := b.Leave(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Leave(ctx, c.ID(), "lobby"); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Broadcast(ctx, "lobby", []byte("three")); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Broadcast(ctx, "empty", []byte("nobody")); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"lobby:one", "lobby:three"}, {"lobby:one", "lobby:two"}, {"lobby:one", "lobby:two"}}
	for i, in := range inboxes {
		if got := in.wait(ctx, t, len(want[i])); !slices.Equal(got, want[i]) {
			t.Errorf("client %d got %q, want %q", i, got, want[i])
		}
	}
	sessions, err := h.srv.Sessions(ctx)
	if err != nil || len(sessions) != 3 {
		t.Fatalf("sessions %v, %v", sessions, err)
	}
	closeAll(ctx, t, h, a, b, c)
	// Nothing more arrived: "three" went to a only.
	for i, in := range inboxes {
		if got := in.wait(ctx, t, 0); len(got) != len(want[i]) {
			t.Errorf("client %d got %q after the run", i, got)
		}
	}
}

func TestUnknownClient(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{})
	var nobody proto.ClientID
	nobody[0] = 1
	if err := h.srv.Send(ctx, nobody, []byte("x")); !errors.Is(err, session.ErrUnknownClient) {
		t.Errorf("send: %v", err)
	}
	if _, err := h.srv.Request(ctx, nobody, []byte("x")); !errors.Is(err, session.ErrUnknownClient) {
		t.Errorf("request: %v", err)
	}
	if err := h.srv.Kick(ctx, nobody, "x"); !errors.Is(err, session.ErrUnknownClient) {
		t.Errorf("kick: %v", err)
	}
	if err := h.srv.Join(ctx, nobody, "r"); !errors.Is(err, session.ErrUnknownClient) {
		t.Errorf("join: %v", err)
	}
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestServerEvents(t *testing.T) {
	ctx := testCtx(t)
	events := newCollector()
	h := newHarness(t, ServerOptions{OnEvent: func(_ context.Context, ev session.Event) {
		events.add(fmt.Sprintf("%T", ev))
	}})
	// The client redials on a clock moved by hand, once the server has
	// seen the connection end: a resume stepped before that would
	// supersede the connection, with no Detached.
	clk := newFakeClock()
	c := h.dial(ctx, ClientOptions{
		Session: session.ClientConfig{
			LinkConfig:   session.LinkConfig{AckDelay: -1},
			ReconnectMin: time.Millisecond, ReconnectMax: time.Millisecond,
			Rand: failingRand{}, // the backoff is ReconnectMin
		},
		clock: clk,
	})
	h.cut()
	events.wait(ctx, t, 2)
	armedAt(t, clk, fakeStart.Add(time.Millisecond), "setup")
	clk.Advance(time.Millisecond)
	_, err := c.Request(ctx, []byte("x")) // answered after the resume
	var re *session.RemoteError
	if !errors.As(err, &re) || re.Code != proto.ErrCodeUnavailable {
		t.Fatalf("request: %v, want unavailable", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"*session.SessionStarted", "*session.Detached", "*session.Resumed", "*session.SessionClosed"}
	if got := events.wait(ctx, t, 4); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// Close sends going-away: clients try to resume, and the server refuses
// every new connection from then on.
func TestServerCloseRefusesNewConnections(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{})
	events := newCollector()
	c := h.dial(ctx, ClientOptions{
		Session: session.ClientConfig{ReconnectMin: time.Millisecond, ReconnectMax: time.Millisecond},
		OnEvent: func(_ context.Context, ev session.Event) {
			if cl, ok := ev.(*session.ConnectionLost); ok {
				events.add(cl.Err.Error())
			}
		},
	})
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	lost := events.wait(ctx, t, 1)
	if want := "session: closed by peer: going-away: server shutting down"; lost[0] != want {
		t.Fatalf("connection lost: %q, want %q", lost[0], want)
	}
	if err := h.srv.Attach(newGatedEnd()); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("attach after close: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("client close: %v", err)
	}
}

func newGatedEnd() *pipeEnd {
	_, s := newPipe(newGate(true))
	return s
}

// chanListener accepts the connections sent on conns; once closed, it
// fails with fail (or errPipeClosed). Its first temporary Accepts fail
// with a temporary error.
type chanListener struct {
	conns     chan Conn
	closed    chan struct{}
	fail      error
	temporary int
}

type temporaryError struct{}

func (temporaryError) Error() string   { return "temporary" }
func (temporaryError) Temporary() bool { return true }

func (l *chanListener) Accept() (Conn, error) {
	if l.temporary > 0 {
		l.temporary--
		return nil, temporaryError{}
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		if l.fail != nil {
			return nil, l.fail
		}
		return nil, errPipeClosed
	}
}

func (l *chanListener) Close() error {
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}

func TestServe(t *testing.T) {
	ctx := testCtx(t)
	srv := NewServer(ServerOptions{OnRequest: func(_ context.Context, r Request) ([]byte, error) { return r.Payload, nil }})
	l := &chanListener{conns: make(chan Conn), closed: make(chan struct{}), temporary: 2}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c, err := Dial(ctx, func(context.Context) (Conn, error) {
		client, server := newPipe(newGate(true))
		l.conns <- server
		return client, nil
	}, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.Request(ctx, []byte("hi")); err != nil || string(resp) != "hi" {
		t.Fatalf("request: %q, %v", resp, err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	if err := srv.Serve(&chanListener{closed: make(chan struct{})}); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func TestServeListenerFailure(t *testing.T) {
	ctx := testCtx(t)
	srv := NewServer(ServerOptions{})
	boom := errors.New("boom")
	l := &chanListener{closed: make(chan struct{}), fail: boom}
	l.Close()
	if err := srv.Serve(l); !errors.Is(err, boom) {
		t.Fatalf("Serve: %v, want boom", err)
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// A response that would exceed the requester's message size limit is
// replaced by an error response: the request still gets its one answer.
func TestResponseTooLarge(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{OnRequest: func(_ context.Context, r Request) ([]byte, error) {
		return make([]byte, 2000), nil
	}})
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: session.LinkConfig{MaxMessageSize: 1024}}})
	_, err := c.Request(ctx, []byte("big one"))
	var re *session.RemoteError
	if !errors.As(err, &re) || re.Code != proto.ErrCodeInternal || re.Message != "response too large" {
		t.Fatalf("request: %v, want an internal error response", err)
	}
	closeAll(ctx, t, h, c)
}

// Close with a context that has already ended does not flush: it closes
// every connection at once (a writer may be stuck on a peer that does not
// read) and still ends every goroutine.
func TestServerCloseGivesUpWithItsContext(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{})
	h.buffer = 1
	c := h.dial(ctx, ClientOptions{})
	h.clientGate.shut() // the client stops reading
	for i := range 200 {
		if err := h.srv.Send(ctx, c.ID(), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := h.srv.Close(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("close: %v, want context.Canceled", err)
	}
	h.clientGate.release()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("client close: %v", err)
	}
}
