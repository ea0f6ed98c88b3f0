package session

import (
	"testing"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// SetAuth replaces the credentials of the next HELLO, and of every later
// one: a driver refreshes an expiring token before each connection.
func TestClientSetAuthReplacesTheNextHellosCredentials(t *testing.T) {
	h := newCli(t, ClientConfig{Auth: []byte("fixed")})
	hello := func(conn ConnID) string {
		t.Helper()
		h.conn = conn
		h.step(Connected{Conn: conn})
		rd := h.m.Ready()
		f, err := codec.Decode(rd.Transmit[0], codec.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		h.step(Disconnected{Conn: conn})
		h.m.Ready()
		return string(f.(*proto.Hello).Auth)
	}
	if got := hello(1); got != "fixed" {
		t.Fatalf("first HELLO auth %q, want the configured one", got)
	}
	h.step(SetAuth{Auth: []byte("token-2")})
	if got := hello(2); got != "token-2" {
		t.Fatalf("HELLO after SetAuth carries %q", got)
	}
	if got := hello(3); got != "token-2" {
		t.Fatalf("a later HELLO carries %q, want the last SetAuth's", got)
	}
}

// Acked follows the peer's acknowledgements of what was queued.
func TestClientAckedFollowsTheSendSide(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	p.handshake(c1)
	if sent, acked := c1.m.Acked(); sent != 0 || acked != 0 {
		t.Fatalf("a new session: sent %d acked %d", sent, acked)
	}
	if err := c1.m.Step(p.now, Send{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if sent, acked := c1.m.Acked(); sent != 1 || acked != 0 {
		t.Fatalf("queued one: sent %d acked %d", sent, acked)
	}
	p.stabilize()
	if sent, acked := c1.m.Acked(); sent != 1 || acked != 1 {
		t.Fatalf("after delivery: sent %d acked %d", sent, acked)
	}
	if sent, acked, ok := p.srv.Acked(c1.m.ID()); !ok || sent != 0 || acked != 0 {
		t.Fatalf("server side: sent %d acked %d ok %t", sent, acked, ok)
	}
	if _, _, ok := p.srv.Acked(proto.ClientID{1}); ok {
		t.Fatal("Acked of an unknown session is ok")
	}
}
