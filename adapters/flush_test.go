package adapters

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

const flushWaits = "Flush returns once everything sent before it is acknowledged, not before"

// flushes returns how many Flushes wait on d.
func flushes(ctx context.Context, d *driver) int {
	return probe(ctx, d, func() int { return len(d.flushes) })
}

// Client.Flush waits while the server has not read what was sent (its
// reader is held at the gate, so nothing is acknowledged), and returns nil
// once the server's machine has received all of it.
func TestClientFlushWaitsForAcknowledgement(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{LinkConfig: immediateAcks}})
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: immediateAcks}})
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush with nothing pending: %v", err)
	}
	h.gate.shut()
	const n = 3
	for i := range n {
		if err := c.Send(ctx, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	res := make(chan error, 1)
	go func() { res <- c.Flush(ctx) }()
	eventually(t, func() bool { return flushes(ctx, c.d) == 1 }, res, flushWaits, "Flush returned before the server read anything")
	if st := h.srv.Stats(); st.Delivered != 0 {
		t.Fatalf("setup: the server got %d messages through a shut gate", st.Delivered)
	}
	h.gate.release()
	if err := receive(t, res, flushWaits, "the server acknowledged everything and Flush did not return"); err != nil {
		t.Fatalf("promise broken: %s: %v", flushWaits, err)
	}
	if st := h.srv.Stats(); st.Delivered != n {
		t.Fatalf("promise broken: %s: Flush returned when the server had %d of %d", flushWaits, st.Delivered, n)
	}
	closeAll(ctx, t, h, c)
}

// A Flush whose ctx ends returns ctx.Err() and stops waiting; one waiting
// when the client ends returns session.ErrClosed.
func TestClientFlushCtxAndClose(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{LinkConfig: immediateAcks}})
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: immediateAcks}})
	h.gate.shut()
	if err := c.Send(ctx, []byte("held")); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(ctx)
	res := make(chan error, 1)
	go func() { res <- c.Flush(fctx) }()
	eventually(t, func() bool { return flushes(ctx, c.d) == 1 }, res, "setup", "Flush returned before the server read anything")
	cancel()
	if err := receive(t, res, "Flush returns when its ctx ends", "it did not"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush: %v, want context.Canceled", err)
	}
	if n := flushes(ctx, c.d); n != 0 {
		t.Fatalf("%d Flushes still registered after their ctx ended", n)
	}
	go func() { res <- c.Flush(ctx) }()
	eventually(t, func() bool { return flushes(ctx, c.d) == 1 }, res, "setup", "Flush returned before the server read anything")
	cctx, ccancel := context.WithCancel(ctx)
	ccancel() // Close aborts at once: nothing is acknowledged
	c.Close(cctx)
	if err := receive(t, res, "a Flush waiting when the client ends returns", "it did not"); !errors.Is(err, session.ErrClosed) {
		t.Fatalf("Flush: %v, want session.ErrClosed", err)
	}
	h.gate.release()
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// Server.Flush waits until the client has acknowledged what the server
// sent it; an unknown client is an error at once.
func TestServerFlushWaitsForAcknowledgement(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{LinkConfig: immediateAcks}})
	h.plain = true
	c := h.dial(ctx, ClientOptions{Session: session.ClientConfig{LinkConfig: immediateAcks}, OnMessage: got.onMessage})
	if err := h.srv.Flush(ctx, proto.ClientID{1}); !errors.Is(err, session.ErrUnknownClient) {
		t.Fatalf("Flush of an unknown client: %v", err)
	}
	h.clientGate.shut()
	const n = 3
	for i := range n {
		if err := h.srv.Send(ctx, c.ID(), fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	res := make(chan error, 1)
	go func() { res <- h.srv.Flush(ctx, c.ID()) }()
	eventually(t, func() bool { return flushes(ctx, h.srv.d) == 1 }, res, flushWaits, "Flush returned before the client read anything")
	h.clientGate.release()
	if err := receive(t, res, flushWaits, "the client acknowledged everything and Flush did not return"); err != nil {
		t.Fatalf("promise broken: %s: %v", flushWaits, err)
	}
	if st := c.Stats(); st.Delivered != n {
		t.Fatalf("promise broken: %s: Flush returned when the client had %d of %d", flushWaits, st.Delivered, n)
	}
	got.wait(ctx, t, n)
	closeAll(ctx, t, h, c)
}
