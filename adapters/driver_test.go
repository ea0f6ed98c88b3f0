package adapters

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Tests of the driver's concurrency: the machine under a mutex, parked
// commands, flat-combined writers, handler workers.

// orderedStreams checks payloads "stream:seq": each stream must arrive
// exactly once and in order.
type orderedStreams struct {
	mu   sync.Mutex
	next map[string]int
	bad  []string
	n    int
	more chan struct{}
}

func newOrderedStreams() *orderedStreams {
	return &orderedStreams{next: make(map[string]int), more: make(chan struct{}, 1)}
}

func (o *orderedStreams) add(payload string) {
	stream, seq, _ := strings.Cut(payload, ":")
	i, err := strconv.Atoi(seq)
	o.mu.Lock()
	if err != nil || i != o.next[stream] {
		if len(o.bad) < 5 {
			o.bad = append(o.bad, fmt.Sprintf("%q after %s:%d", payload, stream, o.next[stream]-1))
		}
	} else {
		o.next[stream]++
	}
	o.n++
	o.mu.Unlock()
	select {
	case o.more <- struct{}{}:
	default:
	}
}

// wait waits until n payloads have arrived, then checks that each stream
// arrived whole and in order.
func (o *orderedStreams) wait(ctx context.Context, t *testing.T, n int, streams map[string]int) {
	t.Helper()
	for {
		o.mu.Lock()
		got := o.n
		o.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-o.more:
		case <-ctx.Done():
			t.Fatalf("%d of %d messages arrived", got, n)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.bad) > 0 || o.n != n {
		t.Fatalf("%d messages, want %d; out of order: %q", o.n, n, o.bad)
	}
	for s, want := range streams {
		if o.next[s] != want {
			t.Fatalf("stream %s: %d messages, want %d", s, o.next[s], want)
		}
	}
}

// Many goroutines send at once, both ways, while the connection is cut
// again and again: every goroutine's messages arrive exactly once and in
// the order it sent them. The window is small, so senders also park and
// are retried, across reconnects.
func TestConcurrentSendersAcrossCuts(t *testing.T) {
	ctx := testCtx(t)
	const senders, each, cuts = 6, 300, 12
	fromClient, fromServer := newOrderedStreams(), newOrderedStreams()
	var delivered sync.WaitGroup
	progress := make(chan struct{}, 1)
	h := newHarness(t, ServerOptions{OnMessage: func(_ context.Context, m Message) {
		fromClient.add(string(m.Payload))
		select {
		case progress <- struct{}{}:
		default:
		}
	}})
	c := h.dial(ctx, ClientOptions{
		Session: session.ClientConfig{
			LinkConfig:   session.LinkConfig{MaxInflight: 16},
			ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond,
		},
		OnMessage: func(_ context.Context, m Message) { fromServer.add(string(m.Payload)) },
	})
	id := c.ID()
	streams := make(map[string]int)
	for g := range senders {
		streams[fmt.Sprintf("c%d", g)] = each
		streams[fmt.Sprintf("s%d", g)] = each
		delivered.Go(func() {
			for i := range each {
				if err := c.Send(ctx, fmt.Appendf(nil, "c%d:%d", g, i)); err != nil {
					t.Errorf("client sender %d: %v", g, err)
					return
				}
			}
		})
		delivered.Go(func() {
			for i := range each {
				if err := h.srv.Send(ctx, id, fmt.Appendf(nil, "s%d:%d", g, i)); err != nil {
					t.Errorf("server sender %d: %v", g, err)
					return
				}
			}
		})
	}
	// Cut whenever the server has seen another slice of the messages.
	for k := 1; k <= cuts; k++ {
		for {
			fromClient.mu.Lock()
			n := fromClient.n
			fromClient.mu.Unlock()
			if n >= k*senders*each/(cuts+1) {
				break
			}
			select {
			case <-progress:
			case <-ctx.Done():
				t.Fatalf("stuck at %d messages before cut %d", n, k)
			}
		}
		h.cut()
	}
	delivered.Wait()
	fromClient.wait(ctx, t, senders*each, filter(streams, "c"))
	fromServer.wait(ctx, t, senders*each, filter(streams, "s"))
	if st := c.Stats(); st.Resumes == 0 || st.SessionsLost != 0 {
		t.Fatalf("client: %d resumes, %d sessions lost; want some, none", st.Resumes, st.SessionsLost)
	}
	closeAll(ctx, t, h, c)
}

func filter(m map[string]int, prefix string) map[string]int {
	out := make(map[string]int)
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// A client handler sends and requests on its own client while the window
// is full, and the application sends at the same time: nothing deadlocks
// (the handler waits for acknowledgements, which readers step), and every
// stream arrives in order.
func TestHandlerSendsAndRequestsUnderBackpressure(t *testing.T) {
	ctx := testCtx(t)
	const pushes, sends = 40, 200
	got := newOrderedStreams()
	h := newHarness(t, ServerOptions{
		OnMessage: func(_ context.Context, m Message) { got.add(string(m.Payload)) },
		OnRequest: func(_ context.Context, r Request) ([]byte, error) { return append([]byte("re "), r.Payload...), nil },
	})
	var mu sync.Mutex
	var c *Client
	answered := make(chan error, pushes)
	mu.Lock()
	c = h.dial(ctx, ClientOptions{
		Session: session.ClientConfig{LinkConfig: session.LinkConfig{MaxInflight: 2}},
		OnMessage: func(ctx context.Context, m Message) {
			mu.Lock()
			c := c
			mu.Unlock()
			_, seq, _ := strings.Cut(string(m.Payload), ":")
			if err := c.Send(ctx, []byte("echo:"+seq)); err != nil {
				answered <- err
				return
			}
			resp, err := c.Request(ctx, []byte(seq))
			if err == nil && string(resp) != "re "+seq {
				err = fmt.Errorf("response %q to %q", resp, seq)
			}
			answered <- err
		},
	})
	mu.Unlock()
	for i := range pushes {
		if err := h.srv.Send(ctx, c.ID(), fmt.Appendf(nil, "push:%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range sends {
		if err := c.Send(ctx, fmt.Appendf(nil, "app:%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range pushes {
		select {
		case err := <-answered:
			if err != nil {
				t.Fatalf("handler: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("the handler is stuck")
		}
	}
	got.wait(ctx, t, pushes+sends, map[string]int{"echo": pushes, "app": sends})
	closeAll(ctx, t, h, c)
}

// A reader never waits for a writer: while the server cannot write to a
// client that stopped reading, it still reads everything that client sends,
// and serves other clients.
func TestReaderNeverWaitsForAWriter(t *testing.T) {
	ctx := testCtx(t)
	got := newOrderedStreams()
	h := newHarness(t, ServerOptions{
		OnMessage: func(_ context.Context, m Message) { got.add(string(m.Payload)) },
		OnRequest: func(_ context.Context, r Request) ([]byte, error) { return r.Payload, nil },
	})
	h.buffer = 1
	deaf := newGate(true)
	h.clientGate = deaf
	fromServer := newCollector()
	// A small message limit: the server's messages to c1 cannot all be
	// joined into the two the pipe holds.
	c1 := h.dial(ctx, ClientOptions{
		Session:   session.ClientConfig{LinkConfig: session.LinkConfig{MaxMessageSize: 1024}},
		OnMessage: fromServer.onMessage,
	})
	h.mu.Lock()
	h.clientGate = newGate(true)
	h.mu.Unlock()
	c2 := h.dial(ctx, ClientOptions{})
	deaf.shut() // c1 reads no more
	const pushed, sent = 50, 100
	pad := strings.Repeat("x", 200)
	for i := range pushed {
		if err := h.srv.Send(ctx, c1.ID(), fmt.Appendf(nil, "%d %s", i, pad)); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the server's writer to c1 is stuck: c2's connection is
	// idle, so a connection that is being written is c1's.
	stuck := func() bool { return anyWriting(h.srv.d) }
	for !probe(ctx, h.srv.d, stuck) {
		if ctx.Err() != nil {
			t.Fatal("the server's writer never got stuck")
		}
		runtime.Gosched()
	}
	for i := range sent {
		if err := c1.Send(ctx, fmt.Appendf(nil, "c1:%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	got.wait(ctx, t, sent, map[string]int{"c1": sent})
	if resp, err := c2.Request(ctx, []byte("other")); err != nil || string(resp) != "other" {
		t.Fatalf("other client: %q, %v", resp, err)
	}
	if !probe(ctx, h.srv.d, stuck) || len(fromServer.wait(ctx, t, 0)) > 0 {
		t.Fatal("the server's writer to c1 got through while c1 did not read")
	}
	deaf.release()
	if msgs := fromServer.wait(ctx, t, pushed); len(msgs) != pushed {
		t.Fatalf("c1 got %d messages, want %d", len(msgs), pushed)
	}
	closeAll(ctx, t, h, c1, c2)
}

// Sends stepped while the client's writer is busy wait for it in the
// machine: the writer's next Ready packs them into one transport message.
func TestSendsShareMessagesWhileTheWriterIsBusy(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	h := newHarness(t, ServerOptions{OnMessage: got.onMessage})
	h.buffer = 1
	c := h.dial(ctx, ClientOptions{})
	before := c.Stats().MessagesOut
	h.gate.shut() // the server reads one more message, then nothing
	const n = 100
	var want []string
	for i := range n {
		want = append(want, fmt.Sprint(i))
		if err := c.Send(ctx, []byte(want[i])); err != nil {
			t.Fatal(err)
		}
	}
	h.gate.release()
	if msgs := got.wait(ctx, t, n); !slices.Equal(msgs, want) {
		t.Fatalf("server got %q", msgs)
	}
	// At most a few Sends find the writer idle (the pipe holds one message
	// and the server's reader one more) before it blocks; every later one
	// waits for its Ready.
	if out := c.Stats().MessagesOut - before; out > 8 {
		t.Fatalf("%d sends took %d transport messages, want at most 8", n, out)
	}
	closeAll(ctx, t, h, c)
}

// The same on the server: Sends to a session whose connection's writer is
// busy wait for that writer's Ready and share its next transport message.
func TestServerSendsShareMessagesWhileTheWriterIsBusy(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	h := newHarness(t, ServerOptions{})
	h.buffer = 1
	deaf := newGate(true)
	h.clientGate = deaf
	c := h.dial(ctx, ClientOptions{OnMessage: got.onMessage})
	before := h.srv.Stats().MessagesOut
	deaf.shut() // the client reads one more message, then nothing
	const n = 100
	var want []string
	for i := range n {
		want = append(want, fmt.Sprint(i))
		if err := h.srv.Send(ctx, c.ID(), []byte(want[i])); err != nil {
			t.Fatal(err)
		}
	}
	deaf.release()
	if msgs := got.wait(ctx, t, n); !slices.Equal(msgs, want) {
		t.Fatalf("client got %q", msgs)
	}
	if out := h.srv.Stats().MessagesOut - before; out > 8 {
		t.Fatalf("%d sends took %d transport messages, want at most 8", n, out)
	}
	closeAll(ctx, t, h, c)
}

// Stats works inside the server's hooks, which run under the machine's
// lock: there it returns the counters as of the hook's start instead of
// waiting for itself.
func TestStatsInsideHooks(t *testing.T) {
	ctx := testCtx(t)
	var (
		srv  *Server
		mu   sync.Mutex
		seen []string
	)
	note := func(hook string) {
		st := srv.Stats()
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s: %d started, %d live", hook, st.SessionsStarted, st.Sessions))
		mu.Unlock()
	}
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{
		Authorize: func(session.AuthRequest) error { note("authorize"); return nil },
		AllowRoom: func(session.RoomRequest) bool { note("room"); return true },
	}})
	srv = h.srv
	c1 := h.dial(ctx, ClientOptions{})
	c2 := h.dial(ctx, ClientOptions{})
	if err := c2.Join(ctx, "lobby"); err != nil {
		t.Fatal(err)
	}
	want := []string{"authorize: 0 started, 0 live", "authorize: 1 started, 1 live", "room: 2 started, 2 live"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, want) {
		t.Fatalf("hooks saw %q, want %q", seen, want)
	}
	if st := srv.Stats(); st.SessionsStarted != 2 || c1.ID().IsZero() || c2.ID() == c1.ID() {
		t.Fatalf("after: %d sessions started, ids %s %s", st.SessionsStarted, c1.ID(), c2.ID())
	}
	closeAll(ctx, t, h, c1, c2)
}

// A request handler writes its reply itself; when the client does not
// read, it blocks. Once the machine gives up the connection (here: a
// kick), the connection is killed after the grace period, the handler's
// write fails, and the session's later events are handled.
func TestStuckReplyIsFreedWhenTheConnectionIsGivenUp(t *testing.T) {
	ctx := testCtx(t)
	answering := make(chan struct{}, 1)
	closed := make(chan struct{})
	var closeOnce sync.Once
	h := newHarness(t, ServerOptions{
		// The ACK of the request stays held, so the reply carries it and
		// the handler, with nothing else to do, writes it itself.
		Session: session.ServerConfig{LinkConfig: session.LinkConfig{AckDelay: time.Hour}},
		OnRequest: func(_ context.Context, r Request) ([]byte, error) {
			answering <- struct{}{}
			return []byte(strings.Repeat("r", 600)), nil
		},
		OnEvent: func(_ context.Context, ev session.Event) {
			if _, ok := ev.(*session.SessionClosed); ok {
				// The kicked session; the client's Close later opens and
				// closes another.
				closeOnce.Do(func() { close(closed) })
			}
		},
	})
	d := h.srv.d
	d.mu.Lock()
	d.closeGrace = 10 * time.Millisecond
	d.mu.Unlock()
	h.buffer = 1
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{
		LinkConfig:   session.LinkConfig{MaxMessageSize: 1024},
		ReconnectMin: time.Hour, // no resume: the test ends the session
	}})
	writing := func() bool { return anyWriting(d) }
	h.clientGate.shut()
	// Fill the pipe: the client's reader holds one message, the pipe the
	// other; they are too large to be joined into one.
	for range 2 {
		if err := h.srv.Send(ctx, c.ID(), []byte(strings.Repeat("x", 600))); err != nil {
			t.Fatal(err)
		}
	}
	for probe(ctx, d, writing) {
		if ctx.Err() != nil {
			t.Fatal("the server's writer never finished")
		}
		runtime.Gosched()
	}
	requested := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, []byte("q"))
		requested <- err
	}()
	<-answering
	for !probe(ctx, d, writing) {
		if ctx.Err() != nil {
			t.Fatal("the reply was never written")
		}
		runtime.Gosched()
	}
	if err := h.srv.Kick(ctx, c.ID(), "enough"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("the session's events are stuck behind the reply")
	}
	h.clientGate.release()
	// The client learns of the kick only when it reconnects: its request
	// is pending until it closes.
	c.Close(ctx)
	if err := <-requested; err == nil {
		t.Fatal("the request succeeded on a kicked session")
	}
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// anyWriting reports whether a connection of d is being written; lock
// held.
func anyWriting(d *driver) bool {
	for _, c := range d.conns {
		c.mu.Lock()
		w := c.writing
		c.mu.Unlock()
		if w {
			return true
		}
	}
	return false
}

// recorder is an engine that records what is stepped.
type recorder struct{ steps []string }

func (r *recorder) step(_ time.Time, in session.Input) error {
	if rv, ok := in.(session.Recv); ok {
		r.steps = append(r.steps, fmt.Sprintf("recv %d %s", rv.Conn, rv.Data))
	}
	return nil
}
func (r *recorder) recv(now time.Time, conn session.ConnID, data []byte) error {
	return r.step(now, session.Recv{Conn: conn, Data: data})
}
func (r *recorder) send(now time.Time, in session.Send) error   { return r.step(now, in) }
func (r *recorder) call(now time.Time, in session.Call) error   { return r.step(now, in) }
func (r *recorder) reply(now time.Time, in session.Reply) error { return r.step(now, in) }
func (r *recorder) ready(time.Time) time.Time                   { return time.Time{} }
func (r *recorder) readyConn(*conn, time.Time) time.Time        { return time.Time{} }
func (r *recorder) connected(*conn)                             {}
func (r *recorder) canDefer(int) bool                           { return false }
func (r *recorder) readable() *conn                             { return nil }
func (r *recorder) peerMax(session.ConnID) int                  { return 0 }
func (r *recorder) stats() session.Stats                        { return session.Stats{} }
func (r *recorder) acked(proto.ClientID) (proto.ClientID, uint64, uint64, bool) {
	return proto.ClientID{}, 0, 0, false
}

// Messages are stepped in the order they were read, even when a later
// reader takes the lock first: a client's HELLO on a connection it gave up
// must not overtake the HELLO on its next one.
func TestMessagesAreSteppedInTheOrderTheyWereRead(t *testing.T) {
	rec := &recorder{}
	d := newDriver(rec, handlers{}, withSide(nil, "test"), 1<<20, 0, nil)
	older := &conn{d: d, id: 1, first: true}
	newer := &conn{d: d, id: 2, first: true}
	d.conns[older.id], d.conns[newer.id] = older, newer
	// The older connection's reader has read its message and waits for
	// the lock; the newer one's reader gets it first.
	d.rmu.Lock()
	d.rq = append(d.rq, inbound{older, []byte("hello-1")})
	d.rmu.Unlock()
	d.recv(newer, []byte("hello-2"), 0, nil)
	want := []string{"recv 1 hello-1", "recv 2 hello-2"}
	if !slices.Equal(rec.steps, want) {
		t.Fatalf("stepped %q, want %q", rec.steps, want)
	}
	d.recv(older, []byte("late"), 0, nil)
	if got := rec.steps[len(rec.steps)-1]; got != "recv 1 late" || len(rec.steps) != 3 {
		t.Fatalf("stepped %q", rec.steps)
	}
}
