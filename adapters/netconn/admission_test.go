package netconn_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"

	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
	"github.com/bettersocket/bettersocket/adapters/netconn"
	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// A connection from a source whose connections awaiting HELLO are at
// their limit is refused as soon as it is accepted, with CLOSE overloaded
// (what the machine would send), then closed; the refusal counts in
// Throttled, and the source is admitted again once its pending
// connection is gone.
func TestRefusedAtAccept(t *testing.T) {
	e2etest.Refused(t, transport, func(ctx context.Context, nc net.Conn, br *bufio.Reader) {
		r := netconn.NewReader(br, codec.DefaultMaxMessageSize)
		msg, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("a refused connection read %v, want its CLOSE", err)
		}
		f, err := codec.Decode(msg, codec.Limits{})
		cl, ok := f.(*proto.Close)
		if err != nil || !ok || cl.Code != proto.CloseOverloaded {
			t.Fatalf("a refused connection was sent %#v, %v; want CLOSE overloaded", f, err)
		}
		if _, err := r.ReadMessage(); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("after its CLOSE a refused connection read %v, want it closed", err)
		}
	})
}
