package adapters

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/bettersocket/bettersocket/session"
)

// The promise of the package doc (Guarantees, Concurrency) about a
// Request whose ctx ends once its request is on its way: "a caller whose
// ctx ends gets ctx.Err()", and "when its ctx ends it stops at once ...
// and the connection is unharmed"; only a write still blocked writeGrace
// later kills the connection.

const unharmed = "a Request whose ctx ends after its request was written returns ctx.Err() and leaves the connection up"

// holdOrEcho answers "hold" once release is closed (after telling held),
// and echoes anything else.
func holdOrEcho(held chan<- struct{}, release <-chan struct{}) RequestHandler {
	return func(_ context.Context, r Request) ([]byte, error) {
		if string(r.Payload) == "hold" {
			held <- struct{}{}
			<-release
		}
		return r.Payload, nil
	}
}

// The request is written, and read by the peer, whose handler holds it;
// then its ctx ends. The caller gets ctx.Err() at once; once writeGrace
// has passed the connection is still the one it was (no kill, no
// reconnect, no resume), and the next request is answered on it.
func TestRequestCtxEndingAfterItWasWrittenLeavesTheConnectionUp(t *testing.T) {
	// The client's caller writes its request and reads its response
	// (caller-reads), or a reader goroutine reads it (reader-goroutine,
	// over a transport whose reads cannot be interrupted); the server's
	// caller writes its request and a reader goroutine reads the response.
	for _, side := range []string{"client/caller-reads", "client/reader-goroutine", "server"} {
		t.Run(side, func(t *testing.T) {
			ctx := testCtx(t)
			held, release := make(chan struct{}, 1), make(chan struct{})
			open := sync.OnceFunc(func() { close(release) })
			t.Cleanup(open)
			srvClock, cliClock := newFakeClock(), newFakeClock()
			sopts := ServerOptions{Session: session.ServerConfig{LinkConfig: immediateAcks}, clock: srvClock}
			copts := ClientOptions{Session: session.ClientConfig{LinkConfig: immediateAcks}, clock: cliClock}
			if side == "server" {
				copts.OnRequest = holdOrEcho(held, release)
			} else {
				sopts.OnRequest = holdOrEcho(held, release)
			}
			h := newHarness(t, sopts)
			h.plain = side != "client/caller-reads"
			c := h.dial(ctx, copts)
			// request sends payload from the side under test.
			d, clk := c.d, cliClock
			request := func(ctx context.Context, payload string) ([]byte, error) {
				return c.Request(ctx, []byte(payload))
			}
			if side == "server" {
				d, clk = h.srv.d, srvClock
				request = func(ctx context.Context, payload string) ([]byte, error) {
					return h.srv.Request(ctx, c.ID(), []byte(payload))
				}
			}
			if resp, err := request(ctx, "first"); err != nil || string(resp) != "first" {
				t.Fatalf("first request: %q, %v", resp, err)
			}
			if side == "client/caller-reads" {
				// The reader goroutine has handed the first response
				// over and stepped aside: the next caller reads.
				waitRole(ctx, t, c, readNone)
			}

			// The caller writes its request itself when the writer is idle
			// (the first response's ACK may still be on its way).
			eventually(t, func() bool { return !probe(ctx, d, func() bool { return anyWriting(d) }) },
				(<-chan struct{})(nil), "setup", "the writer never went idle")
			rctx, cancel := context.WithCancel(ctx)
			res := make(chan error, 1)
			go func() {
				_, err := request(rctx, "hold")
				res <- err
			}()
			receive(t, held, "setup", "the peer never got the request")
			if side == "client/caller-reads" && role(ctx, c) != readCaller {
				t.Fatal("setup: the request's caller does not read its response")
			}
			cancel()
			if err := receive(t, res, unharmed, "the cancelled request never returned"); !errors.Is(err, context.Canceled) {
				t.Fatalf("promise broken: %s: the request returned %v, want context.Canceled", unharmed, err)
			}
			// The ctx's watch has fired (it is no longer the spare, or it
			// is spent), so any kill it armed is on the clock: pass it.
			eventually(t, func() bool {
				return probe(ctx, d, func() bool {
					return d.spare == nil || d.spare.done != rctx.Done() || d.spare.fired.Load()
				})
			}, (<-chan struct{})(nil), "setup", "the ctx's watch never fired")
			<-clk.Advance(writeGrace)
			h.mu.Lock()
			p := h.pipes[0]
			h.mu.Unlock()
			select {
			case <-p.closed:
				t.Fatalf("promise broken: %s: the connection was killed %v after the ctx ended", unharmed, writeGrace)
			default:
			}
			open() // the held response arrives, and is dropped
			rctx2 := boundCtx(t, ctx)
			if resp, err := request(rctx2, "after"); err != nil || string(resp) != "after" {
				t.Fatalf("promise broken: %s: the next request: %q, %v", unharmed, resp, err)
			}
			h.mu.Lock()
			pipes := len(h.pipes)
			h.mu.Unlock()
			if st := c.Stats(); pipes != 1 || st.Resumes != 0 {
				t.Fatalf("promise broken: %s: %d connections, %d resumes; want 1, 0", unharmed, pipes, st.Resumes)
			}
			closeAll(ctx, t, h, c)
		})
	}
}
