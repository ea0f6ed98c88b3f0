package session

import (
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// This file is the per-session reliability core shared by Client and Server:
// sequence numbers, cumulative and piggybacked acks, the unacknowledged send
// buffer, the bounded reorder buffer, duplicate suppression, RTT/RTO and
// retransmission. It is written once; the machines own a link per session and
// feed it what arrives.
//
// Send side. Every reliable frame takes the next sequence number and stays in
// buf until the peer's cumulative ack covers it, so buf always holds exactly
// the sequence numbers peerAck+1 .. nextSeq-1. On the current connection the
// frames below txNext have been transmitted; flush transmits the rest, never
// more than the peer's announced window beyond peerAck. In Datagram mode the
// frames up to retxTo are due again (RTO expiry, or a heartbeat showing the
// peer is behind). A new connection starts from the peer's reported ack.
//
// Receive side. recvAck is the highest sequence number up to which
// everything arrived. The next one is delivered; older ones are duplicates,
// dropped but re-acknowledged (the peer missed our ack); newer ones within
// the window are held until the gap fills; beyond the window is a protocol
// violation. Every reliable frame and heartbeat carries recvAck; a standalone
// ACK goes out only when nothing else in the same batch carries it.

// outFrame is one reliable frame in the send buffer. A broadcast puts one
// in every member's buffer, so it is kept small and with few pointers (56
// bytes, 2 pointers): its sequence number is its position in the buffer
// (peerAck+1+i); its room, name and error are in a frameText that a
// broadcast's copies share and most other frames do without; and when it
// was last sent is an offset from the link's epoch rather than a
// time.Time, which would add 16 bytes and a pointer.
type outFrame struct {
	payload []byte
	text    *frameText // nil: no room, name or error
	id      uint64
	sentAt  time.Duration // since link.epoch; meaningful when sent
	typ     proto.FrameType
	sent    bool // transmitted at least once, on this connection or an earlier one
	retx    bool // retransmitted at least once: no RTT sample (Karn)
}

// frameText is what an outFrame carries besides its payload; never changed
// once made, so that frames may share it.
type frameText struct {
	room string
	name string
	err  *proto.Error
}

// newOutFrame returns a frame of type typ, with a frameText only when it
// has a room, a name or an error.
func newOutFrame(typ proto.FrameType, id uint64, payload []byte, room, name string, err *proto.Error) outFrame {
	f := outFrame{typ: typ, id: id, payload: payload}
	if room != "" || name != "" || err != nil {
		f.text = &frameText{room: room, name: name, err: err}
	}
	return f
}

func (f *outFrame) room() string {
	if f.text == nil {
		return ""
	}
	return f.text.room
}

func (f *outFrame) name() string {
	if f.text == nil {
		return ""
	}
	return f.text.name
}

func (f *outFrame) err() *proto.Error {
	if f.text == nil {
		return nil
	}
	return f.text.err
}

// size is what the frame costs against the byte window: its variable-length
// fields.
func (f *outFrame) size() int {
	n := len(f.payload)
	if t := f.text; t != nil {
		n += len(t.room) + len(t.name)
		if t.err != nil {
			n += len(t.err.Message)
		}
	}
	return n
}

func (f *inFrame) size() int { return len(f.payload) + len(f.room) + len(f.name) }

// inFrame is a received reliable frame, held for in-order delivery.
type inFrame struct {
	seq     uint64
	typ     proto.FrameType
	id      uint64
	payload []byte
	room    string
	name    string
	err     *proto.Error
}

type acceptResult uint8

const (
	acceptDeliver  acceptResult = iota // deliver now, then drain held frames
	acceptDup                          // already received: drop
	acceptHold                         // ahead of a gap: hold it
	acceptOverflow                     // beyond the window, or a gap in a stream: protocol violation
)

type link struct {
	cfg   *LinkConfig
	stats *Stats

	// send side
	nextSeq      uint64
	buf          sendQueue // buf.at(0) has seq peerAck+1
	bufBytes     int
	peerAck      uint64
	txNext       uint64
	retxTo       uint64
	peerInflight int // announced by the peer; 0 until known

	// receive side
	recvAck   uint64
	held      map[uint64]inFrame
	heldBytes int
	ackDue    bool      // an acknowledgement is owed to the peer
	ackAt     time.Time // when a held one must go (AckDelay); zero: not held
	ackSend   bool      // it goes with the next Ready, held or not
	ackSent   uint64    // the recvAck that last went out

	// timing
	epoch        time.Time // origin of outFrame.sentAt: the first transmission's time
	haveEpoch    bool
	srtt, rttvar time.Duration
	haveRTT      bool
	backoff      uint
	rtoAt        time.Time
	lastRecvAt   time.Time
}

func (l *link) init(cfg *LinkConfig, stats *Stats) {
	*l = link{cfg: cfg, stats: stats, nextSeq: 1, txNext: 1}
}

func (l *link) unacked() int { return l.buf.n }

// frame returns the buffered frame with sequence number seq.
func (l *link) frame(seq uint64) *outFrame { return l.buf.at(int(seq - l.peerAck - 1)) }

// sendQueue is the send buffer's frames, oldest first, in chunks of
// chunkLen frames. It grows without moving a frame (a slice grown by
// append would copy them all at each doubling: a broadcast fills every
// member's buffer at once), and drops acknowledged chunks whole; they are
// reused for the frames that follow while some remain unacknowledged. An
// empty queue keeps up to keepChunks of them (256 frames, 30 KiB), so that
// traffic that comes and goes (requests and responses, small batches,
// the simulator's) does not allocate them again each time, but not what a
// burst grew it to, as a slice would keep its whole capacity. A new
// queue's first chunk starts small: most sessions have few frames in
// flight.
type sendQueue struct {
	chunks [][]outFrame // chunks[0][head] is the oldest frame; all but the last are full
	head   int
	n      int
	spare  [][]outFrame
}

const (
	chunkLen   = 16
	keepChunks = 16
)

// at returns the i-th oldest frame.
func (q *sendQueue) at(i int) *outFrame {
	i += q.head
	return &q.chunks[i/chunkLen][i%chunkLen]
}

func (q *sendQueue) push(f *outFrame) {
	k := len(q.chunks) - 1
	if k < 0 || len(q.chunks[k]) == chunkLen {
		var c []outFrame
		switch s := len(q.spare) - 1; {
		case s >= 0:
			c, q.spare[s] = q.spare[s], nil
			q.spare = q.spare[:s]
		case k >= 0:
			c = make([]outFrame, 0, chunkLen)
		} // else a new queue's first chunk, which append grows: most sessions have few frames in flight
		q.chunks = append(q.chunks, c)
		k++
	}
	q.chunks[k] = append(q.chunks[k], *f)
	q.n++
}

// drop removes the n oldest frames and returns their size.
func (q *sendQueue) drop(n int) (size int) {
	q.n -= n
	for n > 0 {
		c := q.chunks[0]
		k := min(n, len(c)-q.head)
		for i := range c[q.head : q.head+k] {
			size += c[q.head+i].size()
		}
		clear(c[q.head : q.head+k])
		q.head += k
		n -= k
		if q.head == chunkLen && len(q.chunks) > 1 {
			q.spare = append(q.spare, c[:0])
			q.chunks[0] = nil
			q.chunks = q.chunks[1:]
			q.head = 0
		}
	}
	if q.n == 0 { // only the last chunk is left
		q.chunks[0], q.head = q.chunks[0][:0], 0
		if len(q.spare) > keepChunks-1 {
			clear(q.spare[keepChunks-1:])
			q.spare = q.spare[:keepChunks-1]
		}
		if cap(q.chunks) > keepChunks || cap(q.spare) > keepChunks { // a burst's
			q.chunks = append([][]outFrame(nil), q.chunks[0])
			q.spare = append([][]outFrame(nil), q.spare...)
		}
	}
	return size
}

// canPush reports whether a frame of size payload bytes fits the window.
func (l *link) canPush(size int) error {
	if l.unacked() >= l.cfg.MaxInflight {
		return ErrBackpressure
	}
	if l.unacked() > 0 && l.bufBytes+size > l.cfg.MaxUnackedBytes {
		return ErrBackpressure
	}
	return nil
}

// push appends a copy of f to the send buffer and returns its sequence
// number.
func (l *link) push(f *outFrame) uint64 {
	seq := l.nextSeq
	l.nextSeq++
	l.bufBytes += f.size()
	l.buf.push(f)
	return seq
}

// stamp records that f is transmitted at now.
func (l *link) stamp(f *outFrame, now time.Time) {
	if !l.haveEpoch {
		l.epoch, l.haveEpoch = now, true
	}
	f.sentAt, f.sent = now.Sub(l.epoch), true
}

// ack processes the peer's cumulative ack. It fails when the peer
// acknowledges what was never sent.
func (l *link) ack(a uint64, now time.Time) error {
	if a >= l.nextSeq {
		return protocolErr("ack %d beyond last sent seq %d", a, l.nextSeq-1)
	}
	if a <= l.peerAck {
		return nil
	}
	if a < l.txNext {
		if last := l.frame(a); !last.retx {
			l.sample(now.Sub(l.epoch) - last.sentAt)
		}
	} else {
		// Acknowledged before it was transmitted on this connection: it
		// arrived on an earlier one.
		l.txNext = a + 1
	}
	l.bufBytes -= l.buf.drop(int(a - l.peerAck))
	l.peerAck = a
	l.backoff = 0
	l.rtoAt = time.Time{}
	if l.cfg.Mode == Datagram && l.txNext > l.peerAck+1 {
		l.rtoAt = now.Add(l.rto())
	}
	return nil
}

// sample feeds one round-trip measurement to the RFC 6298 estimator.
func (l *link) sample(r time.Duration) {
	if r < 0 {
		r = 0
	}
	if !l.haveRTT {
		l.srtt, l.rttvar, l.haveRTT = r, r/2, true
		return
	}
	d := l.srtt - r
	if d < 0 {
		d = -d
	}
	l.rttvar = (3*l.rttvar + d) / 4
	l.srtt = (7*l.srtt + r) / 8
}

// rto is the current retransmission timeout including backoff.
func (l *link) rto() time.Duration {
	r := l.cfg.InitialRTO
	if l.haveRTT {
		r = l.srtt + max(time.Millisecond, 4*l.rttvar)
	}
	r = max(r, l.cfg.MinRTO)
	for i := uint(0); i < l.backoff && r < l.cfg.MaxRTO; i++ {
		r *= 2
	}
	return min(r, l.cfg.MaxRTO)
}

// holdAck reports whether the acknowledgement owed may wait for a frame to
// carry it (AckDelay), starting the wait on its first call.
//
// It does not wait once AckEvery frames arrived unacknowledged.
func (l *link) holdAck(now time.Time) bool {
	if l.cfg.AckDelay <= 0 || l.ackSend || (l.cfg.AckEvery > 0 && l.recvAck >= l.ackSent+uint64(l.cfg.AckEvery)) {
		return false
	}
	if l.ackAt.IsZero() {
		l.ackAt = now.Add(l.cfg.AckDelay)
	}
	return now.Before(l.ackAt)
}

// acked notes that the acknowledgement owed went out, in a frame that
// carries it or an ACK of its own.
func (l *link) acked() {
	l.ackDue, l.ackAt, l.ackSend, l.ackSent = false, time.Time{}, false, l.recvAck
}

// ackNow makes an acknowledgement go with the next Ready, held or not.
func (l *link) ackNow() { l.ackDue, l.ackSend = true, true }

// ackTimeout makes a held acknowledgement whose delay is over go with the
// next Ready, and reports whether it did.
func (l *link) ackTimeout(now time.Time) bool {
	if l.ackDue && !l.ackSend && !l.ackAt.IsZero() && !now.Before(l.ackAt) {
		l.ackSend = true
		return true
	}
	return false
}

// accept classifies an arriving reliable sequence number.
func (l *link) accept(seq uint64) acceptResult {
	l.ackDue = true
	switch {
	case seq <= l.recvAck:
		if l.cfg.broken.NoDedup {
			return acceptDeliver
		}
		l.stats.DuplicatesDropped++
		return acceptDup
	case seq == l.recvAck+1:
		l.recvAck = seq
		return acceptDeliver
	case seq-l.recvAck > uint64(l.cfg.MaxInflight), l.cfg.Mode == Stream:
		return acceptOverflow
	}
	if _, ok := l.held[seq]; ok {
		l.stats.DuplicatesDropped++
		return acceptDup
	}
	return acceptHold
}

// hold keeps an early frame until the gap before it fills. The bytes held
// are bounded by MaxUnackedBytes: a frame beyond that is dropped unacked, as
// if the datagram had been lost, and the sender's retransmission brings it
// again once the gap has drained.
func (l *link) hold(f inFrame) {
	if len(l.held) > 0 && l.heldBytes+f.size() > l.cfg.MaxUnackedBytes {
		l.stats.ReorderDropped++
		return
	}
	if l.held == nil {
		l.held = make(map[uint64]inFrame)
	}
	l.held[f.seq] = f
	l.heldBytes += f.size()
}

// overflow describes why accept refused seq.
func (l *link) overflow(seq uint64) error {
	if l.cfg.Mode == Stream {
		return protocolErr("seq %d after %d: a gap in a stream transport", seq, l.recvAck)
	}
	return protocolErr("seq %d beyond the window of %d after %d", seq, l.cfg.MaxInflight, l.recvAck)
}

// popHeld returns the held frame that is next in order, if any.
func (l *link) popHeld() (inFrame, bool) {
	if len(l.held) == 0 { // a stream holds none: skip the lookup
		return inFrame{}, false
	}
	f, ok := l.held[l.recvAck+1]
	if ok {
		delete(l.held, f.seq)
		l.heldBytes -= f.size()
		l.recvAck = f.seq
	}
	return f, ok
}

// ackValue is the cumulative ack to put on the wire.
func (l *link) ackValue() uint64 {
	if l.cfg.broken.AckOffByOne {
		return l.recvAck + 1
	}
	return l.recvAck
}

// resume restarts transmission on a new connection from the peer's reported
// ack: what it acknowledged is dropped, everything after is resent.
func (l *link) resume(peerAck uint64, now time.Time) error {
	if peerAck < l.peerAck {
		return protocolErr("resume ack %d below previously acknowledged %d", peerAck, l.peerAck)
	}
	// Nothing was sent on the new connection: with txNext at the first
	// unacknowledged frame, ack takes no RTT sample (the time since a frame
	// went out on the old connection includes the outage).
	l.txNext = l.peerAck + 1
	if err := l.ack(peerAck, now); err != nil {
		return err
	}
	l.txNext = l.peerAck + 1
	if l.cfg.broken.ResumeFromWrongSeq && l.txNext < l.nextSeq {
		l.txNext++
	}
	l.retxTo, l.rtoAt, l.backoff = 0, time.Time{}, 0
	return nil
}

// detach forgets the connection: nothing is in flight any more.
func (l *link) detach() {
	l.txNext = l.peerAck + 1
	l.retxTo, l.rtoAt, l.backoff = 0, time.Time{}, 0
	l.acked()
}

// timeout handles the retransmission timer.
func (l *link) timeout(now time.Time) {
	if l.rtoAt.IsZero() || now.Before(l.rtoAt) {
		return
	}
	l.rtoAt = time.Time{}
	if l.txNext > l.peerAck+1 {
		l.retxTo = l.txNext - 1
		l.backoff++
	}
}

// peerBehind is called when a heartbeat shows the peer's ack: in Datagram
// mode, frames sent long enough ago to have been acknowledged by now are
// resent.
func (l *link) peerBehind(now time.Time) {
	if l.cfg.Mode != Datagram || l.txNext <= l.peerAck+1 {
		return
	}
	grace := l.cfg.InitialRTO / 2
	if l.haveRTT {
		grace = l.srtt + l.rttvar
	}
	cutoff := now.Sub(l.epoch) - grace
	for s := l.txNext - 1; s > l.peerAck && s > l.retxTo; s-- {
		if l.frame(s).sentAt <= cutoff {
			l.retxTo = s
			break
		}
	}
}

// deadline is the retransmission timer, or zero.
func (l *link) deadline() time.Time {
	if l.ackDue && !l.ackSend && !l.ackAt.IsZero() && (l.rtoAt.IsZero() || l.ackAt.Before(l.rtoAt)) {
		return l.ackAt
	}
	return l.rtoAt
}

// flush writes the frames due on the current connection: retransmissions
// first, then new frames within the peer's window.
func (l *link) flush(w *writer, now time.Time) {
	window := l.cfg.MaxInflight
	if l.peerInflight > 0 {
		window = min(window, l.peerInflight)
	}
	limit := l.peerAck + uint64(window)
	wrote := false
	for s := l.peerAck + 1; s <= l.retxTo && s < l.txNext; s++ {
		f := l.frame(s)
		f.retx = true
		l.stamp(f, now)
		w.reliable(f, s, l.ackValue())
		l.stats.Retransmits++
		wrote = true
	}
	l.retxTo = 0
	for l.txNext < l.nextSeq && l.txNext <= limit {
		f := l.frame(l.txNext)
		if f.sent { // sent on an earlier connection: resent after a resume
			f.retx = true
			l.stats.Retransmits++
		}
		l.stamp(f, now)
		w.reliable(f, l.txNext, l.ackValue())
		l.txNext++
		wrote = true
	}
	if wrote {
		l.acked()
		if l.cfg.Mode == Datagram && l.rtoAt.IsZero() {
			l.rtoAt = now.Add(l.rto())
		}
	}
}

// lost returns the report of everything unacknowledged, in send order.
func (l *link) lost() []LostFrame {
	n := l.unacked()
	if n == 0 {
		return nil
	}
	out := make([]LostFrame, 0, n)
	for i := range n {
		f := l.buf.at(i)
		out = append(out, LostFrame{Seq: l.peerAck + 1 + uint64(i), Type: f.typ, ID: f.id, Payload: f.payload, Room: f.room(), Name: f.name()})
	}
	return out
}
