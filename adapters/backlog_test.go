package adapters

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

func encodeFrame(t *testing.T, f proto.Frame) []byte {
	t.Helper()
	b, err := codec.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSupersede(t *testing.T) {
	d := newDriver(&recorder{}, handlers{}, withSide(nil, "test"), 1<<20, 0, nil)
	ack := func(a uint64) []byte { return encodeFrame(t, &proto.Ack{Ack: a}) }
	hb := func(a, e uint64) []byte { return encodeFrame(t, &proto.Heartbeat{Ack: a, Echo: e}) }
	data := encodeFrame(t, &proto.Data{Seq: 1, Ack: 1, Payload: []byte("x")})
	cases := []struct {
		name       string
		prev, next []byte
		want       []byte // nil: not merged
	}{
		{"ack then ack", ack(1), ack(2), ack(2)},
		{"heartbeat then heartbeat", hb(1, 10), hb(2, 20), hb(2, 20)},
		{"ack then heartbeat", ack(1), hb(2, 20), hb(2, 20)},
		{"heartbeat then ack", hb(1, 10), ack(3), hb(3, 10)},
		{"data then ack", data, ack(2), nil},
		{"ack then data", ack(1), data, nil},
		{"two acks in one message", append(ack(1), ack(2)...), ack(3), nil},
	}
	for _, tc := range cases {
		got, ok := d.supersede(tc.prev, tc.next)
		if ok != (tc.want != nil) || string(got) != string(tc.want) {
			t.Errorf("%s: %x %t, want %x", tc.name, got, ok, tc.want)
		}
	}
}

// A peer that sends heartbeats and never reads: the answers wait behind
// the blocked writer, coalesced to one, so the server's memory for it does
// not grow with the number of heartbeats.
func TestHeartbeatAnswersToAPeerThatDoesNotReadAreCoalesced(t *testing.T) {
	ctx := testCtx(t)
	srv := NewServer(ServerOptions{})
	d := srv.d
	cli, end := newPipeWith(newGate(true), newGate(true), 1)
	if err := srv.Attach(end); err != nil {
		t.Fatal(err)
	}
	write := func(f proto.Frame) {
		t.Helper()
		if err := cli.WriteMessages([][]byte{encodeFrame(t, f)}); err != nil {
			t.Fatal(err)
		}
	}
	write(&proto.Hello{Version: proto.Version})
	write(&proto.Ack{})
	const beats = 2000
	for i := range beats {
		write(&proto.Heartbeat{Echo: uint64(i + 1)})
	}
	// Nothing is read from cli: the WELCOME fills the pipe, the first
	// answer blocks the writer, the rest wait.
	for srv.Stats().MessagesIn < beats+2 {
		if ctx.Err() != nil {
			t.Fatal("the heartbeats were never all stepped")
		}
		runtime.Gosched()
	}
	n, queued := probe2(ctx, d, func() (int, int) {
		c := d.conns[1]
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.out), c.queued
	})
	if n > 1 || queued > maxControl {
		t.Fatalf("%d messages (%d bytes) wait for a peer that sent %d heartbeats and reads nothing, want at most one answer", n, queued, beats)
	}
	end.Close(proto.CloseGoingAway, "")
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// A client that stops reading: the server's write makes no progress, the
// connection is killed after WriteTimeout, the session detaches, and the
// client resumes and receives everything, exactly once.
func TestWriteTimeoutDetachesAndTheClientResumesLosingNothing(t *testing.T) {
	ctx := testCtx(t)
	detached := make(chan struct{})
	var once sync.Once
	got := newCollector()
	h := newHarness(t, ServerOptions{
		WriteTimeout: time.Millisecond,
		OnEvent: func(_ context.Context, ev session.Event) {
			if _, ok := ev.(*session.Detached); ok {
				once.Do(func() { close(detached) })
			}
		},
	})
	h.buffer = 1
	c := h.dial(ctx, ClientOptions{
		Session: session.ClientConfig{
			LinkConfig:   session.LinkConfig{MaxMessageSize: 1024},
			ReconnectMin: time.Millisecond,
		},
		OnMessage: got.onMessage,
	})
	h.clientGate.shut()
	const n = 6
	var want []string
	for i := range n {
		// Too large to be joined: one transport message each, so the
		// pipe (one message) and the client's held read fill, and the
		// writer blocks with more queued behind it.
		p := fmt.Sprintf("%d:%s", i, strings.Repeat("x", 600))
		want = append(want, p)
		if err := h.srv.Send(ctx, c.ID(), []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-detached:
	case <-ctx.Done():
		t.Fatal("the stalled connection was never killed")
	}
	h.clientGate.release()
	if r := got.wait(ctx, t, n); strings.Join(r, "|") != strings.Join(want, "|") {
		t.Fatalf("received %d messages, not the %d sent, once each, in order", len(r), n)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// A message packed with frames is stepped in slices of MaxFramesPerStep,
// the reader pausing between them while the session's handlers are behind:
// everything is delivered once, in order, and no step took more than the
// slice.
func TestManyFramesInOneMessageAreSteppedInSlices(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	srv := NewServer(ServerOptions{OnMessage: got.onMessage, MaxPendingEvents: 64})
	counted := &recvCounter{serverEngine: srv.eng}
	srv.d.lock()
	srv.d.eng = counted
	srv.d.unlock()
	cli, end := newPipeWith(newGate(true), newGate(true), 64)
	if err := srv.Attach(end); err != nil {
		t.Fatal(err)
	}
	const n = 5000
	msg := encodeFrame(t, &proto.Hello{Version: proto.Version})
	msg = append(msg, encodeFrame(t, &proto.Ack{})...)
	var want []string
	for i := range n {
		p := fmt.Sprint(i)
		want = append(want, p)
		msg = append(msg, encodeFrame(t, &proto.Data{Seq: uint64(i + 1), Payload: []byte(p)})...)
	}
	if err := cli.WriteMessages([][]byte{msg}); err != nil {
		t.Fatal(err)
	}
	if r := got.wait(ctx, t, n); strings.Join(r, " ") != strings.Join(want, " ") {
		t.Fatalf("delivered %d messages, not the %d sent, once each, in order", len(r), n)
	}
	// One Recv step per slice of 256 frames, all of one transport message.
	srv.d.lock()
	recvs := counted.recvs
	srv.d.unlock()
	if steps := (n + 2 + DefaultMaxFramesPerStep - 1) / DefaultMaxFramesPerStep; recvs != steps {
		t.Errorf("%d Recv steps for %d frames, want %d slices", recvs, n+2, steps)
	}
	if st := srv.Stats(); st.MessagesIn != 1 {
		t.Errorf("%d transport messages counted, want 1 (the slices are one message)", st.MessagesIn)
	}
	end.Close(proto.CloseGoingAway, "")
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// recvCounter counts a server engine's Recv steps; driver lock held.
type recvCounter struct {
	*serverEngine
	recvs int
}

func (e *recvCounter) recv(now time.Time, conn session.ConnID, data []byte) error {
	e.recvs++
	return e.serverEngine.recv(now, conn, data)
}

// The budget of messages that deliver nothing: a burst, then one per
// interval; past it the reader waits exactly until it is back within.
func TestIdleBudget(t *testing.T) {
	d := newDriver(&recorder{}, handlers{}, withSide(nil, "test"), 1<<20, 0, nil)
	d.idleEvery, d.idleBurst = 10*time.Millisecond, 3
	c := &conn{d: d}
	d.now = time.Unix(1000, 0)
	if w := d.idleWait(c); w != 0 {
		t.Fatalf("a fresh connection waits %s", w)
	}
	for i := range 3 {
		d.spendIdle(c)
		if w := d.idleWait(c); w != 0 {
			t.Fatalf("message %d of the burst waits %s", i+1, w)
		}
	}
	d.spendIdle(c)
	if w := d.idleWait(c); w != 10*time.Millisecond {
		t.Fatalf("past the burst: wait %s, want one interval", w)
	}
	d.now = d.now.Add(10 * time.Millisecond)
	if w := d.idleWait(c); w != 0 {
		t.Fatalf("an interval later: wait %s", w)
	}
	d.now = d.now.Add(time.Hour) // an idle hour refills the burst, no more
	for range 3 {
		d.spendIdle(c)
	}
	if w := d.idleWait(c); w != 0 {
		t.Fatalf("a burst after an idle hour waits %s", w)
	}
	d.spendIdle(c)
	if w := d.idleWait(c); w != 10*time.Millisecond {
		t.Fatalf("past the refilled burst: wait %s, want one interval", w)
	}
}
