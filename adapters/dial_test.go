package adapters

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/session"
)

var errRefused = errors.New("connection refused")

// downUntil returns a DialFunc that fails with errRefused until up is
// called, then dials h; each attempt's number is sent on the returned
// channel before it is answered.
func downUntil(h *harness) (dial DialFunc, attempts <-chan int, up func()) {
	var isUp atomic.Bool
	dial, attempts = countedDial(h, func(int) bool { return !isUp.Load() })
	return dial, attempts, func() { isUp.Store(true) }
}

// countedDial dials h, numbering the attempts from 1 and sending each
// number on attempts before it is made; refuse says which fail with
// errRefused.
func countedDial(h *harness, refuse func(attempt int) bool) (dial DialFunc, attempts <-chan int) {
	var n atomic.Int64
	ch := make(chan int, 16)
	base := h.dialFunc()
	return func(ctx context.Context) (Conn, error) {
		attempt := int(n.Add(1))
		ch <- attempt
		if refuse(attempt) {
			return nil, errRefused
		}
		return base(ctx)
	}, ch
}

const firstDialRetries = "the first Dial retries with the reconnect backoff until the server is up"

// A Dial started while the server is down connects once it comes up: its
// failed attempts are retried with the reconnect backoff (the ceiling
// ReconnectMin·2^(n-1) here, whose randomness fails), exactly as a
// reconnect would be, and the session then works.
func TestFirstDialRetriesUntilTheServerIsUp(t *testing.T) {
	ctx := testCtx(t)
	clk := newFakeClock()
	h := newHarness(t, ServerOptions{
		Session:   session.ServerConfig{LinkConfig: immediateAcks},
		OnRequest: func(_ context.Context, r Request) ([]byte, error) { return r.Payload, nil },
	})
	h.plain = true
	dial, attempts, up := downUntil(h)
	const backoff = 100 * time.Millisecond
	type dialed struct {
		c   *Client
		err error
	}
	res := make(chan dialed, 1)
	go func() {
		c, err := Dial(ctx, dial, ClientOptions{
			Session: session.ClientConfig{
				LinkConfig:   immediateAcks,
				ReconnectMin: backoff, ReconnectMax: time.Second,
				Rand: failingRand{},
			},
			clock: clk,
		})
		res <- dialed{c, err}
	}()
	if n := receive(t, attempts, firstDialRetries, "Dial never dialed"); n != 1 {
		t.Fatalf("attempt %d, want 1", n)
	}
	armedAt(t, clk, fakeStart.Add(backoff), firstDialRetries)
	<-clk.Advance(backoff)
	if n := receive(t, attempts, firstDialRetries, "the backoff passed and Dial did not try again"); n != 2 {
		t.Fatalf("attempt %d, want 2", n)
	}
	armedAt(t, clk, fakeStart.Add(3*backoff), firstDialRetries)
	select {
	case r := <-res:
		t.Fatalf("promise broken: %s: Dial returned while the server was down: %v", firstDialRetries, r.err)
	default:
	}
	up()
	<-clk.Advance(2 * backoff)
	if n := receive(t, attempts, firstDialRetries, "the server came up and Dial never tried again"); n != 3 {
		t.Fatalf("attempt %d, want 3", n)
	}
	r := receive(t, res, firstDialRetries, "Dial did not return once connected")
	if r.err != nil {
		t.Fatalf("promise broken: %s: %v", firstDialRetries, r.err)
	}
	if resp, err := r.c.Request(boundCtx(t, ctx), []byte("hi")); err != nil || string(resp) != "hi" {
		t.Fatalf("request after Dial: %q, %v", resp, err)
	}
	if st := r.c.Stats(); st.SessionsStarted != 1 {
		t.Fatalf("%d sessions started, want 1", st.SessionsStarted)
	}
	closeAll(ctx, t, h, r.c)
}

// A Dial whose ctx ends while the server is down gives up: its error
// matches ctx.Err() and the last attempt's failure, and nothing keeps
// running (goleak, in TestMain).
func TestFirstDialGivesUpWhenItsCtxEnds(t *testing.T) {
	ctx := testCtx(t)
	clk := newFakeClock()
	h := newHarness(t, ServerOptions{})
	dial, attempts, _ := downUntil(h)
	dctx, cancel := context.WithCancel(ctx)
	res := make(chan error, 1)
	go func() {
		c, err := Dial(dctx, dial, ClientOptions{Session: session.ClientConfig{Rand: failingRand{}}, clock: clk})
		if c != nil {
			c.Close(ctx)
		}
		res <- err
	}()
	receive(t, attempts, "setup", "Dial never dialed")
	armedAt(t, clk, fakeStart.Add(session.DefaultReconnectMin), "setup")
	<-clk.Advance(session.DefaultReconnectMin)
	receive(t, attempts, "setup", "Dial did not retry")
	cancel()
	err := receive(t, res, "Dial gives up when its ctx ends", "Dial did not return")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errRefused) {
		t.Fatalf("Dial: %v; want an error matching context.Canceled and the last attempt's failure", err)
	}
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// With FailFast, Dial returns the first failed attempt's error and does
// not try again.
func TestFirstDialFailFast(t *testing.T) {
	ctx := testCtx(t)
	clk := newFakeClock()
	h := newHarness(t, ServerOptions{})
	dial, attempts, _ := downUntil(h)
	c, err := Dial(ctx, dial, ClientOptions{FailFast: true, clock: clk})
	if c != nil || !errors.Is(err, errRefused) {
		t.Fatalf("Dial: %v, %v; want nil and the dial's error", c, err)
	}
	if n := len(attempts); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
	if a := clk.Armed(); len(a) != 0 {
		t.Fatalf("timers still armed after Dial failed: %v", sinceStart(a))
	}
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

const refreshed = "the credentials function is called on every connect; the server sees the refreshed token"

// ClientOptions.Credentials is called before every connection: the server's
// Authorize sees the first token on the first connect and the refreshed
// one on the resume after a loss.
func TestCredentialsAreRefreshedOnReconnect(t *testing.T) {
	ctx := testCtx(t)
	clk := newFakeClock()
	var mu sync.Mutex
	var seen []string
	h := newHarness(t, ServerOptions{
		Session: session.ServerConfig{
			LinkConfig: immediateAcks,
			Authorize: func(r session.AuthRequest) error {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, string(r.Auth))
				if !strings.HasPrefix(string(r.Auth), "token-") {
					return errors.New("no token")
				}
				return nil
			},
		},
		OnRequest: func(_ context.Context, r Request) ([]byte, error) { return r.Payload, nil },
	})
	h.plain = true
	var calls int
	c := h.dial(ctx, ClientOptions{
		Session: session.ClientConfig{LinkConfig: immediateAcks, Auth: []byte("fixed"), Rand: failingRand{}},
		Credentials: func(ctx context.Context) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			return []byte("token-" + string(rune('0'+calls))), nil
		},
		clock: clk,
	})
	h.cut()
	armedAt(t, clk, fakeStart.Add(session.DefaultReconnectMin), refreshed)
	<-clk.Advance(session.DefaultReconnectMin)
	if resp, err := c.Request(boundCtx(t, ctx), []byte("after")); err != nil || string(resp) != "after" {
		t.Fatalf("request after the reconnect: %q, %v", resp, err)
	}
	if st := c.Stats(); st.Resumes != 1 || st.SessionsLost != 0 {
		t.Fatalf("%d resumes, %d sessions lost; want 1, 0", st.Resumes, st.SessionsLost)
	}
	mu.Lock()
	got := slices.Clone(seen)
	mu.Unlock()
	if !slices.Equal(got, []string{"token-1", "token-2"}) {
		t.Fatalf("promise broken: %s: Authorize saw %q", refreshed, got)
	}
	closeAll(ctx, t, h, c)
}

// A Credentials error fails that connection attempt, which is retried
// with the backoff like a failed dial.
func TestCredentialsErrorIsRetried(t *testing.T) {
	ctx := testCtx(t)
	clk := newFakeClock()
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{LinkConfig: immediateAcks}})
	h.plain = true
	errExpired := errors.New("token service down")
	calls := make(chan int, 4)
	n := 0
	res := make(chan error, 1)
	var c *Client
	go func() {
		var err error
		c, err = Dial(ctx, h.dialFunc(), ClientOptions{
			Session: session.ClientConfig{LinkConfig: immediateAcks, Rand: failingRand{}},
			Credentials: func(ctx context.Context) ([]byte, error) {
				n++
				calls <- n
				if n == 1 {
					return nil, errExpired
				}
				return []byte("ok"), nil
			},
			clock: clk,
		})
		res <- err
	}()
	receive(t, calls, "setup", "Credentials never called")
	armedAt(t, clk, fakeStart.Add(session.DefaultReconnectMin), "a failed Credentials call is retried with the backoff")
	<-clk.Advance(session.DefaultReconnectMin)
	if got := receive(t, calls, "a failed Credentials call is retried with the backoff", "never called again"); got != 2 {
		t.Fatalf("call %d, want 2", got)
	}
	if err := receive(t, res, "setup", "Dial did not return"); err != nil {
		t.Fatal(err)
	}
	closeAll(ctx, t, h, c)
}

// On the real clock (and under js/wasm in CI), a redial that fails moves
// the driver's timer from the heartbeat deadline, 30 s away, to the next
// backoff: the client resumes long before the heartbeat would have come
// round. #12 reported a browser client whose timer woke at the older
// deadline instead. The 10 s bound is a hang guard far below 30 s.
func TestFailedRedialDoesNotWaitForAnOlderDeadline(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{HeartbeatInterval: 30 * time.Second}})
	h.plain = true
	var mu sync.Mutex
	n := 0
	base := h.dialFunc()
	dial := func(ctx context.Context) (Conn, error) {
		mu.Lock()
		n++
		attempt := n
		mu.Unlock()
		if attempt == 2 {
			return nil, errRefused
		}
		return base(ctx)
	}
	resumed := make(chan struct{}, 1)
	c, err := Dial(ctx, dial, ClientOptions{
		Session: session.ClientConfig{ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond},
		OnEvent: func(_ context.Context, ev session.Event) {
			if _, ok := ev.(*session.Resumed); ok {
				resumed <- struct{}{}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.cut()
	select {
	case <-resumed:
	case <-time.After(10 * time.Second):
		t.Fatal("after a failed redial the client did not resume within 10 s: its timer waits for an older deadline")
	}
	mu.Lock()
	attempts := n
	mu.Unlock()
	if attempts != 3 {
		t.Fatalf("%d dial attempts, want 3 (one failed redial)", attempts)
	}
	closeAll(ctx, t, h, c)
}
