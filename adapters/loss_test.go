package adapters

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

const oneAccount = "each session end is accounted for once; a lost request's caller gets ErrSessionLost"

// A session lost to a server restart with a message and a request the old
// server never read is reported by exactly one SessionLost, which lists
// both (the request with its payload) and the request among its pending
// IDs; the Request call itself returns session.ErrSessionLost; a Flush
// waiting on the lost session returns session.ErrSessionLost; and the new
// session's clean Close adds no second report of them.
func TestOneAccountOfLossPerSessionEnd(t *testing.T) {
	ctx := testCtx(t)
	clk := newFakeClock()
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{LinkConfig: immediateAcks}})
	h.plain = true
	events := make(chan session.Event, 16)
	c := h.dial(ctx, ClientOptions{
		Session: session.ClientConfig{LinkConfig: immediateAcks, Rand: failingRand{}},
		OnEvent: func(_ context.Context, ev session.Event) { events <- ev },
		clock:   clk,
	})
	<-events // SessionStarted
	h.gate.shut()
	if err := c.Send(ctx, []byte("m1")); err != nil {
		t.Fatal(err)
	}
	req := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, []byte("q1"))
		req <- err
	}()
	eventually(t, func() bool { return probe(ctx, c.d, func() int { return len(c.d.calls) }) == 1 }, req, "setup", "the request was not sent")
	flushed := make(chan error, 1)
	go func() { flushed <- c.Flush(ctx) }()
	eventually(t, func() bool { return flushes(ctx, c.d) == 1 }, flushed, "setup", "Flush returned with nothing acknowledged")
	h.restart(ctx, ServerOptions{Session: session.ServerConfig{LinkConfig: immediateAcks}})
	h.gate.release()
	advanceToRedial(t, clk, oneAccount)
	if err := receive(t, req, oneAccount, "the request never got its outcome"); !errors.Is(err, session.ErrSessionLost) {
		t.Fatalf("promise broken: %s: Request: %v", oneAccount, err)
	}
	if err := receive(t, flushed, oneAccount, "Flush never returned"); !errors.Is(err, session.ErrSessionLost) {
		t.Fatalf("promise broken: %s: Flush: %v", oneAccount, err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close of the new session: %v", err)
	}
	var lost []*session.SessionLost
	var closed []*session.Closed
	for len(closed) == 0 {
		switch ev := receive(t, events, oneAccount, "no Closed event").(type) {
		case *session.SessionLost:
			lost = append(lost, ev)
		case *session.Closed:
			closed = append(closed, ev)
		}
	}
	if len(lost) != 1 {
		t.Fatalf("promise broken: %s: %d SessionLost events", oneAccount, len(lost))
	}
	l := lost[0].Lost
	var payloads []string
	var types []proto.FrameType
	for _, f := range l.Unacked {
		payloads = append(payloads, string(f.Payload))
		types = append(types, f.Type)
	}
	if !slices.Equal(payloads, []string{"m1", "q1"}) || !slices.Equal(types, []proto.FrameType{proto.TypeData, proto.TypeRequest}) ||
		len(l.Requests) != 1 || l.Requests[0] != l.Unacked[1].ID {
		t.Fatalf("promise broken: %s: SessionLost lists %v (payloads %q)", oneAccount, l, payloads)
	}
	if cl := closed[0]; cl.Err != nil || len(cl.Lost.Unacked) != 0 || len(cl.Lost.Requests) != 0 {
		t.Fatalf("promise broken: %s: the clean close reports %v, %v", oneAccount, cl.Err, cl.Lost)
	}
	if err := h.server().Close(ctx); err != nil {
		t.Fatal(err)
	}
}
