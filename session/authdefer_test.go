package session

import (
	"errors"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// With DeferAuthorize, a HELLO waits for the driver's Authorized: nothing
// is written until then, the credentials reach AuthPending intact (copied
// out of the receive buffer), other connections proceed meanwhile, and
// the answer completes or refuses the handshake with the code it carries.
func TestServerDeferredAuthorize(t *testing.T) {
	h := newSrv(t, ServerConfig{DeferAuthorize: true, HandshakeTimeout: 10 * time.Second,
		Authorize: func(AuthRequest) error { t.Fatal("Authorize called with DeferAuthorize"); return nil }})
	h.step(Connected{Conn: 1, Source: "a", Transport: "peer-1"})
	data := encode(t, &proto.Hello{Version: proto.Version, Auth: []byte("tok1")})
	h.step(Recv{Conn: 1, Data: data})
	clear(data) // the machine keeps no reference to Data
	rd := h.expect(nil, nil, []string{"auth-pending 1 resume=false"})
	req := rd.Events[0].(*AuthPending).Request
	if req.Conn != 1 || string(req.Auth) != "tok1" || req.Source != "a" || req.Transport != "peer-1" || req.Resume {
		t.Fatalf("AuthPending.Request = %+v", req)
	}
	// A repeated HELLO while the decision is pending asks nothing more.
	h.recv(1, &proto.Hello{Version: proto.Version, Auth: []byte("tok1")})
	h.expect(nil, nil, nil)

	// Another connection asks too; the answers may come in any order.
	h.step(Connected{Conn: 2})
	h.recv(2, &proto.Hello{Version: proto.Version, Auth: []byte("tok2")})
	h.expect(nil, nil, []string{"auth-pending 2 resume=false"})
	h.step(Authorized{Conn: 2, Err: &CloseError{Code: proto.CloseHandshakeTimeout, Reason: "authentication timed out"}})
	h.expect([]string{`2: CLOSE handshake-timeout "session: unauthorized: authentication timed out"`}, []ConnID{2},
		[]string{"conn-rejected 2: session: unauthorized: authentication timed out"})

	h.step(Authorized{Conn: 1})
	_, rd = h.ready()
	st, ok := rd.Events[0].(*SessionStarted)
	if !ok || st.Conn != 1 || string(st.Auth) != "tok1" {
		t.Fatalf("events %v, want session-started on 1 with its credentials", eventStrings(rd.Events))
	}
	// A second answer, or one for a connection that is gone, is ignored.
	h.step(Authorized{Conn: 1, Err: errors.New("late")})
	h.step(Authorized{Conn: 9})
	h.expect(nil, nil, nil)

	// A plain error refuses with CLOSE policy.
	h.step(Connected{Conn: 3})
	h.recv(3, &proto.Hello{Version: proto.Version})
	h.expect(nil, nil, []string{"auth-pending 3 resume=false"})
	h.step(Authorized{Conn: 3, Err: errors.New("bad token")})
	h.expect([]string{`3: CLOSE policy "session: unauthorized: bad token"`}, []ConnID{3},
		[]string{"conn-rejected 3: session: unauthorized: bad token"})

	// The HandshakeTimeout still bounds a connection whose answer never
	// comes.
	h.step(Connected{Conn: 4})
	h.recv(4, &proto.Hello{Version: proto.Version})
	h.expect(nil, nil, []string{"auth-pending 4 resume=false"})
	h.at(10 * time.Second)
	h.step(Timeout{})
	h.expect([]string{`4: CLOSE handshake-timeout "session: handshake timeout"`}, []ConnID{4},
		[]string{"conn-rejected 4: session: handshake timeout"})
	h.step(Authorized{Conn: 4})
	h.expect(nil, nil, nil)
	if st := h.s.Stats(); st.Sessions != 1 || st.SessionsStarted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A resume asks too; a refusal that is not policy (the decision timed
// out) leaves the session to a later resume, which can succeed.
func TestServerDeferredAuthorizeResume(t *testing.T) {
	h := newSrv(t, ServerConfig{DeferAuthorize: true})
	h.step(Connected{Conn: 1})
	h.recv(1, &proto.Hello{Version: proto.Version})
	h.ready()
	h.step(Authorized{Conn: 1})
	_, rd := h.ready()
	w := decodeAll(t, rd.Transmit[0].Data)[0].(*proto.Welcome)
	h.recv(1, &proto.Ack{Ack: 0})
	h.step(Disconnected{Conn: 1})
	h.ready()

	h.step(Connected{Conn: 2})
	h.recv(2, &proto.Hello{Version: proto.Version, Resume: &proto.Resume{ID: w.ID, Token: w.Token, Attempt: 2}})
	rd = h.expect(nil, nil, []string{"auth-pending 2 resume=true"})
	if r := rd.Events[0].(*AuthPending).Request; r.Client != w.ID {
		t.Fatalf("AuthPending.Request.Client = %s, want %s", r.Client, w.ID)
	}
	h.step(Authorized{Conn: 2, Err: &CloseError{Code: proto.CloseHandshakeTimeout, Reason: "slow"}})
	h.expect([]string{`2: CLOSE handshake-timeout "session: unauthorized: slow"`}, []ConnID{2},
		[]string{"conn-rejected 2: session: unauthorized: slow"})

	h.step(Connected{Conn: 3})
	h.recv(3, &proto.Hello{Version: proto.Version, Resume: &proto.Resume{ID: w.ID, Token: w.Token, Attempt: 3}})
	h.expect(nil, nil, []string{"auth-pending 3 resume=true"})
	h.step(Authorized{Conn: 3})
	_, rd = h.ready()
	eq(t, "events", eventStrings(rd.Events), []string{"resumed " + w.ID.String()})
}
