package adapters

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// setGraces sets a driver's inline and reader graces (0 keeps one).
func setGraces(ctx context.Context, d *driver, inline, reader time.Duration) {
	probe(ctx, d, func() bool {
		if inline > 0 {
			d.inlineGrace = inline
		}
		if reader > 0 {
			d.readerGrace = reader
		}
		return true
	})
}

// role returns who reads the client's current connection.
func role(ctx context.Context, c *Client) readRole {
	return probe(ctx, c.d, func() readRole {
		if c.eng.cur == nil {
			return readNone
		}
		return c.eng.cur.role
	})
}

// waitRole waits until the client's connection is read by want.
func waitRole(ctx context.Context, t *testing.T, c *Client, want readRole) {
	t.Helper()
	for role(ctx, c) != want {
		if ctx.Err() != nil {
			t.Fatalf("read role %d, want %d", role(ctx, c), want)
		}
		runtime.Gosched()
	}
}

// blockingServer answers "hold" only once release is closed (after telling
// held), echoes anything else, and lets clients join any room.
func blockingServer(t *testing.T, held chan<- string, release <-chan struct{}) *harness {
	return newHarness(t, ServerOptions{
		Session: session.ServerConfig{AllowRoom: func(session.RoomRequest) bool { return true }},
		OnRequest: func(ctx context.Context, r Request) ([]byte, error) {
			if p := string(r.Payload); len(p) >= 4 && p[:4] == "hold" {
				held <- p
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return r.Payload, nil
		},
	})
}

// echoed sends payload as a request from another goroutine; the channel
// gets nil once the echo of payload comes back, or the error.
func echoed(ctx context.Context, c *Client, payload string) <-chan error {
	done := make(chan error, 1)
	go func() {
		resp, err := c.Request(ctx, []byte(payload))
		if err == nil && string(resp) != payload {
			err = fmt.Errorf("asked %q, got %q", payload, resp)
		}
		done <- err
	}()
	return done
}

// requestWithin is c.Request with a timeout of its own. A test gives a short
// timeout only to a request that must time out (its handler never answers
// in time): the requests that must succeed keep the default, so that a slow
// or busy machine cannot turn a slow answer into a failed test.
func requestWithin(ctx context.Context, c *Client, payload string, timeout time.Duration) ([]byte, error) {
	r := c.d.call(ctx, proto.ClientID{}, session.Call{Payload: []byte(payload), Timeout: timeout})
	return r.payload, r.err
}

// callerReads starts a blockingServer and a client whose reader goroutine
// has read one response and stepped aside, with readerGrace an hour so that
// none comes back on its own: the client's next request is read by its
// caller.
func callerReads(ctx context.Context, t *testing.T, opts ClientOptions) (h *harness, c *Client, held chan string, release chan struct{}) {
	t.Helper()
	held, release = make(chan string, 1), make(chan struct{})
	h = blockingServer(t, held, release)
	c = h.dial(ctx, opts)
	setGraces(ctx, c.d, 0, time.Hour)
	if resp, err := c.Request(ctx, []byte("first")); err != nil || string(resp) != "first" {
		t.Fatalf("first request: %q, %v", resp, err)
	}
	waitRole(ctx, t, c, readNone)
	return h, c, held, release
}

// A request's caller reads its own response once the reader goroutine has
// stepped aside, and gives the reading back when it has it.
func TestCallerReadsItsOwnResponse(t *testing.T) {
	ctx := testCtx(t)
	// The reader goroutine read the first response and stepped aside: it
	// handed a waiting caller its response, and nothing else waited.
	h, c, held, release := callerReads(ctx, t, ClientOptions{})
	done := echoed(ctx, c, "hold")
	<-held
	if got := role(ctx, c); got != readCaller {
		t.Fatalf("while its response is pending, the connection is read by %d, want the caller", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := role(ctx, c); got != readNone {
		t.Fatalf("after the response, read role %d, want none", got)
	}
	closeAll(ctx, t, h, c)
}

// A caller whose ctx ends while it reads gives the reading back without
// harming the connection: no reconnect, and the next request is answered.
func TestCallerReadingGivesUpWithItsContext(t *testing.T) {
	ctx := testCtx(t)
	h, c, held, release := callerReads(ctx, t, ClientOptions{})
	rctx, cancel := context.WithCancel(ctx)
	done := echoed(rctx, c, "hold")
	<-held
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v, want context.Canceled", err)
	}
	close(release) // its response arrives and is dropped
	if resp, err := c.Request(ctx, []byte("after")); err != nil || string(resp) != "after" {
		t.Fatalf("request after the cancelled one: %q, %v", resp, err)
	}
	if st := c.Stats(); st.Resumes != 0 {
		t.Fatalf("the connection was replaced (%d resumes)", st.Resumes)
	}
	h.mu.Lock()
	pipes := len(h.pipes)
	h.mu.Unlock()
	if pipes != 1 {
		t.Fatalf("%d connections, want 1", pipes)
	}
	closeAll(ctx, t, h, c)
}

// A caller that reads is interrupted when its outcome is decided elsewhere:
// its request timed out.
func TestCallerReadingLearnsOfItsTimeout(t *testing.T) {
	ctx := testCtx(t)
	h, c, held, release := callerReads(ctx, t, ClientOptions{})
	if _, err := requestWithin(ctx, c, "hold", 50*time.Millisecond); !errors.Is(err, session.ErrRequestTimeout) {
		t.Fatalf("request: %v, want ErrRequestTimeout", err)
	}
	<-held
	close(release)
	if resp, err := c.Request(ctx, []byte("after")); err != nil || string(resp) != "after" {
		t.Fatalf("request after the timeout: %q, %v", resp, err)
	}
	closeAll(ctx, t, h, c)
}

// Concurrent callers: the one that reads hands the others their outcomes,
// and when it has its own, it gives the reading to a reader goroutine if
// others still wait.
func TestCallersShareTheReading(t *testing.T) {
	ctx := testCtx(t)
	h, c, held, release := callerReads(ctx, t, ClientOptions{})
	holder := echoed(ctx, c, "hold")
	<-held
	if got := role(ctx, c); got != readCaller {
		t.Fatalf("read role %d, want the caller", got)
	}
	// Joins are answered by the server's machine at once, while the
	// holder's request waits in its handler: the holder reads them.
	const n = 10
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- c.Join(ctx, fmt.Sprint("room", i)) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := role(ctx, c); got != readCaller {
		t.Fatalf("read role %d, want the caller", got)
	}
	// Requests queue behind the held one on the server: their responses
	// come after the holder's, which then hands the reading on.
	queued := make([]<-chan error, n)
	for i := range queued {
		queued[i] = echoed(ctx, c, fmt.Sprint("q", i))
	}
	waitCalls(ctx, t, c.d, n+1)
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	for _, q := range queued {
		if err := <-q; err != nil {
			t.Fatal(err)
		}
	}
	closeAll(ctx, t, h, c)
}

// waitCalls waits until n requests wait for their responses.
func waitCalls(ctx context.Context, t *testing.T, d *driver, n int) {
	t.Helper()
	for probe(ctx, d, func() int { return len(d.calls) }) < n {
		if ctx.Err() != nil {
			t.Fatalf("fewer than %d requests were sent", n)
		}
		runtime.Gosched()
	}
}

// A caller reading a connection that fails gets its response on the next
// one, after the session resumes.
func TestCallerReadingSurvivesACut(t *testing.T) {
	ctx := testCtx(t)
	h, c, held, release := callerReads(ctx, t, ClientOptions{})
	done := echoed(ctx, c, "hold")
	<-held
	h.cut()
	for c.Stats().Resumes == 0 {
		if ctx.Err() != nil {
			t.Fatal("the client never resumed")
		}
		runtime.Gosched()
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	closeAll(ctx, t, h, c)
}

// A reader that runs a slow handler inline hands the reading over: the
// client's messages are still read (and acknowledged, which the client's
// small window needs) while the handler is blocked.
func TestSlowInlineHandlerHandsOverTheReading(t *testing.T) {
	ctx := testCtx(t)
	held, release := make(chan string, 1), make(chan struct{})
	h := newHarness(t, ServerOptions{
		OnRequest: func(ctx context.Context, r Request) ([]byte, error) {
			held <- string(r.Payload)
			<-release
			return r.Payload, nil
		},
	})
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: session.LinkConfig{MaxInflight: 4}}})
	done := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, []byte("slow"))
		done <- err
	}()
	<-held
	// The server's handler blocks its session's queue, so its messages
	// wait there; but they must be read and acknowledged, or the client's
	// window (4) would never let the 5th through.
	for i := range 20 {
		if err := c.Send(ctx, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	closeAll(ctx, t, h, c)
}

// A handler that waits on the driver with its own context hands the
// reading over at once: here the server's request handler asks the client
// something, and only the server's reader can read the answer. The inline
// grace is an hour, so only the hand-off can make this work; with a context
// of its own, the grace does.
func TestInlineHandlerWaitingOnThePeer(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprintf("own-context=%v", own), func(t *testing.T) {
			ctx := testCtx(t)
			var srv *Server
			h := newHarness(t, ServerOptions{
				OnRequest: func(hctx context.Context, r Request) ([]byte, error) {
					if own {
						hctx = ctx
					}
					return srv.Request(hctx, r.Client, append([]byte("inner "), r.Payload...))
				},
			})
			srv = h.srv
			if !own {
				setGraces(ctx, srv.d, time.Hour, 0)
			}
			c := h.dial(ctx, ClientOptions{
				OnRequest: func(_ context.Context, r Request) ([]byte, error) {
					return append([]byte("answered "), r.Payload...), nil
				},
			})
			for i := range 3 {
				resp, err := c.Request(ctx, fmt.Appendf(nil, "%d", i))
				if want := fmt.Sprintf("answered inner %d", i); err != nil || string(resp) != want {
					t.Fatalf("got %q, %v; want %q", resp, err, want)
				}
			}
			closeAll(ctx, t, h, c)
		})
	}
}

// A Request writes its request itself; when that write blocks (the server
// does not read) and the caller's ctx ends, the connection is killed so
// that the caller can return, and the session resumes on a new one with
// nothing lost.
func TestRequestBlockedWritingGivesUpWithItsContext(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	h := newHarness(t, ServerOptions{OnMessage: got.onMessage})
	h.buffer = 1
	c := h.dial(ctx, ClientOptions{})
	sent := blockNextWrite(ctx, t, h, c)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.Request(rctx, []byte("stuck"))
		done <- err
	}()
	// The request is stepped (and so on its way) once it waits for its
	// response; its caller is then writing it or past the write.
	waitCalls(ctx, t, c.d, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("request: %v, want context.Canceled", err)
	}
	h.mu.Lock()
	pipes := len(h.pipes)
	h.mu.Unlock()
	h.gate.release()
	msgs := got.wait(ctx, t, sent)
	for i, m := range msgs {
		if m != fmt.Sprint("m", i) {
			t.Fatalf("message %d is %q (all: %q)", i, m, msgs)
		}
	}
	if resp, err := c.Request(ctx, []byte("after")); err == nil || resp != nil {
		// The server has no request handler: any answer is an error.
		t.Fatalf("request after: %q, %v", resp, err)
	}
	if pipes < 2 && c.Stats().Resumes == 0 {
		t.Fatal("the blocked connection was not replaced")
	}
	closeAll(ctx, t, h, c)
}

// blockNextWrite makes the client's next write block: the server's reader
// holds a message at its gate, the pipe (room for one) holds another, and
// the client's writer is idle. It returns how many messages it sent.
func blockNextWrite(ctx context.Context, t *testing.T, h *harness, c *Client) int {
	t.Helper()
	h.gate.shut()
	h.mu.Lock()
	end := h.ends[0]
	h.mu.Unlock()
	// The pipe and the writer are sampled together, with the writer's
	// lock held: an idle writer adds nothing to the pipe meanwhile, and a
	// message is sent only when the pipe has room, so no write blocks
	// before the Request's. Whatever the client wrote before (the ACK that
	// ends its handshake) counts as one of the two.
	sent := 0
	for {
		// First whether the server's reader holds a message: it then
		// takes no other from the pipe, and a full pipe stays full.
		held := h.gate.held()
		full, idle := probe2(ctx, c.d, func() (bool, bool) {
			cur := c.eng.cur
			cur.mu.Lock()
			defer cur.mu.Unlock()
			return len(end.in) == cap(end.in), !cur.writing
		})
		if full && idle && held > 0 {
			break
		}
		if idle && !full {
			if err := c.Send(ctx, fmt.Appendf(nil, "m%d", sent)); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		if ctx.Err() != nil {
			t.Fatalf("the pipe never filled (%d sent, full %t, writer idle %t, %d held)", sent, full, idle, held)
		}
		runtime.Gosched()
	}
	return sent
}

// probe2 is probe for two results.
func probe2[T, U any](ctx context.Context, d *driver, fn func() (T, U)) (T, U) {
	var u U
	t := probe(ctx, d, func() T {
		var t T
		t, u = fn()
		return t
	})
	return t, u
}

// A Request whose ctx ends while its write is merely slow lets the write
// finish within writeGrace (here an hour): the connection lives. Its caller
// reads, so the ctx's end is seen (the read interrupted) before the write
// is let through.
func TestRequestSlowWriteOutlivesItsContext(t *testing.T) {
	ctx := testCtx(t)
	held, release := make(chan string, 1), make(chan struct{})
	h := blockingServer(t, held, release)
	h.buffer = 1
	c := h.dial(ctx, ClientOptions{})
	setGraces(ctx, c.d, 0, time.Hour)
	probe(ctx, c.d, func() bool { c.d.writeGrace = time.Hour; return true })
	if _, err := c.Request(ctx, []byte("first")); err != nil {
		t.Fatal(err)
	}
	waitRole(ctx, t, c, readNone)
	blockNextWrite(ctx, t, h, c)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.Request(rctx, []byte("slow"))
		done <- err
	}()
	waitRole(ctx, t, c, readCaller) // taken before it writes
	cancel()
	for !probe(ctx, c.d, func() bool { return c.eng.cur.rint }) {
		if ctx.Err() != nil {
			t.Fatal("the cancelled request's read was never interrupted")
		}
		runtime.Gosched()
	}
	h.gate.release() // the server reads again: the write completes
	// Its response may come before the interrupted read gives up: either
	// outcome is right.
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("request: %v, want its response or context.Canceled", err)
	}
	h.mu.Lock()
	pipes := len(h.pipes)
	h.mu.Unlock()
	if pipes != 1 || c.Stats().Resumes != 0 {
		t.Fatalf("%d connections, %d resumes: the connection was killed", pipes, c.Stats().Resumes)
	}
	closeAll(ctx, t, h, c)
}

// A read role left free arms the timer for the reader it makes due, with
// the holder's clock: otherwise nobody would read the connection until the
// timer fired for something else (the next heartbeat, seconds later).
func TestFreeRoleArmsTheTimer(t *testing.T) {
	d := newDriver(&recorder{}, handlers{}, withSide(nil, "test"), 1<<20, 0, nil)
	defer d.timer.Stop()
	c := &conn{d: d, id: 1}
	d.conns[c.id] = c
	now := d.lock()
	d.deadline = now.Add(time.Hour) // the machine's next deadline
	d.arm()
	d.free(c)
	due := now.Add(d.readerGrace)
	if d.unreadDue != due || d.timerAt != due {
		t.Errorf("reader due %v, timer at %v; want both at %v", d.unreadDue, d.timerAt, due)
	}
	d.unlock()
}
