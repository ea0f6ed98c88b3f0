package e2etest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// HostileMaxMessage is the server's message size limit in Hostile.
const HostileMaxMessage = 4096

// closeSeen is how a raw peer saw its connection end.
type closeSeen struct {
	frame  proto.CloseCode // the CLOSE frame's code; 0 when none arrived
	status int             // the transport's close status; -1 when none
}

// readClose reads until the connection ends and returns the last CLOSE
// frame and the close status.
func readClose(t *testing.T, raw RawConn) closeSeen {
	t.Helper()
	seen := closeSeen{status: -1}
	for {
		msg, err := raw.ReadMessage()
		if err != nil {
			seen.status = raw.Status(err)
			return seen
		}
		f, err := codec.Decode(msg, codec.Limits{})
		if err != nil {
			t.Errorf("raw peer: undecodable message %x: %v", msg, err)
			continue
		}
		if cl, ok := f.(*proto.Close); ok {
			seen.frame = cl.Code
		} else {
			t.Errorf("raw peer: unexpected frame %v", f)
		}
	}
}

// Hostile attacks a server over tr with raw peers — garbage, a message
// over the size limit, and a connection that never sends HELLO — and checks
// that each is closed with the right code while a well-behaved client on
// the same server keeps working. wantStatus says whether the transport
// carries a close status (WebSocket) besides the CLOSE frame; when it does,
// it must equal the CLOSE frame's code. A message over the limit is refused
// by the transport itself, before the machine sees it; on WebSocket the
// library sends status 1009 and the CLOSE frame may not get through.
func Hostile(t *testing.T, tr Transport, wantStatus bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	var rejected []error
	ln, err := NewKillListener()
	if err != nil {
		t.Fatal(err)
	}
	srv, addr, stop := tr.Serve(t, ln, adapters.ServerOptions{
		Session: session.ServerConfig{
			LinkConfig: session.LinkConfig{MaxMessageSize: HostileMaxMessage},
			// Long enough that the good client and the peers that do
			// send something finish their exchange first on any machine,
			// however slow or busy (a race against this timeout would make
			// the verdict depend on speed); only the silent peer waits
			// it out.
			HandshakeTimeout: 3 * time.Second,
		},
		OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) { return answer(r.Payload), nil },
		OnEvent: func(_ context.Context, ev session.Event) {
			if r, ok := ev.(*session.ConnRejected); ok {
				mu.Lock()
				rejected = append(rejected, r.Err)
				mu.Unlock()
			}
		},
	})
	good, err := tr.Dial(ctx, addr, adapters.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func(step string) {
		t.Helper()
		q := []byte("still there after " + step)
		resp, err := good.Request(ctx, q)
		if err != nil || !bytes.Equal(resp, answer(q)) {
			t.Fatalf("good client after %s: %q, %v", step, resp, err)
		}
	}
	roundTrip("connect")

	cases := []struct {
		name string
		send func(RawConn) error
		want proto.CloseCode
	}{
		{"garbage", func(r RawConn) error { return r.WriteMessage([]byte{0xff, 0x00, 0x13, 0x37}) }, proto.CloseProtocolError},
		{"not a HELLO", func(r RawConn) error {
			b, _ := codec.Encode(&proto.Ack{Ack: 0})
			return r.WriteMessage(b)
		}, proto.CloseProtocolError},
		{"oversized", func(r RawConn) error { return r.WriteMessage(make([]byte, HostileMaxMessage+1)) }, proto.CloseTooLarge},
		{"silent", func(RawConn) error { return nil }, proto.CloseHandshakeTimeout},
	}
	for _, tc := range cases {
		raw, err := tr.Raw(ctx, addr)
		if err != nil {
			t.Fatalf("%s: raw dial: %v", tc.name, err)
		}
		if err := tc.send(raw); err != nil {
			t.Fatalf("%s: write: %v", tc.name, err)
		}
		seen := readClose(t, raw)
		raw.Close()
		switch {
		case wantStatus && seen.status != int(tc.want):
			t.Errorf("%s: close status %d, want %d", tc.name, seen.status, tc.want)
		case wantStatus && seen.frame != 0 && seen.frame != tc.want:
			t.Errorf("%s: CLOSE frame %s, want %s", tc.name, seen.frame, tc.want)
		case !wantStatus && seen.frame != tc.want:
			t.Errorf("%s: CLOSE frame %s, want %s", tc.name, seen.frame, tc.want)
		case wantStatus && tc.want != proto.CloseTooLarge && seen.frame != tc.want:
			t.Errorf("%s: CLOSE frame %s, want %s", tc.name, seen.frame, tc.want)
		}
		roundTrip(tc.name)
	}

	st := srv.Stats()
	if st.SessionsStarted != 1 || st.ProtocolErrors != 2 {
		t.Errorf("stats: %d sessions started, %d protocol errors; want 1, 2", st.SessionsStarted, st.ProtocolErrors)
	}
	if err := good.Close(ctx); err != nil {
		t.Errorf("good client: close: %v", err)
	}
	if err := stop(ctx); err != nil {
		t.Errorf("server: close: %v", err)
	}
	// Close waits for the handlers: every event has been seen.
	mu.Lock()
	got := rejected
	mu.Unlock()
	wantErrs := []error{session.ErrProtocol, session.ErrProtocol, session.ErrHandshakeTimeout}
	if len(got) != len(wantErrs) {
		t.Errorf("rejected connections: %v, want %v", got, wantErrs)
	} else {
		for i := range got {
			if !errors.Is(got[i], wantErrs[i]) {
				t.Errorf("rejection %d: %v, want %v", i, got[i], wantErrs[i])
			}
		}
	}
}
