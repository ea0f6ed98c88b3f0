package adapters

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// writeGrace is how long a Request whose ctx has ended lets its own write
// go on before it kills the connection (see watch).
const writeGrace = 10 * time.Millisecond

// closeGrace is how long a connection the machine has hung up may take to
// write what is queued (its CLOSE frame, usually) before it is killed: a
// writer stuck on a peer that does not read must not hold anything up.
const closeGrace = 2 * time.Second

// conn is the driver's side of one transport connection: whoever reads it
// (reading.go), and an ordered write queue filled under the driver's lock
// and drained by whoever claims the connection's writer.
//
// Writing is flat-combined. Exactly one goroutine at a time is the writer:
// a writer goroutine started by whoever queued messages and found no
// writer, a request handler with nothing else to handle, which writes its
// reply itself, or the caller of a Request, which writes one batch (its
// request, usually) and leaves the rest to a writer goroutine. The writer
// writes everything queued as one batch, then looks again: messages queued
// meanwhile, by anyone, go out in its next write. A batch is joined into as
// few transport messages as the peer's size limit allows (a message is a
// CBOR sequence of frames, so concatenating messages concatenates their
// frames). On the client, Sends stepped while the writer is busy do not
// even call Ready: the writer does, once per write, so that their frames
// share one message from the start (see pending).
//
// A connection the machine hangs up is closed by its writer once the queue
// is written, or killed by the timer when that takes longer than
// closeGrace (a peer that does not read).
type conn struct {
	d  *driver
	id session.ConnID
	t  Conn
	// q is the event queue of the session on this connection: the reader
	// pauses while that queue is over its limit, so slow handlers push back
	// on the peer instead of buffering without bound.
	q atomic.Pointer[eventQueue]
	// pending: a Step's frames for this connection wait in the machine for
	// a Ready, which the writer calls before it goes idle. Changed under
	// mu, read without it by deferReady (see there). (Here, by first, it
	// takes no word of its own.)
	pending atomic.Bool

	// Guarded by the driver's lock.
	//
	// first is false until the first message, which carries the peer's
	// limits (HELLO or WELCOME), has been seen.
	first bool
	// killAt is when c, hung up, is killed if its writer has not closed
	// it by then.
	killAt time.Time
	// The read role (reading.go). ri is the transport's ReadInterrupter
	// on a client whose callers may read; role says who reads c: the
	// reader goroutine numbered rgen, or the caller waiting for rop (the
	// rseq-th to take the role; rint: interrupted), or nobody since idleAt.
	// inlineAt is when the current reader began running handlers (zero:
	// it is not). inUnread and inInline say c is in the driver's lists.
	ri       ReadInterrupter
	role     readRole
	rgen     uint64
	rop      *op
	rseq     uint64
	idleAt   time.Time
	inlineAt time.Time
	rint     bool // with the other flags: a conn is 416 bytes, a size class
	inUnread bool
	inInline bool
	// rest is what the machine left unread of the message c's reader is
	// stepping; idleTat is c's budget of messages that deliver nothing
	// (fair.go).
	rest    []byte
	idleTat time.Time

	// Guarded by mu (taken after the driver's lock, never before it).
	mu      sync.Mutex
	out     [][]byte
	spare   [][]byte
	peerMax int  // the peer's message size limit; 0 until known
	writing bool // a goroutine is the writer
	hangup  bool // close after writing out
	closed  bool // Close was called (or is being called)
	failed  bool // a write failed: drop further messages
	code    proto.CloseCode
	reason  string
	// The bounds on what waits to be written (backlog.go): queued is the
	// bytes in out; wseq counts the writes begun, inWrite says one is
	// under way; watched says c is in the driver's stalled list, whose
	// check saw write stallSeq under way at stallAt. unsent is the bytes
	// queued or deferred since the writer last took a batch, for the
	// holder to yield to the writer as they pass yieldNext (see
	// noteUnsent); lastUnsent is when bytes were last counted there.
	queued     int
	unsent     atomic.Int64
	yieldNext  int
	lastUnsent time.Time
	wseq       uint64
	inWrite    bool
	watched    bool
	stallSeq   uint64
	stallAt    time.Time

	// Owned by c's writer. wbuf is memory the writer reuses for its
	// messages: a server's deferred Readys encode c's frames into it, and
	// coalesce joins messages there; once a write has returned it is
	// reused. The writer takes it from writeBufs when it needs one and puts
	// it back when it goes idle: an idle connection holds none.
	wbuf *[]byte
}

// writeBufs are the writers' buffers between uses (see conn.wbuf).
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, writeBufMin); return &b }}

// writeBufMin is the size of a new writer buffer: what a busy writer's
// write holds (some yieldAt). A smaller one would grow at most of its uses,
// since the pool drops what a GC finds unused; a writer blocked on a slow
// peer keeps it, a fraction of what may be queued for one (backlog.go). A
// buffer grown larger than writeBufMax is not kept.
const (
	writeBufMin = yieldAt
	writeBufMax = 4 * yieldAt
)

// buf returns the writer's buffer, taking one from writeBufs if it has
// none; writer only.
func (c *conn) buf() *[]byte {
	if c.wbuf == nil {
		c.wbuf = writeBufs.Get().(*[]byte)
	}
	return c.wbuf
}

// putBuf gives the writer's buffer back to writeBufs; writer only, when
// no message in it waits to be written.
func (c *conn) putBuf() {
	if b := c.wbuf; b != nil {
		c.wbuf = nil
		if cap(*b) <= writeBufMax {
			*b = (*b)[:0]
			writeBufs.Put(b)
		}
	}
}

// learn records the peer's message size limit once the machine knows it
// (from the HELLO or WELCOME that opens the connection), so that the writer
// joins messages within it; driver lock held.
func (c *conn) learn(max int) {
	if max <= 0 {
		return
	}
	c.first = true
	c.mu.Lock()
	c.peerMax = max
	c.mu.Unlock()
}

// write queues messages; driver lock held.
func (c *conn) write(msgs ...[]byte) {
	c.mu.Lock()
	if !c.failed && !c.hangup {
		for _, m := range msgs {
			c.queueLocked(m)
		}
		c.startLocked()
	}
	c.mu.Unlock()
}

// writeOutgoing queues the messages of one connection's run in a
// ServerReady; driver lock held.
func (c *conn) writeOutgoing(run []session.Outgoing) {
	c.mu.Lock()
	if !c.failed && !c.hangup {
		for _, o := range run {
			c.queueLocked(o.Data)
		}
		c.startLocked()
	}
	c.mu.Unlock()
}

// queueLocked appends m to the queue, or merges it into a reply it
// supersedes, and kills c when the queue is over its byte limit (see
// backlog.go); driver lock and c.mu held.
func (c *conn) queueLocked(m []byte) {
	if n := len(c.out); n > 0 {
		if merged, ok := c.d.supersede(c.out[n-1], m); ok {
			c.queued += len(merged) - len(c.out[n-1])
			c.out[n-1] = merged
			return
		}
	}
	if c.writing {
		c.stallWatch()
	}
	c.out = append(c.out, m)
	c.queued += len(m)
	c.noteUnsent(len(m))
	if c.d.maxQueued > 0 && c.queued > c.d.maxQueued {
		c.failed = true // queue nothing more
		c.d.log.Warn("outgoing queue over its limit; connection killed", "conn", c.id, "bytes", c.queued, "limit", c.d.maxQueued)
		c.d.killLater(c)
	}
}

// close asks the writer to close the connection after what is queued, and
// the driver to kill it if that takes longer than closeGrace; driver lock
// held.
func (c *conn) close(code proto.CloseCode, reason string) {
	c.mu.Lock()
	first := !c.hangup
	if first {
		c.hangup, c.code, c.reason = true, code, reason
		c.startLocked()
	}
	c.mu.Unlock()
	if first {
		c.killAt = c.d.now.Add(c.d.closeGrace)
		c.d.closing = append(c.d.closing, c)
		c.d.killAt = earliest(c.d.killAt, c.killAt)
	}
}

// startLocked claims the writer for the driver's lock holder when there is
// work and no writer (see driver.claimed).
func (c *conn) startLocked() {
	if !c.writing && (len(c.out) > 0 || c.hangup) {
		c.writing = true
		c.d.claimed(c)
	}
}

// deferReady makes the writer call Ready before it goes idle, claiming it
// when it is idle, and reports whether it will; driver lock held. The
// Sends stepped until then share its next write, the first one included
// (a Ready of its own would make it a message of its own, which the writer
// would then copy to join); size is what the holder's step adds to it.
//
// A connection whose writer has not yet taken what was deferred before
// needs nothing more: to take it, the writer clears pending and then asks
// for the Ready under the driver's lock, which the caller holds, so it
// takes this step's frames too. Only the bytes are counted then, without
// c.mu, which a broadcast would otherwise take for every member.
func (c *conn) deferReady(size int) bool {
	if c.pending.Load() {
		c.noteUnsent(size)
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hangup || c.failed {
		return false
	}
	c.pending.Store(true)
	c.noteUnsent(size)
	if !c.writing {
		c.writing = true
		c.d.claimed(c)
	}
	return true
}

// noteUnsent counts n more bytes for the writer, and asks the holder to
// yield to it when that makes them pass yieldNext: firstYield at the
// start of a burst (nothing counted for burstGap), doubling at each yield
// up to yieldAt. Driver lock held (the writer zeroes unsent when it takes
// a batch).
func (c *conn) noteUnsent(n int) {
	now := c.d.now
	if c.yieldNext == 0 || now.Sub(c.lastUnsent) > burstGap {
		c.yieldNext = firstYield
	}
	c.lastUnsent = now
	after := int(c.unsent.Add(int64(n)))
	if after-n < c.yieldNext && after >= c.yieldNext {
		c.d.yield = true
		c.yieldNext = min(2*c.yieldNext, yieldAt)
	}
}

// writeLoop is a writer goroutine; it ends when the queue is empty.
func (c *conn) writeLoop() {
	defer c.d.wg.Done()
	growStack(0)
	c.flush(false)
}

// growStack gives a new writer goroutine, at once, the stack its work will
// need (see writerStack); it returns 0, and takes an index so that the
// compiler keeps its frame.
//
// A writer goroutine lives for one batch or a few, and a busy server starts
// one per write. It starts with the runtime's smallest stack, 2 KiB, less
// than a write needs (a Ready's encoding, then the transport's write down
// to the system call), so the runtime grows it by copying, and the copy
// costs in proportion to the frames on the stack: grown deep inside the
// write, about a microsecond per writer goroutine, 6% of a broadcasting
// server's CPU. Grown here, where the stack holds two frames, the copy
// costs little more than clearing this frame.
//
//go:noinline
func growStack(i int) byte {
	var frame [writerStack]byte
	return frame[i]
}

// writerStack is the frame that makes the runtime grow a new goroutine's
// 2 KiB stack to 4 KiB, which a write through gorilla, a Ready's encoding
// included, fits (a profile shows no other growth on a writer's path).
const writerStack = 2 << 10

// flush writes until nothing is queued, then gives up the writer; the
// caller has claimed it. It takes the driver's lock only for a deferred
// Ready, never while writing. With once, it writes one batch and leaves
// what was queued meanwhile to a writer goroutine: an application caller
// writes its own request, not everybody else's messages after it.
func (c *conn) flush(once bool) {
	c.mu.Lock()
	wrote := false
	for {
		if once && wrote && (c.pending.Load() || (len(c.out) > 0 && !c.failed) || (c.hangup && !c.closed)) && c.handOff() {
			return
		}
		if c.pending.Load() {
			c.pending.Store(false)
			if !c.failed && !c.hangup {
				c.mu.Unlock()
				c.d.readyDeferred(c)
				c.mu.Lock()
				continue
			}
		}
		if len(c.out) > 0 && !c.failed {
			batch := c.out
			c.out, c.spare = c.spare[:0], nil
			c.queued, c.inWrite = 0, true
			c.unsent.Store(0)
			c.wseq++
			max := c.peerMax
			c.mu.Unlock()
			err := c.t.WriteMessages(coalesce(batch, max, c))
			clear(batch)
			if c.wbuf != nil {
				*c.wbuf = (*c.wbuf)[:0] // written: free to reuse
			}
			wrote = true
			c.mu.Lock()
			c.inWrite = false
			c.spare = batch[:0]
			if err != nil {
				c.failed = true
				c.d.log.Debug("write failed", "conn", c.id, "err", err)
				if !c.hangup {
					c.hangup, c.code = true, proto.CloseGoingAway
				}
			}
			continue
		}
		clear(c.out)
		c.out, c.queued = c.out[:0], 0
		c.unsent.Store(0)
		if c.hangup && !c.closed {
			c.closed = true
			code, reason := c.code, c.reason
			c.mu.Unlock()
			c.t.Close(code, reason)
			c.mu.Lock()
			continue // writing stays claimed: nothing more is written
		}
		if !c.closed {
			c.writing = false
		}
		if cap(c.spare) > idleCap || cap(c.out) > idleCap {
			c.out, c.spare = nil, nil // an idle connection keeps no burst's buffer
		}
		c.putBuf()
		c.mu.Unlock()
		return
	}
}

// handOff passes the claimed writer to a new writer goroutine, unless the
// driver has ended (then the caller keeps writing); c.mu held, and held
// again when it returns false.
func (c *conn) handOff() bool {
	c.mu.Unlock()
	d := c.d
	d.mu.Lock()
	ok := !d.ended
	if ok {
		d.wg.Add(1) // under the lock: wait cannot have seen the count at zero
	}
	d.mu.Unlock()
	if ok {
		go c.writeLoop()
		return true
	}
	c.mu.Lock()
	return false
}

// kill closes the transport at once, from any goroutine, without waiting
// for the writer (a write blocked on a peer that does not read fails).
func (c *conn) kill() {
	c.mu.Lock()
	c.hangup, c.failed, c.closed, c.writing = true, true, true, true
	c.mu.Unlock()
	if n, ok := c.t.(closerNow); ok {
		n.CloseNow()
		return
	}
	c.t.Close(proto.CloseGoingAway, "shutting down")
}

// closeCode finds the CLOSE frame the machine queued last on a connection it
// hangs up, so that WebSocket transports can send the same code as the
// close status. It decodes only messages that precede a hangup.
func closeCode(dec *codec.Decoder, last []byte) (proto.CloseCode, string) {
	code, reason := proto.CloseGoingAway, ""
	if last == nil || dec.Reset(last) != nil {
		return code, reason
	}
	for {
		f, err := dec.Next()
		if err != nil {
			return code, reason
		}
		if cl, ok := f.(*proto.Close); ok {
			code, reason = cl.Code, cl.Reason
		}
	}
}

// tooLarge is the CLOSE frame the driver sends when a transport refused a
// message over the size limit before the machine could see it.
var tooLarge = func() []byte {
	b, err := codec.Encode(&proto.Close{Code: proto.CloseTooLarge, Reason: tooLargeReason})
	if err != nil {
		panic("adapters: bug: " + err.Error())
	}
	return b
}()

const tooLargeReason = "message too large"
