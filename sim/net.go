package sim

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Ends and directions of a connection. Direction d leaves end d and
// arrives at end 1-d.
const (
	endClient = 0
	endServer = 1
	toServer  = 0 // client → server
	toClient  = 1 // server → client
)

// conn is one transport connection between a client (or raw peer) and the
// server.
type conn struct {
	id     session.ConnID
	cli    *clientNode // nil for a raw peer
	raw    *rawNode
	peer   string // the client end's node name
	cliInc int    // the client incarnation that opened it
	srvInc int    // the server incarnation it reached
	open   [2]bool
	broken bool // reset: everything in flight is lost
	dirs   [2]link
}

// link is one direction of a connection.
type link struct {
	held  bool          // hold: messages queue until released
	queue []queued      // held messages and close notice, in order
	last  time.Duration // latest scheduled arrival (keeps streams FIFO)
}

type queued struct {
	data []byte
	fin  bool
}

// faults are the manual faults on one direction between a client (or raw
// peer) and the server, whatever the connection.
type faults struct {
	drop    int  // lose the next drop messages
	dup     int  // duplicate the next dup messages
	corrupt bool // corrupt the resume token of the next HELLO
	part    bool // partitioned
	hold    bool // hold this direction of the next connection
}

func (c *conn) faults() *[2]faults {
	if c.cli != nil {
		return &c.cli.faults
	}
	return &c.raw.faults
}

// endName returns the node name at end e.
func (c *conn) endName(e int) string {
	if e == endServer {
		return "s"
	}
	return c.peer
}

// alive reports whether the machine that owned end e still exists (it was
// not crashed or restarted since).
func (s *Sim) alive(c *conn, e int) bool {
	if e == endServer {
		return c.srvInc == s.server.inc
	}
	return c.cli == nil || c.cliInc == c.cli.inc
}

func (s *Sim) connByID(id session.ConnID) *conn {
	// Connections are appended in ID order; search from the end, where
	// the live ones are.
	for i := len(s.conns) - 1; i >= 0; i-- {
		if s.conns[i].id == id {
			return s.conns[i]
		}
		if s.conns[i].id < id {
			break
		}
	}
	return nil
}

// arrival is when a message sent now on direction d arrives.
func (s *Sim) arrival(c *conn, d int) time.Duration {
	at := s.now + s.opts.Delay
	if s.opts.Mode == session.Datagram {
		if s.opts.Jitter > 0 {
			at += time.Duration(s.rng.Int64N(int64(s.opts.Jitter)))
		}
		return at
	}
	l := &c.dirs[d]
	if at < l.last {
		at = l.last
	}
	l.last = at
	return at
}

// send puts one transport message on direction d of c, applying faults. In
// Stream mode a dropped message also resets the connection, and messages
// are never duplicated (a stream cannot do either).
func (s *Sim) send(c *conn, d int, msg []byte) {
	s.count.Messages++
	s.oracle.messageSize(c, d, msg)
	f := &c.faults()[d]
	if f.corrupt && d == toServer {
		corrupt := corruptToken
		if s.opts.Secure != secure.Off {
			corrupt = corruptSealed
		}
		if out, ok := corrupt(msg); ok {
			msg, f.corrupt = out, false
		}
	}
	datagram := s.opts.Mode == session.Datagram
	lost := false
	switch {
	case f.drop > 0:
		f.drop--
		lost = true
	case f.part && datagram:
		lost = true
	case datagram && s.opts.Loss > 0 && s.rng.Float64() < s.opts.Loss:
		lost = true
	}
	copies := 1
	if !lost {
		if f.dup > 0 {
			f.dup--
			copies = 2
		} else if datagram && s.opts.Dup > 0 && s.rng.Float64() < s.opts.Dup {
			copies = 2
		}
	}
	for range copies {
		if lost {
			s.q.push(event{at: s.arrival(c, d), kind: evMsg, dir: uint8(d), lost: true, conn: c, data: msg})
			if !datagram && !c.broken {
				// A stream cannot lose a message and go on: losing one
				// breaks the connection (as a middlebox killing it would).
				s.traceNote(c.peer, "s", fmt.Sprintf("the lost message breaks #%d", c.id))
				s.reset(c)
			}
			continue
		}
		l := &c.dirs[d]
		if l.held || f.part {
			l.queue = append(l.queue, queued{data: msg})
			continue
		}
		s.q.push(event{at: s.arrival(c, d), kind: evMsg, dir: uint8(d), conn: c, data: msg})
	}
}

// hangup closes end e of c: what it wrote arrives first, then the close
// notice; the closing end hears nothing more.
func (s *Sim) hangup(c *conn, e int) {
	if !c.open[e] {
		return
	}
	s.closeEnd(c, e)
	if c.broken {
		return
	}
	d := e
	if l := &c.dirs[d]; l.held || c.faults()[d].part {
		l.queue = append(l.queue, queued{fin: true})
		return
	}
	s.q.push(event{at: s.arrival(c, d), kind: evFin, dir: uint8(d), conn: c})
}

// reset breaks c: everything in flight or held is lost, and both ends are
// told after the link delay.
func (s *Sim) reset(c *conn) {
	c.broken = true
	for d := range c.dirs {
		l := &c.dirs[d]
		for _, q := range l.queue {
			if !q.fin {
				s.traceMessage(c, d, q.data, true, " (reset)")
			}
		}
		l.queue, l.held = nil, false
	}
	for e := range c.open {
		if c.open[e] {
			s.q.push(event{at: s.now + s.opts.Delay, kind: evReset, dir: uint8(e), conn: c})
		}
	}
}

// abandon closes end e of c without the other end hearing of it (its
// socket died silently): the other end is left half-open, what is in flight
// toward it still arrives, and what comes toward e is lost. End e is told
// after the link delay.
func (s *Sim) abandon(c *conn, e int) {
	if c.open[e] {
		s.q.push(event{at: s.now + s.opts.Delay, kind: evReset, dir: uint8(e), conn: c})
	}
}

// release stops holding direction d of c and sends what was queued, in
// order (unless the direction is still partitioned).
func (s *Sim) release(c *conn, d int) {
	l := &c.dirs[d]
	l.held = false
	if c.faults()[d].part || c.broken {
		return
	}
	q := l.queue
	l.queue = nil
	for _, m := range q {
		kind := evMsg
		if m.fin {
			kind = evFin
		}
		s.q.push(event{at: s.arrival(c, d), kind: kind, dir: uint8(d), conn: c, data: m.data})
	}
}

// heal ends every fault on the peer's links (all peers when name is "")
// and releases everything held.
func (s *Sim) heal(name string) {
	for _, c := range s.clients {
		if name == "" || c.name == name {
			c.faults = [2]faults{}
		}
	}
	for _, r := range s.raws {
		if name == "" || r.name == name {
			r.faults = [2]faults{}
		}
	}
	live := s.conns[:0]
	for _, c := range s.conns {
		if name == "" || c.peer == name {
			for d := range c.dirs {
				s.release(c, d)
			}
		}
		if c.open[endClient] || c.open[endServer] || len(c.dirs[0].queue) > 0 || len(c.dirs[1].queue) > 0 {
			live = append(live, c)
		}
	}
	clear(s.conns[len(live):])
	s.conns = live
}

// --- arrivals ---

func (s *Sim) arrive(e *event) {
	c, d := e.conn, int(e.dir)
	to := 1 - d
	switch {
	case e.lost:
		s.count.Lost++
		s.traceMessage(c, d, e.data, true, "")
		return
	case c.broken:
		s.count.Lost++
		s.traceMessage(c, d, e.data, true, " (reset)")
		return
	case !s.alive(c, to):
		s.count.Lost++
		s.traceMessage(c, d, e.data, true, " (gone)")
		return
	case !c.open[to]:
		if !s.opts.LateInputs || (to == endClient && c.cli == nil) {
			s.count.Lost++
			s.traceMessage(c, d, e.data, true, " (closed)")
			return
		}
		s.traceMessage(c, d, e.data, false, fmt.Sprintf(" (late: #%d closed)", c.id))
	default:
		s.traceMessage(c, d, e.data, false, "")
	}
	s.count.Arrived++
	if to == endServer {
		s.oracle.beforeRecv()
		s.stepServer(session.Recv{Conn: c.id, Data: e.data})
	} else if c.cli != nil {
		s.stepClient(c.cli, session.Recv{Conn: c.id, Data: e.data})
	}
}

func (s *Sim) finArrive(e *event) {
	c, d := e.conn, int(e.dir)
	to := 1 - d
	if c.broken || !s.alive(c, to) || !c.open[to] {
		return
	}
	s.closeEnd(c, to)
	s.traceArrow(c.endName(d), c.endName(to), fmt.Sprintf("(close #%d)", c.id), false, false)
	s.disconnected(c, to, ErrPeerClosed)
}

func (s *Sim) resetArrive(e *event) {
	c, end := e.conn, int(e.dir)
	if !s.alive(c, end) || !c.open[end] {
		return
	}
	s.closeEnd(c, end)
	s.traceEvent(c.endName(end), fmt.Sprintf("(reset #%d)", c.id))
	s.disconnected(c, end, ErrReset)
}

// closeEnd marks end e of c closed.
func (s *Sim) closeEnd(c *conn, e int) {
	c.open[e] = false
	if e == endServer && c.srvInc == s.server.inc {
		s.srvOpen--
	}
}

// disconnected tells the machine at end e that c is gone.
func (s *Sim) disconnected(c *conn, e int, err error) {
	if e == endServer {
		s.stepServer(session.Disconnected{Conn: c.id, Err: err})
		return
	}
	if c.raw != nil {
		if c.raw.conn == c {
			c.raw.conn = nil
		}
		return
	}
	cl := c.cli
	if cl.conn == c {
		cl.conn = nil
	}
	s.stepClient(cl, session.Disconnected{Conn: c.id, Err: err})
}

// --- manual faults ---

// Hold makes direction d of peer's current connection queue its messages.
func (s *Sim) hold(c *conn, d int) {
	c.dirs[d].held = true
	s.traceNote(c.peer, "s", fmt.Sprintf("hold %s #%d", dirName(c.peer, d), c.id))
	s.count.Faults++
}

func dirName(peer string, d int) string {
	if d == toServer {
		return peer + "->s"
	}
	return "s->" + peer
}

// corruptSealed flips a bit of the authentication tag of a sealed
// message: with encryption on, the resume token is out of reach, and
// tampering is what is left to try. The receiver refuses the record (a
// Stream connection ends with CLOSE security, a Datagram drops it).
func corruptSealed(msg []byte) ([]byte, bool) {
	if !secure.IsRecord(msg) || secure.IsHandshake(msg) {
		return msg, false
	}
	out := bytes.Clone(msg)
	out[len(out)-1] ^= 1
	return out, true
}

// corruptToken flips every bit of the resume token of the first resuming
// HELLO in msg and re-encodes the message.
func corruptToken(msg []byte) ([]byte, bool) {
	d := codec.NewDecoder(codec.Limits{MaxMessageSize: len(msg) + 1})
	if d.Reset(msg) != nil {
		return msg, false
	}
	var e codec.Encoder
	var out []byte
	done := false
	for {
		f, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return msg, false
		}
		if h, ok := f.(*proto.Hello); ok && h.Resume != nil && !done {
			tok := append([]byte(nil), h.Resume.Token...)
			for i := range tok {
				tok[i] ^= 0xff
			}
			h.Resume.Token = tok
			done = true
		}
		if out, err = e.Append(out, f); err != nil {
			return msg, false
		}
	}
	return out, done
}
