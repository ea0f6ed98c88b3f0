package fuzz

import (
	"errors"
	"strings"
	"testing"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// TestCommandTextOnTheWire: text an application passes to a command (a
// CLOSE reason, a kick reason, an error response's message) reaches the
// wire as valid UTF-8 within proto.MaxReasonLen, so the peer never sees a
// protocol error for it; a room name that is not UTF-8 is refused. The
// worlds' checks decode every transmitted message. (Found by FuzzClient:
// testdata/fuzz/FuzzClient/8004d915f4807a15.)
func TestCommandTextOnTheWire(t *testing.T) {
	bad := "\xff\xfe" + strings.Repeat("é", proto.MaxReasonLen)

	w := newClientWorld(t, session.Stream)
	w.setup(startTraffic)
	if err := w.step(session.JoinRoom{ID: 99, Room: "ok\xff"}); !errors.Is(err, session.ErrInvalid) {
		t.Errorf("JoinRoom with a non-UTF-8 room: %v, want ErrInvalid", err)
	}
	w.command(session.Reply{ID: 7, Err: &proto.Error{Code: proto.ErrCodeApplication, Message: bad}})
	w.command(session.Abort{Reason: bad})

	s := newServerWorld(t, session.Stream)
	s.setup()
	s.serverCall(s.h[0], []byte("q"))
	// A third client, whose session the server application kicks.
	srv := s.s
	_ = srv.Step(s.now, session.Connected{Conn: 100})
	_ = srv.Step(s.now, session.Recv{Conn: 100, Data: helloBytes(t)})
	var id proto.ClientID
	for _, ev := range srv.Ready().Events {
		if st, ok := ev.(*session.SessionStarted); ok {
			id = st.Client
		}
	}
	if err := srv.Step(s.now, session.Kick{Client: id, Reason: bad}); err != nil {
		t.Fatal(err)
	}
	for _, o := range srv.Ready().Transmit {
		checkTransmit(t, outDecoder(), "server", o.Data, srvMaxMessage, false)
	}
}
