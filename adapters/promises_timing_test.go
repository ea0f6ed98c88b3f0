package adapters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/session"
)

// Promises of the package doc (Concurrency) about what the driver does on
// time, on its own: each test moves a fake clock by hand to exactly the
// deadline the promise names, with nothing else due, so that no other
// timer (a held ACK, a heartbeat) can keep the promise in its place.

const handedOver = "a slow handler hands the reading to a new goroutine"

// "A handler that runs longer than a millisecond ... hands the reading to
// a new goroutine, so a connection is never left unread behind a slow
// handler": the reader running a handler inline arms the timer for
// inlineGrace, and when it fires a new reader reads the connection.
func TestSlowInlineHandlerIsHandedOverOnTime(t *testing.T) {
	ctx := testCtx(t)
	clk := newFakeClock()
	held, release := make(chan struct{}, 1), make(chan struct{})
	open := sync.OnceFunc(func() { close(release) })
	t.Cleanup(open)
	got := newCollector()
	h := newHarness(t, ServerOptions{
		Session: session.ServerConfig{LinkConfig: immediateAcks},
		OnMessage: func(_ context.Context, m Message) {
			if string(m.Payload) == "slow" {
				held <- struct{}{}
				<-release
			}
			got.add(string(m.Payload))
		},
		clock: clk,
	})
	h.plain = true
	link := immediateAcks
	link.MaxInflight = 1
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: link}, clock: newFakeClock()})
	if err := c.Send(ctx, []byte("slow")); err != nil {
		t.Fatal(err)
	}
	// The server's reader runs the handler itself: its session's queue
	// was idle. It armed the hand-over before it began.
	receive(t, held, "setup", "the server's handler never ran")
	armed(t, clk, fakeStart.Add(inlineGrace), handedOver)
	// The window holds one frame: m1 goes once "slow" is acknowledged, m2
	// only once somebody reads m1.
	if err := c.Send(ctx, []byte("m1")); err != nil {
		t.Fatal(err)
	}
	m2 := make(chan error, 1)
	go func() { m2 <- c.Send(ctx, []byte("m2")) }()
	eventually(t, func() bool { return parked(ctx, c.d) == 1 }, m2,
		"setup", "the server read m1 before inlineGrace passed")
	<-clk.Advance(inlineGrace)
	if err := receive(t, m2, handedOver, "inlineGrace passed and nobody read the slow handler's connection"); err != nil {
		t.Fatal(err)
	}
	open()
	if msgs := got.wait(ctx, t, 3); !slices.Equal(msgs, []string{"slow", "m1", "m2"}) {
		t.Fatalf("server got %q", msgs)
	}
	closeAll(ctx, t, h, c)
}

const killedOnTime = "a connection the machine has given up is killed closeGrace later"

// "A connection the machine has given up is closed once its queue is
// written, or killed two seconds later": here its writer is stuck on a
// client that does not read, and the kill comes closeGrace after the
// hang-up, with nothing else due.
func TestStuckClosingConnectionIsKilledOnTime(t *testing.T) {
	ctx := testCtx(t)
	clk := newFakeClock()
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{LinkConfig: immediateAcks}, clock: clk})
	h.plain = true
	h.buffer = 1
	link := immediateAcks
	link.MaxMessageSize = 1024 // the server's messages cannot be joined
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: link}, clock: newFakeClock()})
	h.clientGate.shut()
	// The client's reader holds one message, the pipe another: the
	// server's writer blocks on the third.
	for range 3 {
		if err := h.srv.Send(ctx, c.ID(), []byte(strings.Repeat("x", 600))); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.srv.Kick(ctx, c.ID(), "enough"); err != nil {
		t.Fatal(err)
	}
	armed(t, clk, fakeStart.Add(closeGrace), killedOnTime)
	h.mu.Lock()
	p := h.pipes[0]
	h.mu.Unlock()
	<-clk.Advance(closeGrace)
	receive(t, p.closed, killedOnTime, "closeGrace passed and the stuck connection is still open")
	h.clientGate.release()
	c.Close(ctx) // the kicked session's error, if the client learnt of it
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

const redials = "a client reconnects with its backoff until a dial succeeds"

// failingRand fails every read: the machine's backoff is then its
// ceiling, ReconnectMin·2^(n-1) for attempt n, which the test can wait for.
type failingRand struct{}

func (failingRand) Read([]byte) (int, error) { return 0, errors.New("no randomness") }

// A Client whose redial fails tries again after the next backoff, and
// resumes when that dial succeeds ("a Client that dials, reconnects and
// resumes on its own").
func TestClientRedialsAfterAFailedRedial(t *testing.T) {
	ctx := testCtx(t)
	clk := newFakeClock()
	h := newHarness(t, ServerOptions{
		Session:   session.ServerConfig{LinkConfig: immediateAcks},
		OnRequest: func(_ context.Context, r Request) ([]byte, error) { return r.Payload, nil },
	})
	h.plain = true
	dial, dialed := countedDial(h, func(attempt int) bool { return attempt == 2 })
	const backoff = 100 * time.Millisecond
	c, err := Dial(ctx, dial, ClientOptions{
		Session: session.ClientConfig{
			LinkConfig:   immediateAcks,
			ReconnectMin: backoff, ReconnectMax: time.Second,
			Rand: failingRand{},
		},
		clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	<-dialed
	h.cut()
	armedAt(t, clk, fakeStart.Add(backoff), redials)
	<-clk.Advance(backoff)
	if got := receive(t, dialed, redials, "the backoff passed and the client did not redial"); got != 2 {
		t.Fatalf("dial attempt %d, want 2", got)
	}
	// That dial failed: the next waits twice as long.
	armedAt(t, clk, fakeStart.Add(3*backoff), redials)
	<-clk.Advance(2 * backoff)
	if got := receive(t, dialed, redials, "after a failed redial, the client never dialed again"); got != 3 {
		t.Fatalf("dial attempt %d, want 3", got)
	}
	rctx := boundCtx(t, ctx)
	if resp, err := c.Request(rctx, []byte("after")); err != nil || string(resp) != "after" {
		t.Fatalf("promise broken: %s: request after the redial: %q, %v", redials, resp, err)
	}
	if st := c.Stats(); st.Resumes != 1 || st.SessionsLost != 0 {
		t.Fatalf("%d resumes, %d sessions lost; want 1, 0", st.Resumes, st.SessionsLost)
	}
	closeAll(ctx, t, h, c)
}

const writerGoesOn = "a Request writes one batch itself and leaves the rest to a writer"

// "A Request writes itself when the connection's writer is idle": one
// batch, its own; what is queued behind it meanwhile is written by a
// writer goroutine, with nothing else (no timer, no arrival) to start one.
func TestWriterGoesOnAfterARequestsOwnBatch(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	h := newHarness(t, ServerOptions{
		Session:   session.ServerConfig{LinkConfig: immediateAcks},
		OnMessage: got.onMessage,
		OnRequest: func(_ context.Context, r Request) ([]byte, error) { return r.Payload, nil },
		clock:     newFakeClock(),
	})
	h.plain = true
	h.buffer = 1
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: immediateAcks}, clock: newFakeClock()})
	sent := blockNextWrite(ctx, t, h, c)
	res := make(chan error, 1)
	go func() {
		resp, err := c.Request(ctx, []byte("req"))
		if err == nil && string(resp) != "req" {
			err = fmt.Errorf("response %q", resp)
		}
		res <- err
	}()
	// Once the request waits for its response, its caller is writing it:
	// the pipe is full, so the write blocks. What is sent now queues
	// behind it.
	eventually(t, func() bool { return probe(ctx, c.d, func() int { return len(c.d.calls) }) == 1 }, res,
		"setup", "the request was never sent")
	const behind = 5
	for i := range behind {
		if err := c.Send(ctx, fmt.Appendf(nil, "m%d", sent+i)); err != nil {
			t.Fatal(err)
		}
	}
	h.gate.release()
	if err := receive(t, res, writerGoesOn, "the request was never answered"); err != nil {
		t.Fatal(err)
	}
	msgs := got.waitFor(t, sent+behind, writerGoesOn, "what was queued behind the request's own write was never written")
	for i, m := range msgs {
		if m != fmt.Sprint("m", i) {
			t.Fatalf("message %d is %q (all: %q)", i, m, msgs)
		}
	}
	closeAll(ctx, t, h, c)
}
