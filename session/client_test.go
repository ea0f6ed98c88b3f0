package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// Spec scenario 1: HELLO → WELCOME → ACK 0, then a heartbeat every
// interval, each answered, carrying the last received sequence number.
func TestClientHandshakeAndHeartbeats(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	p.handshake(c1)
	eq(t, "handshake", p.takeTrace(), []string{
		"c1 -> s: HELLO v=1",
		"s -> c1: WELCOME id=<c1> hb=30s idle=1m15s resumed=false seq=0 ack=0",
		"c1 -> s: ACK 0",
	})
	eq(t, "client events", p.takeEvents(c1), []string{"session-started <c1>"})
	eq(t, "server events", p.takeServerEvents(), []string{"session-started <c1>"})
	if want := t0.Add(30 * time.Second); !c1.deadline.Equal(want) {
		t.Fatalf("client deadline %s, want the first heartbeat at %s", c1.deadline, want)
	}

	p.run(30 * time.Second)
	eq(t, "first heartbeat", p.takeTrace(), []string{
		"c1 -> s: HEARTBEAT ack=0 echo=30000000",
		"s -> c1: HEARTBEAT ack=0 echo=30000000",
	})
	p.sendTo(c1, "restart in 5 minutes")
	p.stabilize()
	p.run(30 * time.Second)
	eq(t, "a message, then the second heartbeat", p.takeTrace(), []string{
		`s -> c1: DATA seq=1 ack=0 "restart in 5 minutes"`,
		"c1 -> s: ACK 1",
		"c1 -> s: HEARTBEAT ack=1 echo=60000000",
		"s -> c1: HEARTBEAT ack=0 echo=60000000",
	})
	eq(t, "client events", p.takeEvents(c1), []string{`delivered seq=1 "restart in 5 minutes"`})
	if !c1.m.link.haveRTT || c1.m.link.srtt != 0 {
		t.Fatalf("an instant heartbeat echo should give an RTT sample of 0, got %s (have %t)", c1.m.link.srtt, c1.m.link.haveRTT)
	}
}

// Spec scenario 2: a message each way, each acknowledged.
func TestClientServerMessageEachWay(t *testing.T) {
	p := newPump(t, ServerConfig{}, ClientConfig{}, 1)
	c1 := p.c(1)
	p.handshake(c1)
	p.takeTrace()
	p.takeEvents(c1)
	p.takeServerEvents()
	p.send(c1, "my time is 22:46:58")
	p.stabilize()
	p.sendTo(c1, "restarting soon")
	p.stabilize()
	eq(t, "trace", p.takeTrace(), []string{
		`c1 -> s: DATA seq=1 ack=0 "my time is 22:46:58"`,
		"s -> c1: ACK 1",
		`s -> c1: DATA seq=1 ack=1 "restarting soon"`,
		"c1 -> s: ACK 1",
	})
	eq(t, "server events", p.takeServerEvents(), []string{`delivered seq=1 "my time is 22:46:58"`})
	eq(t, "client events", p.takeEvents(c1), []string{`delivered seq=1 "restarting soon"`})
	sd := p.srv.Stats()
	cs := c1.m.Stats()
	if sd.Sent != 1 || sd.Delivered != 1 || cs.Sent != 1 || cs.Delivered != 1 || cs.Sessions != 1 || sd.Sessions != 1 {
		t.Fatalf("stats: server %+v client %+v", sd, cs)
	}
}

// dialDelays replays the jitter a client with Rand seeded(seed) draws: one
// uint64 per Dial, modulo the attempt's ceiling.
func dialDelays(seed uint64, ceilings []time.Duration) []time.Duration {
	r := seeded(seed)
	out := make([]time.Duration, len(ceilings))
	for i, c := range ceilings {
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			panic(err)
		}
		out[i] = time.Duration(binary.LittleEndian.Uint64(b[:]) % uint64(c))
	}
	return out
}

func TestClientIdleTimeoutThenJitteredCappedBackoff(t *testing.T) {
	h := newCli(t, ClientConfig{})
	w := testWelcome(1)
	w.Heartbeat, w.IdleTimeout = 30*time.Second, 75*time.Second
	h.open(w)
	for _, at := range []time.Duration{30, 60} {
		h.at(at * time.Second)
		h.step(Timeout{})
		h.expect([]string{fmt.Sprintf("HEARTBEAT ack=0 echo=%d", at*1_000_000)}, nil)
	}
	h.at(75*time.Second - time.Nanosecond)
	h.step(Timeout{})
	h.expect(nil, nil)

	ceilings := []time.Duration{
		250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second,
	}
	delays := dialDelays(7, ceilings)

	h.at(75 * time.Second)
	h.step(Timeout{})
	_, rd := h.ready()
	if !rd.Hangup || len(rd.Transmit) != 0 {
		t.Fatalf("idle timeout: hangup %t transmit %d, want a silent hangup", rd.Hangup, len(rd.Transmit))
	}
	if len(rd.Events) != 2 {
		t.Fatalf("events %q, want connection-lost and dial", eventStrings(rd.Events))
	}
	if cl, ok := rd.Events[0].(*ConnectionLost); !ok || !errors.Is(cl.Err, ErrIdleTimeout) {
		t.Fatalf("first event %s, want connection-lost with ErrIdleTimeout", rd.Events[0])
	}
	for i, ceiling := range ceilings {
		var d *Dial
		if i == 0 {
			d = rd.Events[1].(*Dial)
		} else {
			h.step(Disconnected{Conn: 0, Err: errors.New("refused")}) // the dial failed
			_, rd := h.ready()
			if len(rd.Events) != 1 {
				t.Fatalf("dial failure %d: events %q, want one Dial", i, eventStrings(rd.Events))
			}
			d = rd.Events[0].(*Dial)
		}
		delay := d.At.Sub(h.now)
		if d.Attempt != i+1 || delay < 0 || delay >= ceiling || delay != delays[i] {
			t.Fatalf("dial %d: attempt %d delay %s, want attempt %d delay %s (< %s)",
				i, d.Attempt, delay, i+1, delays[i], ceiling)
		}
		h.now = d.At
	}

	// A successful handshake resets the backoff.
	h.conn = 5
	h.step(Connected{Conn: 5})
	h.expect([]string{"HELLO v=1 resume=" + testID(1).String() + " ack=0 attempt=2"}, nil)
	w.Resumed = true
	h.recv(w)
	h.expect([]string{"ACK 0"}, []string{"resumed " + testID(1).String()})
	h.step(Disconnected{Conn: 5})
	_, rd = h.ready()
	if d := rd.Events[1].(*Dial); d.Attempt != 1 || d.At.Sub(h.now) >= 250*time.Millisecond {
		t.Fatalf("after a successful resume: %s, want attempt 1 within 250ms", d)
	}
}

func TestClientHandshakeTimeout(t *testing.T) {
	h := newCli(t, ClientConfig{HandshakeTimeout: 3 * time.Second})
	h.conn = 1
	h.step(Connected{Conn: 1})
	rd := h.expect([]string{"HELLO v=1"}, nil)
	if want := t0.Add(3 * time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want %s", rd.Deadline, want)
	}
	h.at(3 * time.Second)
	h.step(Timeout{})
	_, rd = h.ready()
	if !rd.Hangup || len(rd.Events) != 2 {
		t.Fatalf("hangup %t events %q", rd.Hangup, eventStrings(rd.Events))
	}
	if cl := rd.Events[0].(*ConnectionLost); !errors.Is(cl.Err, ErrHandshakeTimeout) {
		t.Fatalf("ConnectionLost.Err = %v", cl.Err)
	}
	if d := rd.Events[1].(*Dial); d.Attempt != 1 {
		t.Fatalf("dial attempt %d", d.Attempt)
	}
}

func TestClientGracefulCloseFlushesThenClosesNormal(t *testing.T) {
	h := newCli(t, ClientConfig{})
	h.open(testWelcome(1))
	h.step(Send{Payload: []byte("a")})
	h.step(Send{Payload: []byte("b")})
	h.step(Close{Reason: "bye"})
	if err := h.m.Step(h.now, Send{Payload: []byte("c")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send while closing: %v, want ErrClosed", err)
	}
	if err := h.m.Step(h.now, Close{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	rd := h.expect([]string{`DATA seq=1 ack=0 "a"`, `DATA seq=2 ack=0 "b"`}, nil)
	if rd.Hangup {
		t.Fatalf("hung up before the pending frames were acknowledged")
	}
	h.recv(&proto.Ack{Ack: 1})
	h.expect(nil, nil)
	h.recv(&proto.Data{Seq: 1, Ack: 2, Payload: []byte("late")})
	// The ACK owed for "late" precedes the CLOSE: the server must not
	// report as lost what this side received.
	rd = h.expect([]string{`ACK 1`, `CLOSE normal "bye"`},
		[]string{`delivered seq=1 "late"`, "closed: <nil> unacked=[] requests=[] last=1"})
	if !rd.Hangup || !rd.Deadline.IsZero() {
		t.Fatalf("hangup %t deadline %s, want a hangup and no deadline", rd.Hangup, rd.Deadline)
	}
	if err := h.m.Step(h.now, Send{Payload: []byte("d")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Closed: %v, want ErrClosed", err)
	}
	if st := h.m.Stats(); st.Sessions != 0 || st.SessionsStarted != 1 || st.SessionsLost != 0 {
		t.Fatalf("stats after Closed: %+v", st)
	}
	if err := h.m.Step(h.now, Connected{Conn: 9}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Connected after Closed: %v, want ErrClosed", err)
	}
}

func TestClientGracefulCloseTimesOutReportingLoss(t *testing.T) {
	h := newCli(t, ClientConfig{CloseTimeout: 2 * time.Second})
	h.open(testWelcome(1))
	h.step(Send{Payload: []byte("a")})
	h.step(Close{Reason: "bye"})
	rd := h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
	if want := t0.Add(2 * time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want the close timeout %s", rd.Deadline, want)
	}
	h.at(2 * time.Second)
	h.step(Timeout{})
	rd = h.expect([]string{`CLOSE normal "bye"`}, []string{"closed: <nil> unacked=[1] requests=[] last=0"})
	lost := rd.Events[0].(*Closed).Lost
	if len(lost.Unacked) != 1 || string(lost.Unacked[0].Payload) != "a" || lost.Unacked[0].Type != proto.TypeData {
		t.Fatalf("lost %+v", lost)
	}
	if st := h.m.Stats(); st.SessionsLost != 1 {
		t.Fatalf("SessionsLost = %d, want 1", st.SessionsLost)
	}
}

func TestClientCloseWithNothingPendingIsImmediate(t *testing.T) {
	h := newCli(t, ClientConfig{})
	h.open(testWelcome(1))
	h.step(Close{Reason: "done"})
	rd := h.expect([]string{`CLOSE normal "done"`}, []string{"closed: <nil> unacked=[] requests=[] last=0"})
	if !rd.Hangup {
		t.Fatalf("no hangup")
	}
	if st := h.m.Stats(); st.SessionsLost != 0 {
		t.Fatalf("SessionsLost = %d, want 0", st.SessionsLost)
	}
}

func TestClientAbortReportsEverythingLost(t *testing.T) {
	h := newCli(t, ClientConfig{})
	h.open(testWelcome(1))
	h.step(Send{Payload: []byte("a")})
	h.step(Call{ID: 7, Payload: []byte("q")})
	h.expect([]string{`DATA seq=1 ack=0 "a"`, `REQUEST seq=2 ack=0 id=7 "q"`}, nil)
	h.recv(&proto.Ack{Ack: 1})
	h.step(Send{Payload: []byte("b")})
	h.step(Abort{Reason: "crash"})
	rd := h.expect([]string{`CLOSE normal "crash"`}, []string{
		"response id=7 error: session: session lost",
		"closed: <nil> unacked=[2 3] requests=[7] last=0",
	})
	if !rd.Hangup {
		t.Fatalf("no hangup")
	}
	if r := rd.Events[0].(*Response); !errors.Is(r.Err, ErrSessionLost) || r.ID != 7 {
		t.Fatalf("response %+v", r)
	}
	lost := rd.Events[1].(*Closed).Lost
	want := []LostFrame{
		{Seq: 2, Type: proto.TypeRequest, ID: 7, Payload: []byte("q")},
		{Seq: 3, Type: proto.TypeData, Payload: []byte("b")},
	}
	if len(lost.Unacked) != 2 {
		t.Fatalf("lost %+v", lost)
	}
	for i, f := range lost.Unacked {
		if f.Seq != want[i].Seq || f.Type != want[i].Type || f.ID != want[i].ID || string(f.Payload) != string(want[i].Payload) {
			t.Fatalf("lost[%d] = %+v, want %+v", i, f, want[i])
		}
	}
	if err := h.m.Step(h.now, Abort{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Abort: %v", err)
	}
}

func TestClientBackpressureFrames(t *testing.T) {
	h := newCli(t, ClientConfig{LinkConfig: LinkConfig{MaxInflight: 3}})
	h.open(testWelcome(1))
	for i := range 3 {
		h.step(Send{Payload: []byte{'a' + byte(i)}})
	}
	if err := h.m.Step(h.now, Send{Payload: []byte("d")}); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("4th Send with MaxInflight 3: %v, want ErrBackpressure", err)
	}
	if err := h.m.Step(h.now, Call{ID: 1}); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("Call with a full window: %v, want ErrBackpressure", err)
	}
	h.expect([]string{`DATA seq=1 ack=0 "a"`, `DATA seq=2 ack=0 "b"`, `DATA seq=3 ack=0 "c"`}, nil)
	h.recv(&proto.Ack{Ack: 2})
	h.step(Send{Payload: []byte("d")})
	h.step(Send{Payload: []byte("e")})
	if err := h.m.Step(h.now, Send{Payload: []byte("f")}); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("Send after 2 acked and 2 more: %v, want ErrBackpressure", err)
	}
	h.expect([]string{`DATA seq=4 ack=0 "d"`, `DATA seq=5 ack=0 "e"`}, nil)
	if st := h.m.Stats(); st.Sent != 5 {
		t.Fatalf("Sent = %d, want 5 (refused sends are not counted)", st.Sent)
	}
}

func TestClientBackpressureBytes(t *testing.T) {
	h := newCli(t, ClientConfig{LinkConfig: LinkConfig{MaxUnackedBytes: 100}})
	h.open(testWelcome(1))
	h.step(Send{Payload: make([]byte, 60)})
	if err := h.m.Step(h.now, Send{Payload: make([]byte, 41)}); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("60+41 bytes with MaxUnackedBytes 100: %v, want ErrBackpressure", err)
	}
	h.step(Send{Payload: make([]byte, 40)})
	if err := h.m.Step(h.now, Send{Payload: make([]byte, 1)}); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("100+1 bytes: %v, want ErrBackpressure", err)
	}
	h.expect([]string{"DATA seq=1 ack=0 len=60", "DATA seq=2 ack=0 len=40"}, nil)
	h.recv(&proto.Ack{Ack: 1})
	h.step(Send{Payload: make([]byte, 60)})
}

func TestClientTooLarge(t *testing.T) {
	h := newCli(t, ClientConfig{})
	w := testWelcome(1)
	w.Limits.MaxMessageSize = 1000
	h.open(w)
	limit := 1000 - frameOverhead
	h.step(Send{Payload: make([]byte, limit)})
	err := h.m.Step(h.now, Send{Payload: make([]byte, limit+1)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Send of %d bytes to a 1000-byte peer: %v, want ErrTooLarge", limit+1, err)
	}
	if want := fmt.Sprintf("session: payload too large: %d bytes, limit %d", limit+1, limit); err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if err := h.m.Step(h.now, Call{ID: 1, Payload: make([]byte, limit+1)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Call: %v, want ErrTooLarge", err)
	}
	if h.m.reqs.outstanding() != 0 {
		t.Fatalf("a refused Call left a pending request")
	}
	// The largest payload fits the peer's message limit on the wire.
	_, rd := h.ready()
	if len(rd.Transmit) != 1 || len(rd.Transmit[0]) > 1000 {
		t.Fatalf("transmit %d messages, first %d bytes; want one within 1000", len(rd.Transmit), len(rd.Transmit[0]))
	}
}

func TestClientFrameBeforeWelcomeIsProtocolErrorInStreamMode(t *testing.T) {
	h := newCli(t, ClientConfig{})
	h.conn = 1
	h.step(Connected{Conn: 1})
	h.expect([]string{"HELLO v=1"}, nil)
	h.recv(&proto.Data{Seq: 1, Payload: []byte("x")})
	rd := h.expect([]string{`CLOSE protocol-error "session: protocol violation: DATA before WELCOME"`},
		[]string{"closed: session: closed by local: protocol-error: session: protocol violation: DATA before WELCOME unacked=[] requests=[] last=0"})
	err := rd.Events[0].(*Closed).Err
	var ce *CloseError
	if !rd.Hangup || !errors.Is(err, ErrProtocol) || !errors.As(err, &ce) || ce.Code != proto.CloseProtocolError {
		t.Fatalf("hangup %t err %#v", rd.Hangup, err)
	}
	if st := h.m.Stats(); st.ProtocolErrors != 1 {
		t.Fatalf("ProtocolErrors = %d", st.ProtocolErrors)
	}
}

func TestClientFrameBeforeWelcomeIgnoredInDatagramMode(t *testing.T) {
	h := newCli(t, ClientConfig{LinkConfig: LinkConfig{Mode: Datagram}})
	h.conn = 1
	h.step(Connected{Conn: 1})
	h.expect([]string{"HELLO v=1"}, nil)
	h.recv(&proto.Data{Seq: 1, Payload: []byte("x")})
	h.expect(nil, nil)
	// The HELLO is resent on its own timer until WELCOME arrives.
	h.at(time.Second)
	h.step(Timeout{})
	h.expect([]string{"HELLO v=1"}, nil)
	h.recv(testWelcome(1))
	h.expect([]string{"ACK 0"}, []string{"session-started " + testID(1).String()})
}

func TestClientGarbageIsProtocolError(t *testing.T) {
	h := newCli(t, ClientConfig{})
	h.open(testWelcome(1))
	h.step(Recv{Conn: h.conn, Data: []byte{0xff, 0x00, 0x01}})
	got, rd := h.ready()
	if len(got) != 1 || !strings.HasPrefix(got[0], `CLOSE protocol-error "session: protocol violation: codec: malformed frame at offset 0`) {
		t.Fatalf("frames %q", got)
	}
	c := rd.Events[0].(*Closed)
	var ce *CloseError
	if !rd.Hangup || !errors.Is(c.Err, ErrProtocol) || !errors.As(c.Err, &ce) || ce.Code != proto.CloseProtocolError || ce.Remote {
		t.Fatalf("Closed.Err = %#v, want a local protocol-error CloseError", c.Err)
	}
}

func TestClientOversizedMessageClosesTooLarge(t *testing.T) {
	h := newCli(t, ClientConfig{LinkConfig: LinkConfig{MaxMessageSize: 300}})
	h.open(testWelcome(1))
	big := encode(t, &proto.Data{Seq: 1, Payload: make([]byte, 300)})
	h.step(Recv{Conn: h.conn, Data: big})
	rd := h.expect([]string{fmt.Sprintf(`CLOSE too-large "session: protocol violation: codec: message too large at offset 0: %d bytes, limit 300"`, len(big))},
		[]string{fmt.Sprintf("closed: session: closed by local: too-large: session: protocol violation: codec: message too large at offset 0: %d bytes, limit 300 unacked=[] requests=[] last=0", len(big))})
	if !rd.Hangup {
		t.Fatalf("no hangup")
	}
	if st := h.m.Stats(); st.Delivered != 0 {
		t.Fatalf("an oversized message was delivered")
	}
}

func TestClientPeerCloseEndsSession(t *testing.T) {
	h := newCli(t, ClientConfig{})
	h.open(testWelcome(1))
	h.step(Send{Payload: []byte("a")})
	h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
	h.recv(&proto.Close{Code: proto.ClosePolicy, Reason: "banned"})
	rd := h.expect(nil, []string{"closed: session: closed by peer: policy: banned unacked=[1] requests=[] last=0"})
	var ce *CloseError
	if !rd.Hangup || !errors.As(rd.Events[0].(*Closed).Err, &ce) || !ce.Remote || ce.Code != proto.ClosePolicy || ce.Reason != "banned" {
		t.Fatalf("hangup %t err %#v", rd.Hangup, rd.Events[0].(*Closed).Err)
	}
}

func TestClientIgnoresOtherConnections(t *testing.T) {
	h := newCli(t, ClientConfig{})
	h.open(testWelcome(1))
	h.step(Send{Payload: []byte("a")})
	h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
	h.step(Disconnected{Conn: 1, Err: errEOF})
	_, rd := h.ready()
	eq(t, "events", eventStrings(rd.Events)[:1], []string{"connection-lost: EOF"})

	h.conn = 2
	h.step(Connected{Conn: 2})
	h.expect([]string{"HELLO v=1 resume=" + testID(1).String() + " ack=0 attempt=2"}, nil)
	// Late input of connection 1 cannot touch connection 2.
	h.step(Recv{Conn: 1, Data: encode(t, &proto.Data{Seq: 1, Payload: []byte("stale")})})
	h.step(Recv{Conn: 1, Data: []byte{0xff}})
	h.step(Disconnected{Conn: 1, Err: errEOF})
	h.expect(nil, nil)
	w := testWelcome(1)
	w.Resumed = true
	h.recv(w)
	// The retransmitted DATA carries the ack: no standalone ACK.
	h.expect([]string{`DATA seq=1 ack=0 "a"`}, []string{"resumed " + testID(1).String()})
	h.step(Recv{Conn: 1, Data: encode(t, &proto.Data{Seq: 1, Payload: []byte("stale")})})
	h.step(Disconnected{Conn: 1, Err: errEOF})
	h.expect(nil, nil)
	if !h.m.Established() {
		t.Fatalf("a late input of the old connection ended the new one")
	}
}

func TestClientRejectsServerInputs(t *testing.T) {
	h := newCli(t, ClientConfig{})
	for _, in := range []Input{Join{}, Leave{}, Broadcast{}, Kick{}, Shutdown{}} {
		if err := h.m.Step(h.now, in); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%T: %v, want ErrInvalid", in, err)
		}
	}
	if err := h.m.Step(h.now, JoinRoom{ID: 1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("JoinRoom with an empty room: %v", err)
	}
	h.conn = 1
	h.step(Connected{Conn: 1})
	if err := h.m.Step(h.now, Connected{Conn: 2}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Connected while connected: %v, want ErrInvalid", err)
	}
}

func TestClientClockNeverGoesBackwards(t *testing.T) {
	h := newCli(t, ClientConfig{})
	h.open(testWelcome(1))
	h.at(10 * time.Second)
	h.step(Send{Payload: []byte("a")})
	h.ready()
	h.at(5 * time.Second) // a clock that went back is clamped
	h.step(Timeout{})
	h.at(time.Hour - time.Second)
	h.step(Timeout{})
	h.expect(nil, nil)
	h.at(time.Hour)
	h.step(Timeout{})
	h.expect([]string{"HEARTBEAT ack=0 echo=3600000000"}, nil)
}

// With AckDelay, an acknowledgement waits for a frame that carries it and
// goes out on its own only when the delay is over; the ACK that completes
// the handshake never waits.
func TestDelayedAcks(t *testing.T) {
	link := LinkConfig{AckDelay: 10 * time.Millisecond}
	p := newPump(t, ServerConfig{LinkConfig: link}, ClientConfig{LinkConfig: link}, 1)
	c1 := p.c(1)
	p.handshake(c1)
	eq(t, "handshake", p.takeTrace(), []string{
		"c1 -> s: HELLO v=1",
		"s -> c1: WELCOME id=<c1> hb=30s idle=1m15s resumed=false seq=0 ack=0",
		"c1 -> s: ACK 0",
	})
	p.send(c1, "ping")
	p.stabilize()
	eq(t, "the server holds its ACK", p.takeTrace(), []string{`c1 -> s: DATA seq=1 ack=0 "ping"`})
	if want := p.now.Add(10 * time.Millisecond); !p.sdeadline.Equal(want) {
		t.Fatalf("server deadline %s, want the held ACK's %s", p.sdeadline, want)
	}
	p.sendTo(c1, "pong")
	p.stabilize()
	eq(t, "the server's message carries the ACK", p.takeTrace(), []string{`s -> c1: DATA seq=1 ack=1 "pong"`})
	p.run(9 * time.Millisecond)
	eq(t, "the client still holds its ACK", p.takeTrace(), nil)
	p.run(time.Millisecond)
	eq(t, "then sends it alone", p.takeTrace(), []string{"c1 -> s: ACK 1"})
	p.send(c1, "again")
	p.run(10 * time.Millisecond)
	eq(t, "the server's held ACK goes alone", p.takeTrace(), []string{
		`c1 -> s: DATA seq=2 ack=1 "again"`,
		"s -> c1: ACK 2",
	})
	p.run(30 * time.Second)
	eq(t, "nothing owed: heartbeats only", p.takeTrace(), []string{
		"c1 -> s: HEARTBEAT ack=1 echo=30000000",
		"s -> c1: HEARTBEAT ack=2 echo=30000000",
	})
}

// With AckEvery, the acknowledgement owed goes at once, without waiting
// AckDelay, when that many frames arrived since the last one went out.
func TestAckEvery(t *testing.T) {
	link := LinkConfig{AckDelay: 10 * time.Millisecond, AckEvery: 3}
	p := newPump(t, ServerConfig{LinkConfig: link}, ClientConfig{LinkConfig: link}, 1)
	c1 := p.c(1)
	p.handshake(c1)
	p.takeTrace()
	p.sendTo(c1, "a")
	p.sendTo(c1, "b")
	p.stabilize()
	eq(t, "two frames: the client holds its ACK", p.takeTrace(), []string{
		`s -> c1: DATA seq=1 ack=0 "a"`,
		`s -> c1: DATA seq=2 ack=0 "b"`,
	})
	p.sendTo(c1, "c")
	p.stabilize()
	eq(t, "the third: it goes at once", p.takeTrace(), []string{
		`s -> c1: DATA seq=3 ack=0 "c"`,
		"c1 -> s: ACK 3",
	})
	p.sendTo(c1, "d")
	p.stabilize()
	eq(t, "counted from the last ACK", p.takeTrace(), []string{`s -> c1: DATA seq=4 ack=0 "d"`})
	p.run(10 * time.Millisecond)
	eq(t, "which AckDelay sends", p.takeTrace(), []string{"c1 -> s: ACK 4"})
}

// Each machine knows the message size limit its peer announced, which a
// driver that joins messages must keep within.
func TestPeerMaxMessageSize(t *testing.T) {
	p := newPump(t, ServerConfig{LinkConfig: LinkConfig{MaxMessageSize: 8192}}, ClientConfig{LinkConfig: LinkConfig{MaxMessageSize: 4096}}, 1)
	c1 := p.c(1)
	if got := c1.m.PeerMaxMessageSize(); got != 0 {
		t.Fatalf("before the handshake the client knows a limit of %d", got)
	}
	p.handshake(c1)
	if got := c1.m.PeerMaxMessageSize(); got != 8192 {
		t.Errorf("client: the server accepts %d, want 8192", got)
	}
	if got := p.srv.PeerMaxMessageSize(c1.conn); got != 4096 {
		t.Errorf("server: the client accepts %d, want 4096", got)
	}
	if got := p.srv.PeerMaxMessageSize(c1.conn + 100); got != 0 {
		t.Errorf("server: an unknown connection accepts %d, want 0", got)
	}
}
