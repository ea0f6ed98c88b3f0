package adapters

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/session"
)

// Promises of the package doc about handlers: Close "waits for every
// goroutine of the client [server], handlers included, to finish", and
// "once MaxPendingEvents are waiting, that session's connection is no
// longer read, which pushes back on the peer".

const closeWaits = "Close waits for the handlers that are running"

// Close does not return while a handler runs on a worker goroutine: here
// an OnEvent handler that holds the event Close itself produced (the
// client's Closed) or that an earlier Kick did (the server's
// SessionClosed).
func TestCloseWaitsForRunningHandlers(t *testing.T) {
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			ctx := testCtx(t)
			started, release := make(chan struct{}, 1), make(chan struct{})
			open := sync.OnceFunc(func() { close(release) })
			t.Cleanup(open)
			var running atomic.Bool
			began := make(chan struct{}, 1)
			hold := func(ev session.Event) {
				switch ev.(type) {
				case *session.SessionStarted:
					began <- struct{}{}
				case *session.Closed, *session.SessionClosed:
					running.Store(true)
					started <- struct{}{}
					<-release
					running.Store(false)
				}
			}
			var sopts ServerOptions
			var copts ClientOptions
			if side == "server" {
				sopts.OnEvent = func(_ context.Context, ev session.Event) { hold(ev) }
			} else {
				copts.OnEvent = func(_ context.Context, ev session.Event) { hold(ev) }
			}
			h := newHarness(t, sopts)
			c := h.dial(ctx, copts)
			d, q := c.d, c.eng.q
			if side == "server" {
				d, q = h.srv.d, probe(ctx, h.srv.d, func() *eventQueue { return h.srv.eng.queues[c.ID()] })
			}
			// The session's queue is idle (its SessionStarted handled: Dial
			// may return before it is even queued): the event that holds is
			// then handled on a worker, not inline by a reader that is still
			// running the queue.
			receive(t, began, "setup", "the session never started")
			eventually(t, func() bool {
				q.mu.Lock()
				defer q.mu.Unlock()
				return !q.running
			}, (<-chan struct{})(nil), "setup", "the session's handlers never went idle")
			closed := make(chan error, 1)
			if side == "server" {
				if err := h.srv.Kick(ctx, c.ID(), "bye"); err != nil {
					t.Fatal(err)
				}
				receive(t, started, "setup", "the handler never ran")
				c.Close(ctx) // the kicked client's error
				go func() { closed <- h.srv.Close(ctx) }()
			} else {
				go func() { closed <- c.Close(ctx) }()
				receive(t, started, "setup", "the handler never ran")
			}
			// Everything but the handler ends: the machine, the timer,
			// the readers and writers.
			receive(t, d.done, "setup", "the driver never ended")
			transports := make(chan struct{})
			go func() {
				d.wg.Wait()
				close(transports)
			}()
			receive(t, transports, "setup", "the transport goroutines never ended")
			// Close has nothing left to wait for but the handler. Give it
			// every chance to return early: a healthy Close cannot, so
			// this loop decides nothing on a passing run.
			for range 1000 {
				select {
				case err := <-closed:
					t.Fatalf("promise broken: %s: Close returned %v while a handler was still running", closeWaits, err)
				default:
				}
				runtime.Gosched()
			}
			open()
			if err := receive(t, closed, closeWaits, "Close never returned once the handler had"); err != nil && side == "server" {
				t.Fatal(err)
			}
			if running.Load() {
				t.Fatalf("promise broken: %s: Close returned before the handler did", closeWaits)
			}
			if side == "client" {
				if err := h.srv.Close(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

const pushBack = "a session whose handlers fall MaxPendingEvents behind is no longer read"

// A handler that cannot keep up stops the reading of its session's
// connection, so the peer's window fills instead of the handler queue: on
// the session's first connection, and on the one it resumed on.
func TestSlowHandlerPushesBack(t *testing.T) {
	for _, conn := range []string{"first-connection", "after-resume"} {
		t.Run(conn, func(t *testing.T) {
			ctx := testCtx(t)
			var blocking atomic.Bool
			release := make(chan struct{})
			open := sync.OnceFunc(func() { close(release) })
			t.Cleanup(open)
			resumed := make(chan struct{}, 1)
			got := newCollector()
			h := newHarness(t, ServerOptions{
				MaxPendingEvents: 1,
				OnMessage: func(_ context.Context, m Message) {
					if blocking.Load() {
						<-release
					}
					got.add(string(m.Payload))
				},
				OnEvent: func(_ context.Context, ev session.Event) {
					if _, ok := ev.(*session.Resumed); ok {
						resumed <- struct{}{}
					}
				},
			})
			h.plain = true
			c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{
				LinkConfig:   session.LinkConfig{MaxInflight: 4},
				ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond,
			}})
			if conn == "after-resume" {
				h.cut()
				receive(t, resumed, "setup", "the session never resumed")
			}
			blocking.Store(true)
			const n = 100
			sent := make(chan error, 1)
			go func() {
				for i := range n {
					if err := c.Send(ctx, fmt.Appendf(nil, "%d", i)); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			// The server's reader pauses: it steps what it read before it
			// reads again, so from then on the backlog cannot grow.
			id := c.ID()
			eventually(t, func() bool {
				return probe(ctx, h.srv.d, func() bool { return h.srv.eng.queues[id].waiter.Load() })
			}, sent, pushBack, fmt.Sprintf("%s: all %d sends went through while the handler held the first", conn, n))
			// The last check that let it read saw a backlog of at most 1,
			// and the message read then held at most a window (4 frames).
			if backlog := probe(ctx, h.srv.d, func() int64 { return h.srv.eng.queues[id].backlog.Load() }); backlog < 2 || backlog > 5 {
				t.Fatalf("promise broken: %s: handler backlog %d, want 2..5", pushBack, backlog)
			}
			open()
			if err := receive(t, sent, pushBack, "the sends never finished once the handler caught up"); err != nil {
				t.Fatal(err)
			}
			msgs := got.wait(ctx, t, n)
			for i, s := range msgs {
				if s != fmt.Sprint(i) {
					t.Fatalf("message %d is %q", i, s)
				}
			}
			closeAll(ctx, t, h, c)
		})
	}
}
