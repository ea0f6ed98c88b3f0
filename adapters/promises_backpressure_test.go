package adapters

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bettersocket/bettersocket/session"
)

// Promises of the package doc (Guarantees, Concurrency) about commands
// that wait for room: "Commands that find the send window full (or all
// request slots taken) wait in a queue per session and are stepped first
// come, first sent as acknowledgements make room, or return ctx.Err()
// unsent", and "a call that returns ctx.Err() before it was sent has not
// been sent".

const fcfs = "first come, first sent"

// arrivals records, in order, what the server's handlers were given:
// "msg:<payload>" and "req:<payload>", without the dots that pad
// payloads to size. A request "hold" is answered once
// release is closed, after telling held.
func arrivals(got *collector, held chan<- struct{}, release <-chan struct{}) ServerOptions {
	return ServerOptions{
		Session:   session.ServerConfig{LinkConfig: immediateAcks},
		OnMessage: func(_ context.Context, m Message) { got.add("msg:" + strings.TrimRight(string(m.Payload), ".")) },
		OnRequest: func(_ context.Context, r Request) ([]byte, error) {
			got.add("req:" + string(r.Payload))
			if string(r.Payload) == "hold" {
				held <- struct{}{}
				<-release
			}
			return r.Payload, nil
		},
	}
}

// A command that waits is not overtaken by a later command of its session
// that would fit now, whatever each waits for (a request slot, bytes of
// the window): neither when the later one enters, nor when something
// arrives and the waiting commands are retried.
func TestFirstComeFirstSentAcrossReasons(t *testing.T) {
	// The later command is a small Send; the first to wait is a Request
	// that found every request slot taken (request-slot), or a large Send
	// that found the byte window too full (byte-window).
	for _, reason := range []string{"request-slot", "byte-window"} {
		t.Run(reason, func(t *testing.T) {
			ctx := testCtx(t)
			got := newCollector()
			held, release := make(chan struct{}, 1), make(chan struct{})
			open := sync.OnceFunc(func() { close(release) })
			t.Cleanup(open) // a test that fails leaves nothing held
			opts := arrivals(got, held, release)
			opts.clock = newFakeClock()
			h := newHarness(t, opts)
			h.plain = true
			poked := make(chan struct{}, 1)
			link := immediateAcks
			link.MaxRequests, link.MaxUnackedBytes = 1, 1000
			c := h.dial(ctx, ClientOptions{
				Session:   session.ClientConfig{LinkConfig: link},
				OnMessage: func(context.Context, Message) { poked <- struct{}{} },
				clock:     newFakeClock(),
			})
			var want []string
			outcome := func(f func() error) <-chan error {
				ch := make(chan error, 1)
				go func() { ch <- f() }()
				return ch
			}
			var first, holder <-chan error
			switch reason {
			case "request-slot":
				// The one request slot is taken by a request the server
				// holds; the next request waits for it.
				holder = outcome(func() error { _, err := c.Request(ctx, []byte("hold")); return err })
				receive(t, held, "setup", "the server never got the held request")
				first = outcome(func() error { _, err := c.Request(ctx, []byte("first")); return err })
				want = []string{"req:hold", "req:first", "msg:later"}
			case "byte-window":
				// The server reads nothing, so acknowledges nothing: 600
				// bytes stay unacknowledged, and 600 more do not fit in
				// 1000, though 100 would.
				h.gate.shut()
				if err := c.Send(ctx, []byte("a"+strings.Repeat(".", 599))); err != nil {
					t.Fatal(err)
				}
				first = outcome(func() error { return c.Send(ctx, []byte("first"+strings.Repeat(".", 595))) })
				want = []string{"msg:a", "msg:first", "msg:later"}
			}
			eventually(t, func() bool { return parked(ctx, c.d) == 1 }, first,
				"setup", "the first command never waited")
			later := outcome(func() error { return c.Send(ctx, []byte("later")) })
			eventually(t, func() bool { return parked(ctx, c.d) == 2 }, later,
				fcfs, "a later Send that fits went ahead of the "+reason+" command waiting before it")
			// Something arrives: the waiting commands are retried. The
			// first still does not fit; the later must stay behind it. The
			// client steps the message, and retries, before its handler
			// runs.
			if err := h.srv.Send(ctx, c.ID(), []byte("poke")); err != nil {
				t.Fatal(err)
			}
			receive(t, poked, "setup", "the client never got the server's message")
			if n := parked(ctx, c.d); n != 2 {
				t.Fatalf("promise broken: %s: when the waiting commands were retried, the later Send went ahead of the %s command (%d waiting, want 2)", fcfs, reason, n)
			}
			// Room opens for both: they go in the order they came.
			open()
			h.gate.release()
			for _, ch := range []<-chan error{holder, first, later} {
				if ch == nil {
					continue
				}
				if err := receive(t, ch, fcfs, "a waiting command never got its outcome"); err != nil {
					t.Fatal(err)
				}
			}
			if msgs := got.wait(ctx, t, len(want)); !slices.Equal(msgs, want) {
				t.Fatalf("promise broken: %s: the server got %q, want %q", fcfs, msgs, want)
			}
			closeAll(ctx, t, h, c)
		})
	}
}

const notSent = "ctx.Err() means not sent"

// A Send waiting for the window whose ctx ends just as acknowledgements
// let it out tells the truth: nil when it was sent (and it is delivered),
// ctx.Err() when it was not (and it never is).
func TestCtxErrMeansNotSentAtTheBoundary(t *testing.T) {
	// setup dials a client whose window (one frame) is full: m0 waits for
	// an acknowledgement the server, which reads nothing, does not send.
	setup := func(t *testing.T) (context.Context, *harness, *Client, *collector) {
		ctx := testCtx(t)
		got := newCollector()
		h := newHarness(t, ServerOptions{
			Session:   session.ServerConfig{LinkConfig: immediateAcks},
			OnMessage: got.onMessage,
			clock:     newFakeClock(),
		})
		h.plain = true
		link := immediateAcks
		link.MaxInflight = 1
		c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: link}, clock: newFakeClock()})
		h.gate.shut()
		if err := c.Send(ctx, []byte("m0")); err != nil {
			t.Fatal(err)
		}
		return ctx, h, c, got
	}
	send := func(ctx context.Context, c *Client, payload string) <-chan error {
		ch := make(chan error, 1)
		go func() { ch <- c.Send(ctx, []byte(payload)) }()
		return ch
	}

	// The acknowledgement is stepped, and m1 with it, while m1's ctx ends:
	// its caller, woken by the ctx, finds m1 sent. nil is the only true
	// answer.
	t.Run("let-out-as-ctx-ends", func(t *testing.T) {
		ctx, h, c, got := setup(t)
		mctx, cancel := context.WithCancel(ctx)
		res := send(mctx, c, "m1")
		eventually(t, func() bool { return parked(ctx, c.d) == 1 }, res, "setup", "m1 never waited for the window")
		d := c.d
		// m0 is written (the writer may have left its Ready to the writer
		// goroutine, which needs the lock the test is about to hold).
		eventually(t, func() bool { return !probe(ctx, d, func() bool { return anyWriting(d) }) },
			(<-chan struct{})(nil), "setup", "the client never wrote m0")
		now := d.lock()
		h.gate.release() // the server reads m0 and acknowledges it
		// The client's reader has read the ACK and waits for the lock.
		eventually(t, func() bool {
			d.rmu.Lock()
			defer d.rmu.Unlock()
			return len(d.rq) > 0
		}, (<-chan struct{})(nil), "setup", "the client never read the server's ACK")
		cancel()
		// Step the ACK as the reader would: m1 is let out.
		if d.stepReceived(now) {
			d.progress = true
			d.settle(0)
		}
		d.unlock()
		err := receive(t, res, notSent, "the Send let out never returned")
		msgs := got.wait(ctx, t, 2)
		if err != nil || !slices.Equal(msgs, []string{"m0", "m1"}) {
			t.Fatalf("promise broken: %s: the Send returned %v, and the server got %q: m1 was sent, so it must return nil", notSent, err, msgs)
		}
		closeAll(ctx, t, h, c)
	})

	// m1's caller gives up before the window opens: ctx.Err(), and m1 is
	// never sent, even once the window opens.
	t.Run("gave-up-first", func(t *testing.T) {
		ctx, h, c, got := setup(t)
		mctx, cancel := context.WithCancel(ctx)
		res := send(mctx, c, "m1")
		eventually(t, func() bool { return parked(ctx, c.d) == 1 }, res, "setup", "m1 never waited for the window")
		cancel()
		if err := receive(t, res, notSent, "the cancelled Send never returned"); !errors.Is(err, context.Canceled) {
			t.Fatalf("promise broken: %s: a Send that waited until its ctx ended returned %v, want context.Canceled", notSent, err)
		}
		h.gate.release()
		if err := c.Send(ctx, []byte("m2")); err != nil {
			t.Fatal(err)
		}
		if msgs := got.wait(ctx, t, 2); !slices.Equal(msgs, []string{"m0", "m2"}) {
			t.Fatalf("promise broken: %s: the Send returned context.Canceled, and the server got %q, want [m0 m2]", notSent, msgs)
		}
		closeAll(ctx, t, h, c)
	})
}
