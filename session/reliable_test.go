package session

import (
	"errors"
	"testing"
	"time"
	"unsafe"

	"pgregory.net/rapid"

	"github.com/bettersocket/bettersocket/proto"
)

func newTestLink(mode Mode, maxInflight int) (*link, *Stats) {
	cfg := &LinkConfig{Mode: mode, MaxInflight: maxInflight}
	cfg.setDefaults(1 << 20)
	st := &Stats{}
	l := &link{}
	l.init(cfg, st)
	return l, st
}

func TestLinkInOrderDelivery(t *testing.T) {
	l, st := newTestLink(Stream, 8)
	for seq := uint64(1); seq <= 3; seq++ {
		if got := l.accept(seq); got != acceptDeliver {
			t.Fatalf("accept(%d) = %d, want deliver", seq, got)
		}
		if l.recvAck != seq || l.ackValue() != seq {
			t.Fatalf("after %d: recvAck %d ackValue %d", seq, l.recvAck, l.ackValue())
		}
	}
	if st.DuplicatesDropped != 0 {
		t.Fatalf("DuplicatesDropped = %d", st.DuplicatesDropped)
	}
}

func TestLinkDuplicateDroppedAndReacked(t *testing.T) {
	l, st := newTestLink(Stream, 8)
	l.accept(1)
	l.accept(2)
	l.ackDue = false // as after a Ready that carried the ack
	for _, seq := range []uint64{1, 2} {
		if got := l.accept(seq); got != acceptDup {
			t.Fatalf("accept(%d) again = %d, want dup", seq, got)
		}
		if !l.ackDue {
			t.Fatalf("a duplicate must make an ack due (the peer missed ours)")
		}
	}
	if st.DuplicatesDropped != 2 || l.recvAck != 2 {
		t.Fatalf("DuplicatesDropped %d recvAck %d, want 2 2", st.DuplicatesDropped, l.recvAck)
	}
}

func TestLinkReorderHoldAndDrain(t *testing.T) {
	l, st := newTestLink(Datagram, 8)
	for _, seq := range []uint64{4, 2} {
		if got := l.accept(seq); got != acceptHold {
			t.Fatalf("accept(%d) = %d, want hold", seq, got)
		}
		l.hold(inFrame{seq: seq, typ: proto.TypeData, payload: []byte{byte(seq)}})
	}
	if got := l.accept(4); got != acceptDup {
		t.Fatalf("a held seq again = %d, want dup", got)
	}
	if _, ok := l.popHeld(); ok {
		t.Fatalf("popHeld before the gap is filled")
	}
	if got := l.accept(1); got != acceptDeliver || l.recvAck != 1 {
		t.Fatalf("accept(1) = %d recvAck %d", got, l.recvAck)
	}
	f, ok := l.popHeld()
	if !ok || f.seq != 2 || f.payload[0] != 2 || l.recvAck != 2 {
		t.Fatalf("popHeld = %+v %t, recvAck %d; want seq 2", f, ok, l.recvAck)
	}
	if _, ok := l.popHeld(); ok {
		t.Fatalf("popHeld returned 4 while 3 is missing")
	}
	if got := l.accept(3); got != acceptDeliver {
		t.Fatalf("accept(3) = %d", got)
	}
	f, ok = l.popHeld()
	if !ok || f.seq != 4 || l.recvAck != 4 || len(l.held) != 0 {
		t.Fatalf("popHeld = %+v %t recvAck %d held %d; want seq 4, empty", f, ok, l.recvAck, len(l.held))
	}
	if st.DuplicatesDropped != 1 {
		t.Fatalf("DuplicatesDropped = %d, want 1", st.DuplicatesDropped)
	}
}

func TestLinkStreamGapIsOverflow(t *testing.T) {
	l, _ := newTestLink(Stream, 4)
	if got := l.accept(2); got != acceptOverflow {
		t.Fatalf("accept(2) after 0 in Stream mode = %d, want overflow (a stream cannot lose frames)", got)
	}
	if err := l.overflow(2); err.Error() != "session: protocol violation: seq 2 after 0: a gap in a stream transport" {
		t.Fatalf("overflow(2) = %q", err)
	}
}

func TestLinkDatagramHeldBytesBounded(t *testing.T) {
	l, st := newTestLink(Datagram, 8)
	l.cfg.MaxUnackedBytes = 10
	for _, seq := range []uint64{2, 3} { // in this order: a map would shuffle it
		if got := l.accept(seq); got != acceptHold {
			t.Fatalf("accept(%d) = %d, want hold", seq, got)
		}
		l.hold(inFrame{seq: seq, typ: proto.TypeData, payload: make([]byte, 6)})
	}
	// The first early frame is always held; the second would exceed the
	// 10-byte budget and is dropped as if lost.
	if len(l.held) != 1 || l.heldBytes != 6 || st.ReorderDropped != 1 {
		t.Fatalf("held %d (%d bytes), ReorderDropped %d; want 1 (6 bytes), 1", len(l.held), l.heldBytes, st.ReorderDropped)
	}
	l.accept(1)
	f, ok := l.popHeld()
	if !ok || l.heldBytes != 0 || l.recvAck != f.seq {
		t.Fatalf("popHeld = %+v %t, heldBytes %d, recvAck %d", f, ok, l.heldBytes, l.recvAck)
	}
}

func TestLinkOverflowBeyondWindow(t *testing.T) {
	l, _ := newTestLink(Datagram, 4)
	if got := l.accept(5); got != acceptOverflow {
		t.Fatalf("accept(5) with window 4 after 0 = %d, want overflow", got)
	}
	if got := l.accept(4); got != acceptHold {
		t.Fatalf("accept(4) = %d, want hold", got)
	}
	l.accept(1)
	if got := l.accept(5); got != acceptHold {
		t.Fatalf("accept(5) after 1 = %d, want hold", got)
	}
	if got := l.accept(6); got != acceptOverflow {
		t.Fatalf("accept(6) after 1 = %d, want overflow", got)
	}
}

func TestLinkAckBeyondSentIsProtocolError(t *testing.T) {
	l, _ := newTestLink(Stream, 8)
	l.push(&outFrame{typ: proto.TypeData, payload: []byte("ab")})
	l.push(&outFrame{typ: proto.TypeData, payload: []byte("cde")})
	err := l.ack(3, t0)
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("ack 3 with 2 sent: %v, want ErrProtocol", err)
	}
	if want := "session: protocol violation: ack 3 beyond last sent seq 2"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if l.unacked() != 2 || l.bufBytes != 5 {
		t.Fatalf("a refused ack changed the buffer: unacked %d bytes %d", l.unacked(), l.bufBytes)
	}
	must(t, l.ack(1, t0))
	if l.unacked() != 1 || l.bufBytes != 3 || l.peerAck != 1 {
		t.Fatalf("after ack 1: unacked %d bytes %d peerAck %d", l.unacked(), l.bufBytes, l.peerAck)
	}
	must(t, l.ack(0, t0)) // an old ack is harmless
	must(t, l.ack(2, t0))
	if l.unacked() != 0 || l.bufBytes != 0 || l.peerAck != 2 {
		t.Fatalf("after ack 2: unacked %d bytes %d peerAck %d", l.unacked(), l.bufBytes, l.peerAck)
	}
}

func TestLinkSendWindow(t *testing.T) {
	cfg := &LinkConfig{MaxInflight: 3, MaxUnackedBytes: 10}
	cfg.setDefaults(1 << 20)
	l := &link{}
	l.init(cfg, &Stats{})
	// The first frame always fits, whatever its size: a message larger than
	// the byte budget must not be stuck forever.
	must(t, l.canPush(20))
	l.push(&outFrame{typ: proto.TypeData, payload: make([]byte, 20)})
	if err := l.canPush(1); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("canPush over the byte budget: %v", err)
	}
	must(t, l.ack(1, t0))
	for range 3 {
		must(t, l.canPush(3))
		l.push(&outFrame{typ: proto.TypeData, payload: make([]byte, 3)})
	}
	if err := l.canPush(0); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("canPush with 3 of 3 frames inflight: %v", err)
	}
}

// TestRTTEstimatorRFC6298 checks the SRTT/RTTVAR arithmetic of RFC 6298
// section 2 with exact numbers.
func TestRTTEstimatorRFC6298(t *testing.T) {
	l, _ := newTestLink(Datagram, 8)
	ms := time.Millisecond
	if got := l.rto(); got != time.Second {
		t.Fatalf("rto before any sample = %s, want InitialRTO 1s", got)
	}
	steps := []struct {
		sample, srtt, rttvar, rto time.Duration
	}{
		// (2.2) first sample R: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4·RTTVAR.
		{100 * ms, 100 * ms, 50 * ms, 300 * ms},
		// (2.3) RTTVAR = 3/4·RTTVAR + 1/4·|SRTT − R'| with the old SRTT,
		// then SRTT = 7/8·SRTT + 1/8·R'.
		{200 * ms, 112500 * time.Microsecond, 62500 * time.Microsecond, 362500 * time.Microsecond},
		{50 * ms, 104687500 * time.Nanosecond, 62500 * time.Microsecond, 354687500 * time.Nanosecond},
	}
	for i, s := range steps {
		l.sample(s.sample)
		if l.srtt != s.srtt || l.rttvar != s.rttvar || l.rto() != s.rto {
			t.Fatalf("step %d (R=%s): srtt %s rttvar %s rto %s; want %s %s %s",
				i, s.sample, l.srtt, l.rttvar, l.rto(), s.srtt, s.rttvar, s.rto)
		}
	}
}

func TestRTOClampedToMinimum(t *testing.T) {
	l, _ := newTestLink(Datagram, 8)
	l.sample(time.Millisecond) // SRTT 1ms, RTTVAR 0.5ms: RTO 3ms
	if got := l.rto(); got != DefaultMinRTO {
		t.Fatalf("rto = %s, want MinRTO %s", got, DefaultMinRTO)
	}
}

func TestRTOBackoffDoublesAndCaps(t *testing.T) {
	l, _ := newTestLink(Datagram, 8)
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i, w := range want {
		l.backoff = uint(i)
		if got := l.rto(); got != w*time.Second {
			t.Fatalf("backoff %d: rto %s, want %s", i, got, w*time.Second)
		}
	}
	l.backoff = 1000 // no overflow however long the outage
	if got := l.rto(); got != DefaultMaxRTO {
		t.Fatalf("backoff 1000: rto %s, want %s", got, DefaultMaxRTO)
	}
}

// datagramClient is an established Datagram-mode client with a one-hour
// heartbeat, so only retransmissions show.
func datagramClient(t *testing.T, mode Mode, maxRTO time.Duration) *cli {
	h := newCli(t, ClientConfig{LinkConfig: LinkConfig{Mode: mode, MaxRTO: maxRTO}})
	h.open(testWelcome(1))
	return h
}

func TestClientRetransmitsOnRTOWithBackoff(t *testing.T) {
	h := datagramClient(t, Datagram, 8*time.Second)
	h.step(Send{Payload: []byte("a")})
	rd := h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
	if want := t0.Add(time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want %s", rd.Deadline, want)
	}
	// Retransmissions at 1, 3, 7, 15 s (doubling from InitialRTO 1 s), then
	// every 8 s (MaxRTO).
	for _, at := range []time.Duration{1, 3, 7, 15, 23, 31} {
		h.at(at*time.Second - time.Nanosecond)
		h.step(Timeout{})
		h.expect(nil, nil) // early: nothing
		h.at(at * time.Second)
		h.step(Timeout{})
		rd := h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
		next := map[time.Duration]time.Duration{1: 3, 3: 7, 7: 15, 15: 23, 23: 31, 31: 39}[at]
		if want := t0.Add(next * time.Second); !rd.Deadline.Equal(want) {
			t.Fatalf("after the retransmission at %ds: deadline %s, want %s", at, rd.Deadline, want)
		}
	}
	if st := h.m.Stats(); st.Retransmits != 6 {
		t.Fatalf("Retransmits = %d, want 6", st.Retransmits)
	}
	// Karn: the ack of a retransmitted frame gives no RTT sample, and the
	// ack resets the backoff: the next frame waits InitialRTO again.
	h.at(32 * time.Second)
	h.recv(&proto.Ack{Ack: 1})
	h.step(Send{Payload: []byte("b")})
	rd = h.expect([]string{`DATA seq=2 ack=0 "b"`}, nil)
	if h.m.link.haveRTT {
		t.Fatalf("RTT sampled from a retransmitted frame (Karn's rule)")
	}
	if want := t0.Add(33 * time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline after ack %s, want %s", rd.Deadline, want)
	}
}

func TestClientRTTSampleFromFreshAck(t *testing.T) {
	h := datagramClient(t, Datagram, 0)
	h.step(Send{Payload: []byte("a")})
	h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
	h.at(50 * time.Millisecond)
	h.recv(&proto.Ack{Ack: 1})
	if !h.m.link.haveRTT || h.m.link.srtt != 50*time.Millisecond || h.m.link.rttvar != 25*time.Millisecond {
		t.Fatalf("srtt %s rttvar %s, want 50ms 25ms", h.m.link.srtt, h.m.link.rttvar)
	}
	h.at(100 * time.Millisecond)
	h.step(Send{Payload: []byte("b")})
	rd := h.expect([]string{`DATA seq=2 ack=0 "b"`}, nil)
	// RTO = max(MinRTO 200ms, 50ms + 4·25ms).
	if want := t0.Add(300 * time.Millisecond); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want %s", rd.Deadline, want)
	}
}

func TestClientRTTFromHeartbeatEcho(t *testing.T) {
	h := newCli(t, ClientConfig{LinkConfig: LinkConfig{Mode: Datagram, MinRTO: time.Millisecond}})
	w := testWelcome(1)
	w.Heartbeat = 10 * time.Second
	h.open(w)
	h.at(10 * time.Second)
	h.step(Timeout{})
	h.expect([]string{"HEARTBEAT ack=0 echo=10000000"}, nil)
	h.at(10*time.Second + 80*time.Millisecond)
	h.recv(&proto.Heartbeat{Ack: 0, Echo: 10_000_000})
	h.step(Send{Payload: []byte("a")})
	rd := h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
	// SRTT 80ms, RTTVAR 40ms: RTO 240ms.
	if want := h.now.Add(240 * time.Millisecond); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want %s", rd.Deadline, want)
	}
}

// In Datagram mode a heartbeat that shows the peer is behind resends what
// was sent long enough ago to have been acknowledged (half the initial RTO
// before any RTT sample), before the RTO fires.
func TestDatagramHeartbeatGapResends(t *testing.T) {
	h := datagramClient(t, Datagram, 0)
	h.step(Send{Payload: []byte("a")})
	h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
	h.at(400 * time.Millisecond)
	h.recv(&proto.Heartbeat{Ack: 0})
	h.expect(nil, nil) // too recent to be missing
	h.at(600 * time.Millisecond)
	h.recv(&proto.Heartbeat{Ack: 0})
	h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
	if st := h.m.Stats(); st.Retransmits != 1 {
		t.Fatalf("Retransmits = %d, want 1", st.Retransmits)
	}
	h.recv(&proto.Heartbeat{Ack: 1})
	h.expect(nil, nil)
	if h.m.link.unacked() != 0 {
		t.Fatalf("unacked = %d after the heartbeat's ack", h.m.link.unacked())
	}
}

// In Stream mode nothing is retransmitted within a connection: neither a
// heartbeat showing the peer behind nor time passing resends.
func TestStreamNoRetransmissionWithinConnection(t *testing.T) {
	h := datagramClient(t, Stream, 0)
	h.step(Send{Payload: []byte("a")})
	rd := h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
	if want := t0.Add(time.Hour); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want the heartbeat at %s (no RTO in Stream mode)", rd.Deadline, want)
	}
	for _, at := range []time.Duration{time.Second, time.Minute, 30 * time.Minute} {
		h.at(at)
		h.recv(&proto.Heartbeat{Ack: 0})
		h.step(Timeout{})
		h.expect(nil, nil)
	}
	if st := h.m.Stats(); st.Retransmits != 0 {
		t.Fatalf("Retransmits = %d, want 0", st.Retransmits)
	}
}

func TestServerRetransmitsOnRTOWithBackoff(t *testing.T) {
	h := newSrv(t, ServerConfig{LinkConfig: LinkConfig{Mode: Datagram, MaxRTO: 4 * time.Second}})
	w := h.accept(1)
	h.step(Send{To: w.ID, Payload: []byte("x")})
	rd := h.expect([]string{`1: DATA seq=1 ack=0 "x"`}, nil, nil)
	if want := t0.Add(time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want %s", rd.Deadline, want)
	}
	for _, at := range []time.Duration{1, 3, 7, 11} {
		h.at(at*time.Second - time.Nanosecond)
		h.step(Timeout{})
		h.expect(nil, nil, nil)
		h.at(at * time.Second)
		h.step(Timeout{})
		h.expect([]string{`1: DATA seq=1 ack=0 "x"`}, nil, nil)
	}
	h.at(12 * time.Second)
	h.recv(1, &proto.Ack{Ack: 1})
	rd = h.expect(nil, nil, nil)
	// The timer heap is not re-sorted when a deadline moves later: the
	// stale RTO entry fires, finds nothing due and re-arms exactly at the
	// idle timeout, 75 s after the last frame received.
	if want := t0.Add(15 * time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want the stale %s", rd.Deadline, want)
	}
	h.at(15 * time.Second)
	h.step(Timeout{})
	rd = h.expect(nil, nil, nil)
	if want := t0.Add(12*time.Second + 75*time.Second); !rd.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want %s", rd.Deadline, want)
	}
	if st := h.s.Stats(); st.Retransmits != 4 {
		t.Fatalf("Retransmits = %d, want 4", st.Retransmits)
	}
}

func TestServerHeartbeatGapResendsInDatagramMode(t *testing.T) {
	h := newSrv(t, ServerConfig{LinkConfig: LinkConfig{Mode: Datagram}})
	w := h.accept(1)
	h.step(Send{To: w.ID, Payload: []byte("x")})
	h.expect([]string{`1: DATA seq=1 ack=0 "x"`}, nil, nil)
	h.at(600 * time.Millisecond)
	h.recv(1, &proto.Heartbeat{Ack: 0, Echo: 7})
	h.expect([]string{`1: DATA seq=1 ack=0 "x"`, "1: HEARTBEAT ack=0 echo=7"}, nil, nil)
}

func TestServerDuplicateDroppedAndReacked(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	h.accept(1)
	d := &proto.Data{Seq: 1, Ack: 0, Payload: []byte("a")}
	h.recv(1, d)
	h.expect([]string{"1: ACK 1"}, nil, []string{`delivered seq=1 "a"`})
	h.recv(1, d)
	h.expect([]string{"1: ACK 1"}, nil, nil)
	if st := h.s.Stats(); st.DuplicatesDropped != 1 || st.Delivered != 1 {
		t.Fatalf("DuplicatesDropped %d Delivered %d, want 1 1", st.DuplicatesDropped, st.Delivered)
	}
}

func TestServerReorderHoldsAndDrains(t *testing.T) {
	h := newSrv(t, ServerConfig{LinkConfig: LinkConfig{Mode: Datagram}})
	h.accept(1)
	h.recv(1, &proto.Data{Seq: 3, Payload: []byte("c")})
	h.recv(1, &proto.Data{Seq: 2, Payload: []byte("b")})
	h.expect([]string{"1: ACK 0"}, nil, nil)
	h.recv(1, &proto.Data{Seq: 1, Payload: []byte("a")})
	h.expect([]string{"1: ACK 3"}, nil,
		[]string{`delivered seq=1 "a"`, `delivered seq=2 "b"`, `delivered seq=3 "c"`})
}

func TestServerOverflowClosesWithProtocolError(t *testing.T) {
	h := newSrv(t, ServerConfig{LinkConfig: LinkConfig{Mode: Datagram, MaxInflight: 4}})
	w := h.accept(1)
	h.recv(1, &proto.Data{Seq: 5, Payload: []byte("e")})
	rd := h.expect(
		[]string{`1: CLOSE protocol-error "session: protocol violation: seq 5 beyond the window of 4 after 0"`},
		[]ConnID{1},
		[]string{"session-closed " + w.ID.String() + ": session: closed by local: protocol-error: session: protocol violation: seq 5 beyond the window of 4 after 0 unacked=[] requests=[] last=0"})
	sc := rd.Events[0].(*SessionClosed)
	if !errors.Is(sc.Err, ErrProtocol) {
		t.Fatalf("SessionClosed.Err %v is not ErrProtocol", sc.Err)
	}
	if st := h.s.Stats(); st.ProtocolErrors != 1 || st.Sessions != 0 {
		t.Fatalf("ProtocolErrors %d Sessions %d, want 1 0", st.ProtocolErrors, st.Sessions)
	}
}

func TestAckBeyondSentClosesClient(t *testing.T) {
	h := newCli(t, ClientConfig{})
	h.open(testWelcome(1))
	h.step(Send{Payload: []byte("a")})
	h.expect([]string{`DATA seq=1 ack=0 "a"`}, nil)
	h.recv(&proto.Ack{Ack: 2})
	rd := h.expect(
		[]string{`CLOSE protocol-error "session: protocol violation: ack 2 beyond last sent seq 1"`},
		[]string{"closed: session: closed by local: protocol-error: session: protocol violation: ack 2 beyond last sent seq 1 unacked=[1] requests=[] last=0"})
	if !rd.Hangup {
		t.Fatalf("no hangup after a protocol error")
	}
	var ce *CloseError
	if !errors.As(rd.Events[0].(*Closed).Err, &ce) || ce.Code != proto.CloseProtocolError || ce.Remote {
		t.Fatalf("Closed.Err = %#v, want a local protocol-error CloseError", rd.Events[0].(*Closed).Err)
	}
}

// After a resume the first ack covers frames sent on the previous
// connection: the time since then includes the outage and is no round-trip
// time. It must not feed the estimator.
func TestResumeAckGivesNoRTTSample(t *testing.T) {
	l, _ := newTestLink(Datagram, 8)
	l.sample(100 * time.Millisecond)
	var w writer
	w.begin(1<<20, func([]byte) {})
	l.push(&outFrame{typ: proto.TypeData, payload: []byte("a")})
	l.push(&outFrame{typ: proto.TypeData, payload: []byte("b")})
	l.flush(&w, t0)
	l.detach()
	must(t, l.resume(1, t0.Add(time.Minute)))
	if l.srtt != 100*time.Millisecond || l.rttvar != 50*time.Millisecond {
		t.Fatalf("resume sampled the outage: srtt %s rttvar %s, want 100ms 50ms", l.srtt, l.rttvar)
	}
	if l.txNext != 2 || l.peerAck != 1 || l.unacked() != 1 {
		t.Fatalf("txNext %d peerAck %d unacked %d, want 2 1 1", l.txNext, l.peerAck, l.unacked())
	}
}

// A batch is cut into transport messages within the peer's size limit,
// frames in order, each message as full as the limit allows.
func TestWriterSplitsAtPeerMessageLimit(t *testing.T) {
	h := newCli(t, ClientConfig{})
	w := testWelcome(1)
	w.Limits.MaxMessageSize = 300
	h.open(w)
	for i := range 5 {
		p := make([]byte, 100)
		p[0] = byte('a' + i)
		h.step(Send{Payload: p})
	}
	_, rd := h.ready()
	var sizes, counts []int
	var seqs []uint64
	for _, m := range rd.Transmit {
		sizes = append(sizes, len(m))
		fs := decodeAll(t, m)
		counts = append(counts, len(fs))
		for _, f := range fs {
			d := f.(*proto.Data)
			if d.Payload[0] != byte('a'+d.Seq-1) {
				t.Fatalf("seq %d carries payload %q", d.Seq, d.Payload[0])
			}
			seqs = append(seqs, d.Seq)
		}
	}
	eq(t, "frames per message", counts, []int{2, 2, 1})
	eq(t, "seqs", seqs, []uint64{1, 2, 3, 4, 5})
	for _, n := range sizes {
		if n > 300 {
			t.Fatalf("message sizes %v exceed the peer's 300", sizes)
		}
	}
}

// The sender never has more frames in flight than the receiver announced;
// the rest waits in the send buffer for acks.
func TestFlushRespectsPeerWindow(t *testing.T) {
	h := newSrv(t, ServerConfig{})
	h.step(Connected{Conn: 1})
	h.recv(1, &proto.Hello{Version: proto.Version, Limits: proto.Limits{MaxInflight: 2}})
	_, rd := h.ready()
	id := rd.Events[0].(*SessionStarted).Client
	h.recv(1, &proto.Ack{Ack: 0})
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		h.step(Send{To: id, Payload: []byte(p)})
	}
	h.expect([]string{`1: DATA seq=1 ack=0 "a"`, `1: DATA seq=2 ack=0 "b"`}, nil, nil)
	h.recv(1, &proto.Ack{Ack: 1})
	h.expect([]string{`1: DATA seq=3 ack=0 "c"`}, nil, nil)
	h.recv(1, &proto.Ack{Ack: 3})
	h.expect([]string{`1: DATA seq=4 ack=0 "d"`, `1: DATA seq=5 ack=0 "e"`}, nil, nil)
}

// In Datagram mode a HELLO repeated before the client confirmed the
// WELCOME gets the same WELCOME again, at most once per MinRTO (a flood of
// duplicates must not be amplified); once confirmed, repeats are ignored.
func TestDatagramServerRepeatsWelcomeForRepeatedHello(t *testing.T) {
	h := newSrv(t, ServerConfig{LinkConfig: LinkConfig{Mode: Datagram}})
	h.step(Connected{Conn: 1})
	hello := &proto.Hello{Version: proto.Version}
	h.recv(1, hello)
	first, rd := h.ready()
	if len(first) != 1 || len(rd.Events) != 1 {
		t.Fatalf("frames %q events %q", first, eventStrings(rd.Events))
	}
	tok := decodeAll(t, rd.Transmit[0].Data)[0].(*proto.Welcome).Token
	h.at(DefaultMinRTO - time.Millisecond)
	h.recv(1, hello)
	h.expect(nil, nil, nil) // too soon after the first WELCOME
	h.at(DefaultMinRTO)
	h.recv(1, hello)
	again, rd := h.ready()
	eq(t, "repeated WELCOME", again, first)
	if tok2 := decodeAll(t, rd.Transmit[0].Data)[0].(*proto.Welcome).Token; string(tok2) != string(tok) {
		t.Fatalf("the repeated WELCOME carries another token")
	}
	eq(t, "no new session", eventStrings(rd.Events), nil)
	h.recv(1, &proto.Ack{Ack: 0})
	h.recv(1, hello)
	h.expect(nil, nil, nil)
	if st := h.s.Stats(); st.Sessions != 1 || st.SessionsStarted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// The send queue holds what a slice would, whatever the pushes and drops,
// and an emptied queue keeps a few chunks for the next frames, not more.
func TestSendQueueIsAQueue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var q sendQueue
		var model []uint64
		seq := uint64(0)
		t.Repeat(map[string]func(*rapid.T){
			"push": func(t *rapid.T) {
				for range rapid.IntRange(1, 40).Draw(t, "frames") {
					seq++
					q.push(&outFrame{id: seq})
					model = append(model, seq)
				}
			},
			"drop": func(t *rapid.T) {
				if len(model) == 0 {
					t.Skip()
				}
				n := rapid.IntRange(1, len(model)).Draw(t, "n")
				q.drop(n)
				model = model[n:]
				if len(model) == 0 && (len(q.chunks) != 1 || len(q.chunks)+len(q.spare) > keepChunks || cap(q.chunks) > keepChunks || cap(q.spare) > keepChunks) {
					t.Fatalf("an empty queue keeps %d chunks and %d spares (capacities %d, %d)", len(q.chunks), len(q.spare), cap(q.chunks), cap(q.spare))
				}
			},
			"": func(t *rapid.T) {
				if q.n != len(model) {
					t.Fatalf("%d frames queued, want %d", q.n, len(model))
				}
				for i, s := range model {
					if got := q.at(i).id; got != s {
						t.Fatalf("frame %d is seq %d, want %d", i, got, s)
					}
				}
			},
		})
	})
}

// A broadcast puts an outFrame in every member's send buffer, up to its
// window each: the frame stays small (see outFrame).
func TestOutFrameStaysSmall(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the size is for 64-bit platforms")
	}
	if got := unsafe.Sizeof(outFrame{}); got > 56 {
		t.Errorf("outFrame is %d bytes, want at most 56", got)
	}
}
