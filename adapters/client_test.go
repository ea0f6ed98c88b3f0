package adapters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// collector collects payloads from handlers.
type collector struct {
	mu   sync.Mutex
	got  []string
	more chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (b *collector) add(s string) {
	b.mu.Lock()
	b.got = append(b.got, s)
	b.mu.Unlock()
	select {
	case b.more <- struct{}{}:
	default:
	}
}

// wait returns the payloads once there are n of them.
func (b *collector) wait(ctx context.Context, t *testing.T, n int) []string {
	t.Helper()
	got, ok := b.until(n, ctx.Done())
	if !ok {
		t.Fatalf("have %d of %d: %q", len(got), n, got)
	}
	return got
}

// until returns the payloads once there are n of them, or those it has
// when stop is closed first (and false).
func (b *collector) until(n int, stop <-chan struct{}) ([]string, bool) {
	for {
		b.mu.Lock()
		got := slices.Clone(b.got)
		b.mu.Unlock()
		if len(got) >= n {
			return got, true
		}
		select {
		case <-b.more:
		case <-stop:
			return got, false
		}
	}
}

func (b *collector) onMessage(_ context.Context, m Message) { b.add(string(m.Payload)) }

// probe runs fn with d's machine locked, then lets d dispatch what fn may
// have stepped, and returns fn's result.
func probe[T any](_ context.Context, d *driver, fn func() T) T {
	d.lock()
	defer d.unlock()
	v := fn()
	if !d.ended {
		d.settle(0)
	}
	return v
}

// waitParked waits until n commands wait for the send window of d.
func waitParked(ctx context.Context, t *testing.T, d *driver, n int) {
	t.Helper()
	for probe(ctx, d, func() int { return d.nparked }) != n {
		if ctx.Err() != nil {
			t.Fatalf("never %d parked commands", n)
		}
		runtime.Gosched()
	}
}

func closeAll(ctx context.Context, t *testing.T, h *harness, clients ...*Client) {
	t.Helper()
	for _, c := range clients {
		if err := c.Close(ctx); err != nil {
			t.Errorf("client close: %v", err)
		}
	}
	if err := h.srv.Close(ctx); err != nil {
		t.Errorf("server close: %v", err)
	}
}

func TestSendAndRequestBothWays(t *testing.T) {
	ctx := testCtx(t)
	fromClient := newCollector()
	h := newHarness(t, ServerOptions{
		OnMessage: fromClient.onMessage,
		OnRequest: func(_ context.Context, r Request) ([]byte, error) { return bytes.ToUpper(r.Payload), nil },
	})
	fromServer := newCollector()
	c := h.dial(ctx, ClientOptions{
		OnMessage: fromServer.onMessage,
		OnRequest: func(_ context.Context, r Request) ([]byte, error) { return append(r.Payload, '!'), nil },
	})
	for _, s := range []string{"a", "b", "c"} {
		if err := c.Send(ctx, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.Request(ctx, []byte("hi"))
	if err != nil || string(resp) != "HI" {
		t.Fatalf("request: %q, %v", resp, err)
	}
	if got := fromClient.wait(ctx, t, 3); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("server got %q", got)
	}
	id := c.ID()
	if id.IsZero() {
		t.Fatal("client has no ID")
	}
	if err := h.srv.Send(ctx, id, []byte("x")); err != nil {
		t.Fatal(err)
	}
	resp, err = h.srv.Request(ctx, id, []byte("ask"))
	if err != nil || string(resp) != "ask!" {
		t.Fatalf("server request: %q, %v", resp, err)
	}
	if got := fromServer.wait(ctx, t, 1); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("client got %q", got)
	}
	closeAll(ctx, t, h, c)
}

func TestSendKeepsItsOwnCopy(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	h := newHarness(t, ServerOptions{OnMessage: got.onMessage})
	c := h.dial(ctx, ClientOptions{})
	buf := []byte("first")
	if err := c.Send(ctx, buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX")
	if err := c.Send(ctx, buf); err != nil {
		t.Fatal(err)
	}
	if msgs := got.wait(ctx, t, 2); !slices.Equal(msgs, []string{"first", "XXXXX"}) {
		t.Fatalf("server got %q", msgs)
	}
	closeAll(ctx, t, h, c)
}

// Handlers run off the lock and off the readers: they can call back into
// the Client and the Server, including requests that need a reader to
// complete.
func TestHandlersMayCallBack(t *testing.T) {
	ctx := testCtx(t)
	var srv *Server
	done := newCollector()
	h := newHarness(t, ServerOptions{
		OnMessage: func(ctx context.Context, m Message) {
			switch string(m.Payload) {
			case "ping":
				// A request to the client from inside a handler.
				resp, err := srv.Request(ctx, m.Client, []byte("who"))
				if err != nil {
					t.Errorf("server request in handler: %v", err)
					return
				}
				for i := range 50 { // more than the client's window
					if err := srv.Send(ctx, m.Client, fmt.Appendf(nil, "pong %s %d", resp, i)); err != nil {
						t.Errorf("server send in handler: %v", err)
						return
					}
				}
			default:
				done.add(string(m.Payload))
			}
		},
		OnRequest: func(_ context.Context, r Request) ([]byte, error) { return r.Payload, nil },
	})
	srv = h.srv
	var client struct {
		sync.Mutex
		c *Client
	}
	client.Lock()
	c := h.dial(ctx, ClientOptions{
		Session: session.ClientConfig{LinkConfig: session.LinkConfig{MaxInflight: 4}},
		OnRequest: func(context.Context, Request) ([]byte, error) {
			return []byte("client"), nil
		},
		OnMessage: func(ctx context.Context, m Message) {
			client.Lock()
			c := client.c
			client.Unlock()
			resp, err := c.Request(ctx, m.Payload) // the server echoes
			if err != nil || !bytes.Equal(resp, m.Payload) {
				t.Errorf("client request in handler: %q, %v", resp, err)
				return
			}
			if err := c.Send(ctx, append([]byte("got "), m.Payload...)); err != nil {
				t.Errorf("client send in handler: %v", err)
			}
		},
	})
	client.c = c
	client.Unlock()
	if err := c.Send(ctx, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := done.wait(ctx, t, 50)
	for i, s := range got {
		if want := fmt.Sprintf("got pong client %d", i); s != want {
			t.Fatalf("message %d: %q, want %q", i, s, want)
		}
	}
	closeAll(ctx, t, h, c)
}

// The server may queue more than the client's announced window; what the
// window holds back goes out as the client's acknowledgements open it.
func TestServerQueuesBeyondTheClientsWindow(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{})
	got := newCollector()
	c := h.dial(ctx, ClientOptions{
		Session:   session.ClientConfig{LinkConfig: session.LinkConfig{MaxInflight: 4}},
		OnMessage: got.onMessage,
	})
	// Queue all 50 under one lock, so that one Ready sends the first 4
	// and acknowledgements alone must release the rest.
	var want []string
	err := probe(ctx, h.srv.d, func() error {
		for i := range 50 {
			want = append(want, fmt.Sprint(i))
			if err := h.srv.d.eng.step(time.Now(), session.Send{To: c.ID(), Payload: []byte(want[i])}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if msgs := got.wait(ctx, t, 50); !slices.Equal(msgs, want) {
		t.Fatalf("client got %q", msgs)
	}
	closeAll(ctx, t, h, c)
}

func TestSendWaitsForTheWindow(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	h := newHarness(t, ServerOptions{OnMessage: got.onMessage})
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: session.LinkConfig{MaxInflight: 4}}})
	h.gate.shut() // the server reads nothing more, so acknowledges nothing
	for i := 1; i <= 4; i++ {
		if err := c.Send(ctx, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The window is full: the next sends wait, first come first sent; one
	// gives up and must not be sent.
	results := make(chan error, 3)
	send := func(ctx context.Context, s string) { results <- c.Send(ctx, []byte(s)) }
	go send(ctx, "m5")
	waitParked(ctx, t, c.d, 1)
	cancelled, cancel := context.WithCancel(ctx)
	go send(cancelled, "never")
	waitParked(ctx, t, c.d, 2)
	go send(ctx, "m6")
	waitParked(ctx, t, c.d, 3)
	cancel()
	if err := <-results; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled send: %v, want context.Canceled", err)
	}
	h.gate.release()
	for range 2 {
		if err := <-results; err != nil {
			t.Fatalf("waiting send: %v", err)
		}
	}
	want := []string{"m1", "m2", "m3", "m4", "m5", "m6"}
	if msgs := got.wait(ctx, t, 6); !slices.Equal(msgs, want) {
		t.Fatalf("server got %q, want %q", msgs, want)
	}
	closeAll(ctx, t, h, c)
}

func TestRequestOutcomes(t *testing.T) {
	ctx := testCtx(t)
	block := make(chan struct{})
	h := newHarness(t, ServerOptions{
		OnRequest: func(ctx context.Context, r Request) ([]byte, error) {
			switch string(r.Payload) {
			case "remote":
				return nil, &session.RemoteError{Code: proto.ErrCodeApplication + 7, Message: "no such thing"}
			case "plain":
				return nil, errors.New("disk on fire")
			case "block":
				<-block
				return []byte("late"), nil
			}
			return r.Payload, nil
		},
	})
	c := h.dial(ctx, ClientOptions{})

	_, err := c.Request(ctx, []byte("remote"))
	var re *session.RemoteError
	if !errors.As(err, &re) || re.Code != proto.ErrCodeApplication+7 || re.Message != "no such thing" {
		t.Errorf("remote error: %v", err)
	}
	_, err = c.Request(ctx, []byte("plain"))
	// A plain error's text stays on the server: it could reveal internals.
	if !errors.As(err, &re) || re.Code != proto.ErrCodeInternal || re.Message != "internal error" {
		t.Errorf("plain error: %v", err)
	}
	if _, err := requestWithin(ctx, c, "block", 50*time.Millisecond); !errors.Is(err, session.ErrRequestTimeout) {
		t.Errorf("blocked request: %v, want ErrRequestTimeout", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Request(cancelled, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v, want context.Canceled", err)
	}
	close(block)
	if resp, err := c.Request(ctx, []byte("fine")); err != nil || string(resp) != "fine" {
		t.Errorf("request after the others: %q, %v", resp, err)
	}
	if st := c.Stats(); st.RequestTimeouts != 1 {
		t.Errorf("client stats: %d request timeouts, want 1", st.RequestTimeouts)
	}
	closeAll(ctx, t, h, c)
}

func TestNoRequestHandler(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{})
	c := h.dial(ctx, ClientOptions{})
	_, err := c.Request(ctx, []byte("anyone?"))
	var re *session.RemoteError
	if !errors.As(err, &re) || re.Code != proto.ErrCodeUnavailable {
		t.Fatalf("request: %v, want unavailable", err)
	}
	_, err = h.srv.Request(ctx, c.ID(), []byte("anyone?"))
	if !errors.As(err, &re) || re.Code != proto.ErrCodeUnavailable {
		t.Fatalf("server request: %v, want unavailable", err)
	}
	closeAll(ctx, t, h, c)
}

func TestCloseReportsWhatWasLost(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{})
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{CloseTimeout: 20 * time.Millisecond}})
	h.gate.shut()
	for _, s := range []string{"one", "two"} {
		if err := c.Send(ctx, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Close(ctx)
	var lost *LostError
	if !errors.As(err, &lost) || !errors.Is(err, session.ErrSessionLost) {
		t.Fatalf("close: %v, want a LostError", err)
	}
	var payloads []string
	for _, f := range lost.Lost.Unacked {
		payloads = append(payloads, fmt.Sprintf("%d:%s", f.Seq, f.Payload))
	}
	if !slices.Equal(payloads, []string{"1:one", "2:two"}) || lost.Cause != nil {
		t.Fatalf("lost %q cause %v, want [1:one 2:two] and no cause", payloads, lost.Cause)
	}
	if err := c.Send(ctx, []byte("after")); !errors.Is(err, session.ErrClosed) {
		t.Fatalf("send after close: %v, want ErrClosed", err)
	}
	h.gate.release()
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// A Close while the connection is lost reconnects at once (not after the
// backoff, here an hour), resumes and flushes: nothing is lost.
func TestCloseReconnectsToFlush(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	h := newHarness(t, ServerOptions{OnMessage: got.onMessage})
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{ReconnectMin: time.Hour, ReconnectMax: time.Hour}})
	h.gate.shut() // the server reads no more on this connection
	for _, s := range []string{"one", "two"} {
		if err := c.Send(ctx, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	h.cut() // and what it held is lost with it
	h.gate.release()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close: %v, want nil", err)
	}
	if msgs := got.wait(ctx, t, 2); !slices.Equal(msgs, []string{"one", "two"}) {
		t.Fatalf("server got %q", msgs)
	}
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestKickEndsTheClient(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{})
	events := newCollector()
	c := h.dial(ctx, ClientOptions{OnEvent: func(_ context.Context, ev session.Event) {
		events.add(fmt.Sprintf("%T", ev))
	}})
	if err := h.srv.Kick(ctx, c.ID(), "bye"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client did not end")
	}
	var ce *session.CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != proto.ClosePolicy || ce.Reason != "bye" || !ce.Remote {
		t.Fatalf("client error: %v, want a remote CLOSE policy", err)
	}
	if err := c.Send(ctx, []byte("x")); !errors.Is(err, session.ErrClosed) {
		t.Fatalf("send: %v, want ErrClosed", err)
	}
	if err := c.Close(ctx); !errors.As(err, &ce) {
		t.Fatalf("close: %v, want the CLOSE that ended the client", err)
	}
	want := []string{"*session.SessionStarted", "*session.Closed"}
	if got := events.wait(ctx, t, 2); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestResumeAfterCut(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	h := newHarness(t, ServerOptions{OnMessage: got.onMessage})
	events := newCollector()
	c := h.dial(ctx, ClientOptions{
		Session: session.ClientConfig{ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond},
		OnEvent: func(_ context.Context, ev session.Event) { events.add(fmt.Sprintf("%T", ev)) },
	})
	id := c.ID()
	h.gate.shut()
	if err := c.Send(ctx, []byte("before")); err != nil {
		t.Fatal(err)
	}
	h.cut() // "before" was written but never read: it must come again
	h.gate.release()
	if err := c.Send(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if msgs := got.wait(ctx, t, 2); !slices.Equal(msgs, []string{"before", "after"}) {
		t.Fatalf("server got %q", msgs)
	}
	want := []string{"*session.SessionStarted", "*session.ConnectionLost", "*session.Resumed"}
	if evs := events.wait(ctx, t, 3); !slices.Equal(evs, want) {
		t.Fatalf("events %q, want %q", evs, want)
	}
	if c.ID() != id {
		t.Fatalf("session ID changed from %s to %s", id, c.ID())
	}
	if st := h.srv.Stats(); st.Resumes != 1 || st.SessionsStarted != 1 {
		t.Fatalf("server: %d resumes, %d sessions; want 1, 1", st.Resumes, st.SessionsStarted)
	}
	closeAll(ctx, t, h, c)
}

func TestDialRefused(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{
		Authorize: func(r session.AuthRequest) error {
			if string(r.Auth) != "secret" {
				return errors.New("wrong password")
			}
			return nil
		},
	}})
	_, err := Dial(ctx, h.dialFunc(), ClientOptions{Session: session.ClientConfig{Auth: []byte("guess")}})
	var ce *session.CloseError
	if !errors.As(err, &ce) || ce.Code != proto.ClosePolicy {
		t.Fatalf("dial: %v, want CLOSE policy", err)
	}
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{Auth: []byte("secret")}})
	closeAll(ctx, t, h, c)
}

func TestDialGivesUpWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	var end *pipeEnd
	_, err := Dial(ctx, func(context.Context) (Conn, error) {
		client, _ := newPipe(newGate(true)) // nobody serves the other end
		end = client
		cancel()
		return client, nil
	}, ClientOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("dial: %v, want context.Canceled", err)
	}
	select {
	case <-end.p.closed:
	default:
		t.Fatal("the connection was left open")
	}
}

func TestStatsAndLogs(t *testing.T) {
	ctx := testCtx(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, nil))
	h := newHarness(t, ServerOptions{
		Logger:    logger,
		OnRequest: func(_ context.Context, r Request) ([]byte, error) { return r.Payload, nil },
	})
	c := h.dial(ctx, ClientOptions{Logger: logger})
	for range 3 {
		if err := c.Send(ctx, []byte("12345")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Request(ctx, []byte("q")); err != nil {
		t.Fatal(err)
	}
	cs, ss := c.Stats(), h.srv.Stats()
	if cs.Sent != 4 || cs.Delivered != 1 || cs.Sessions != 1 || cs.SessionsStarted != 1 {
		t.Errorf("client stats %+v: want 4 sent, 1 delivered, 1 session", cs)
	}
	if ss.Delivered != 4 || ss.Sent != 1 || ss.Sessions != 1 || ss.Connections != 1 {
		t.Errorf("server stats %+v: want 4 delivered, 1 sent, 1 session, 1 connection", ss)
	}
	closeAll(ctx, t, h, c)
	logMu.Lock()
	defer logMu.Unlock()
	var started []string
	for line := range strings.Lines(logs.String()) {
		var rec struct{ Msg, Side, Client string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "session started" {
			started = append(started, rec.Side+" "+rec.Client)
		}
	}
	id := c.ID().String()
	if !slices.Equal(started, []string{"client " + id, "server " + id}) && !slices.Equal(started, []string{"server " + id, "client " + id}) {
		t.Fatalf("session started logs %q, want one per side for %s", started, id)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestRequestFailsWhenTheSessionEnds(t *testing.T) {
	ctx := testCtx(t)
	started := make(chan proto.ClientID, 1)
	release := make(chan struct{})
	h := newHarness(t, ServerOptions{OnRequest: func(_ context.Context, r Request) ([]byte, error) {
		started <- r.Client
		<-release
		return nil, nil
	}})
	c := h.dial(ctx, ClientOptions{})
	result := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, []byte("slow"))
		result <- err
	}()
	if err := h.srv.Kick(ctx, <-started, "enough"); err != nil {
		t.Fatal(err)
	}
	if err := <-result; !errors.Is(err, session.ErrSessionLost) {
		t.Fatalf("request: %v, want ErrSessionLost", err)
	}
	close(release)
	var ce *session.CloseError
	if err := c.Close(ctx); !errors.As(err, &ce) || ce.Code != proto.ClosePolicy {
		t.Fatalf("close: %v, want the CLOSE policy that ended the client", err)
	}
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// When the server no longer knows the session (it restarted), the client
// starts a new one and reports the old one lost, naming what was never
// acknowledged.
func TestSessionLostAfterServerRestart(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{})
	lost := make(chan *session.SessionLost, 1)
	c := h.dial(ctx, ClientOptions{
		Session: session.ClientConfig{ReconnectMin: time.Millisecond, ReconnectMax: time.Millisecond},
		OnEvent: func(_ context.Context, ev session.Event) {
			if sl, ok := ev.(*session.SessionLost); ok {
				lost <- sl
			}
		},
	})
	old := c.ID()
	h.gate.shut()
	for _, s := range []string{"a", "b"} {
		if err := c.Send(ctx, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	first := h.srv
	got := newCollector()
	h.mu.Lock()
	h.srv = NewServer(ServerOptions{OnMessage: got.onMessage}) // the restarted server
	h.gate = newGate(true)
	h.mu.Unlock()
	h.cut()
	var sl *session.SessionLost
	select {
	case sl = <-lost:
	case <-ctx.Done():
		t.Fatal("no SessionLost")
	}
	var payloads []string
	for _, f := range sl.Lost.Unacked {
		payloads = append(payloads, fmt.Sprintf("%d:%s", f.Seq, f.Payload))
	}
	if sl.Client != old || !errors.Is(sl.Err, session.ErrResumeRefused) || !slices.Equal(payloads, []string{"1:a", "2:b"}) {
		t.Fatalf("session lost: client %s err %v unacked %q; want %s, ErrResumeRefused, [1:a 2:b]", sl.Client, sl.Err, payloads, old)
	}
	if err := c.Send(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if msgs := got.wait(ctx, t, 1); !slices.Equal(msgs, []string{"after"}) {
		t.Fatalf("new server got %q", msgs)
	}
	if c.ID() == old || c.ID().IsZero() {
		t.Fatalf("client ID %s after the loss, want a new one", c.ID())
	}
	closeAll(ctx, t, h, c)
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// Close with a context that has already ended aborts at once.
func TestClientCloseGivesUpWithItsContext(t *testing.T) {
	ctx := testCtx(t)
	events := newCollector()
	h := newHarness(t, ServerOptions{})
	c := h.dial(ctx, ClientOptions{OnEvent: func(_ context.Context, ev session.Event) {
		if cl, ok := ev.(*session.Closed); ok {
			events.add(fmt.Sprint(cl.Lost))
		}
	}})
	h.gate.shut()
	if err := c.Send(ctx, []byte("never acknowledged")); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Close(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("close: %v, want context.Canceled", err)
	}
	h.gate.release()
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The abort reported what it lost; Close did not wait for the handler
	// that hears of it, so wait here.
	if got := events.wait(ctx, t, 1); got[0] != "unacked=[1] requests=[] last=0" {
		t.Fatalf("closed event: %q", got)
	}
}
