package adapters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bettersocket/bettersocket/adapters/internal/clock"
	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// The driver runs one machine (a session.Client or a session.Server) over
// real transports. It is the only code of the library with goroutines and
// the wall clock.
//
// The machine is owned by a mutex, not by a goroutine: whoever has an input
// for it locks, steps, and dispatches what the step produced, so that most
// work needs no hand-off between goroutines:
//
//   - an application caller (Send, Request, Reply from a request handler,
//     Close ...) steps its own command and learns its error at once; under
//     backpressure it parks in a FIFO per session and waits (see op.go);
//   - whoever reads a connection (its reader goroutine, or on a client a
//     caller waiting for its response: reading.go) steps Recv and
//     Disconnected;
//   - one timer goroutine steps Timeout at the machine's deadline (which
//     includes held ACKs: session.LinkConfig.AckDelay), starts dials, kills
//     connections that take too long to close, and starts readers where
//     handlers run long or nobody reads;
//   - dispatching (driver.settle, under the lock): retry parked commands
//     when something arrived, call Ready (on the client, not after a Send
//     while the writer is busy: the writer will), queue transport messages
//     on their connections, push events onto the per-session handler queues,
//     resolve requests, rearm the one timer;
//   - after unlocking (driver.unlock), the holder hands over what it owes
//     others: outcomes to parked callers, and goroutines to start — writers
//     for connections with output and no writer, workers for handler queues
//     with events and none (queue.go). A reader runs its own session's
//     queue instead, a request handler with nothing else to handle writes
//     its reply itself, and a Request writes its request (see conn);
//   - a holder that keeps producing output yields to the writers it feeds
//     (see yieldAt): a reader once its turn has started a writer, an
//     application caller (Send, Broadcast) each time a connection's unsent
//     bytes pass yieldAt (firstYield, doubling, at the start of a burst).
//
// The lock is never held during I/O or while application code runs (except
// the server's Authorize and AllowRoom hooks, which run inside Step). A
// reader never waits for a writer, and writes only as a request handler
// (its reply), for at most inlineGrace before another reader takes over;
// what readers queue is bounded by the machine's windows, and what they
// push to handler queues by pausing the reader of a session whose handlers
// fall behind.
type driver struct {
	eng  engine
	h    handlers
	log  *slog.Logger
	dec  *codec.Decoder // for CLOSE codes and limits in the messages it looks at
	qmax int            // handler queue limit

	done     chan struct{} // closed when the driver has ended
	kill     chan struct{} // closed when every connection is being killed
	killOnce sync.Once
	ctx      context.Context // handlers' context; cancelled when closing begins
	cancel   context.CancelFunc
	// dialCtx is the dials' context; cancelled when the driver ends or is
	// killed, not when closing begins: a client that closes reconnects to
	// flush what is pending.
	dialCtx  context.Context
	dialStop context.CancelFunc
	wg       sync.WaitGroup // timer, readers, writers, dialers
	hwg      sync.WaitGroup // handler workers
	workers  workers
	clock    clock.Clock // the monotonic clock; a fake one in tests
	timer    clock.Timer

	mu       sync.Mutex // owns the machine and everything below
	now      time.Time  // of the current holder
	ended    bool       // done is closed: nothing is stepped any more
	draining bool       // server shutdown: end once every connection is gone
	exit     bool       // the client machine has closed: end now
	progress bool       // something arrived or timed out: parked commands may fit now
	conns    map[session.ConnID]*conn
	nextConn session.ConnID
	nextCall uint64
	calls    map[uint64]*op // requests waiting for their response
	parked   map[proto.ClientID][]*op
	nparked  int
	closing  []*conn   // connections hung up, to be killed if their writer does not close them
	killAt   time.Time // when the earliest of those is due
	// stalled are the connections whose writer was busy while more was
	// queued, to be killed when a write makes no progress for
	// writeTimeout, the first of them at stallDue; maxQueued bounds the
	// bytes queued on a connection (backlog.go). Zero: no bound.
	stalled      []*conn
	stallDue     time.Time
	writeTimeout time.Duration
	maxQueued    int
	// idleEvery and idleBurst are the budget of messages that deliver
	// nothing, per connection (fair.go); zero: none. server is the
	// server's machine, which tells them (nil on a client).
	idleEvery time.Duration
	idleBurst int
	server    *session.Server
	// closeGrace, inlineGrace, readerGrace and writeGrace are the
	// constants of the same names; tests change them.
	closeGrace, inlineGrace, readerGrace, writeGrace time.Duration
	deadline                                         time.Time // the machine's
	timerAt                                          time.Time // when the timer fires; zero: stopped
	// direct: the holder writes the first connection it claims itself
	// (directConn) instead of starting a writer goroutine.
	direct     bool
	directConn *conn
	sig        []signal // handed over by unlock
	yield      bool     // the holder should yield to the writers (see yieldAt)
	flushes    []*flushWait

	// The read roles (reading.go): callerReads is set on a client, whose
	// callers may read their own responses; connections whose reader runs
	// handlers (inline), due for a new reader at inlineDue; client
	// connections nobody reads (unread), due for a reader at unreadDue;
	// self, the op whose caller is stepping what it read; resolved, whether
	// a step handed a response to a waiting caller.
	callerReads bool
	inline      []*conn
	inlineDue   time.Time
	unread      []*conn
	unreadDue   time.Time
	self        *op
	resolved    bool

	// Client dialing, under mu. creds, when set, is called before each
	// dial for the credentials of its HELLO. firstCtx is the context of
	// the dials made before the session is established (Dial's, until
	// then); nil after. lastDialErr is why the last of those failed;
	// firstErr, set with failFast, is what Dial returns.
	dial        DialFunc
	creds       func(context.Context) ([]byte, error)
	dialTimeout time.Duration
	dialAt      time.Time
	dialing     bool
	failFast    bool
	firstCtx    context.Context
	lastDialErr error
	firstErr    error
	gaveUp      chan struct{} // closed when firstErr is set

	// Messages read and not yet stepped, in the order they were read
	// (see recv); guarded by rmu, taken alone or after mu. rqSpare is the
	// memory of the queue last stepped, for the next swap; guarded by mu.
	rmu     sync.Mutex
	rq      []inbound
	rqSpare []inbound

	// The watch of the last Request's ctx, registered still for the next
	// Request with the same ctx (watch.go); guarded by mu.
	spare *watch

	// Counters as of the start of the server hook that runs now (inHook),
	// for a hook that reads them: it runs under mu (see stats).
	inHook    atomic.Bool
	smu       sync.Mutex // guards hookStats
	hookStats session.Stats
}

// engine is what differs between the client and the server. Its methods
// run under the driver's lock.
type engine interface {
	step(now time.Time, in session.Input) error
	// recv, send, call and reply step the inputs of the hot paths
	// without boxing them: the machine's Step, called directly, keeps its
	// input on the stack.
	recv(now time.Time, conn session.ConnID, data []byte) error
	send(now time.Time, in session.Send) error
	call(now time.Time, in session.Call) error
	reply(now time.Time, in session.Reply) error
	// ready drains the machine's Ready, applies it and returns the deadline.
	ready(now time.Time) time.Time
	// readyConn is ready for what c's writer was left (see canDefer): at
	// least c's messages; everything on a client.
	readyConn(c *conn, now time.Time) time.Time
	// connected learns about a connection the machine accepted.
	connected(c *conn)
	// canDefer reports whether Ready may wait for the busy writers, which
	// will call it: true when frames are all it would hand over, for
	// connections whose writers are all busy. size is what the holder's
	// step added to each of them.
	canDefer(size int) bool
	// stats returns the machine's counters; lock held.
	stats() session.Stats
	// readable is the connection a caller may read for its response: the
	// client's current one; nil on the server.
	readable() *conn
	// peerMax is the peer's message size limit on a connection, as the
	// machine knows it; 0 while it does not.
	peerMax(conn session.ConnID) int
	// acked returns the session id (zero: the client's current one) as
	// the machine knows it, the sequence number of its last reliable frame
	// queued and the peer's acknowledgement; ok is false when it has no
	// such live session (see flush.go).
	acked(id proto.ClientID) (cur proto.ClientID, sent, acked uint64, ok bool)
}

// handlers are the application's callbacks.
type handlers struct {
	msg MessageHandler
	req RequestHandler
	ev  EventHandler
}

// signal is something the lock holder hands over after unlocking: an
// outcome to a parked caller, or a goroutine to start.
type signal struct {
	o *op
	r result
	c *conn       // start a writer
	q *eventQueue // start a handler goroutine
}

// withSide returns log (or a logger that discards everything, when nil)
// with the side attribute.
func withSide(log *slog.Logger, side string) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log.With("side", side)
}

// newDriver returns a driver of eng; clk nil means the monotonic clock.
func newDriver(eng engine, h handlers, log *slog.Logger, maxMsg, qmax int, clk clock.Clock) *driver {
	if qmax <= 0 {
		qmax = DefaultMaxPendingEvents
	}
	if clk == nil {
		clk = clock.Real()
	}
	d := &driver{
		eng:    eng,
		h:      h,
		log:    log,
		dec:    codec.NewDecoder(codec.Limits{MaxMessageSize: maxMsg}),
		qmax:   qmax,
		done:   make(chan struct{}),
		kill:   make(chan struct{}),
		conns:  make(map[session.ConnID]*conn),
		calls:  make(map[uint64]*op),
		parked: make(map[proto.ClientID][]*op),
		clock:  clk,
		timer:  clk.NewTimer(),
	}
	d.closeGrace, d.inlineGrace, d.readerGrace, d.writeGrace = closeGrace, inlineGrace, readerGrace, writeGrace
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.dialCtx, d.dialStop = context.WithCancel(context.Background())
	return d
}

// start starts the timer goroutine.
func (d *driver) start() {
	d.wg.Add(1)
	go d.timerLoop()
}

// lock takes the machine and returns the time of what follows. The
// machines compare and subtract times only, so the clock is the monotonic
// one, read without the wall clock (see clock.Real), four times per round
// trip.
func (d *driver) lock() time.Time {
	d.mu.Lock()
	if r, ok := d.clock.(clock.RealClock); ok {
		d.now = r.Now() // a direct call, on every round trip's path
	} else {
		d.now = d.clock.Now()
	}
	d.yield = false
	return d.now
}

// unlock releases the machine, then hands over what the holder owes others.
func (d *driver) unlock() {
	if len(d.sig) == 0 {
		d.mu.Unlock()
		return
	}
	var buf [8]signal
	sig := buf[:0]
	if len(d.sig) > len(buf) {
		sig = make([]signal, 0, len(d.sig))
	}
	sig = append(sig, d.sig...)
	clear(d.sig)
	d.sig = d.sig[:0]
	d.mu.Unlock()
	for _, s := range sig {
		switch {
		case s.o != nil:
			s.o.res <- s.r // buffered; the last touch: the caller may recycle o
		case s.c != nil:
			go s.c.writeLoop()
		case s.q != nil:
			d.startQueue(s.q)
		}
	}
}

// yieldAt is how many bytes a connection's writer may have waiting, queued
// or deferred since it last took a batch, before the holder that adds them
// yields to it.
//
// A writer is a goroutine of its own, which on a busy or single-CPU
// process (GOMAXPROCS=1) runs only when the goroutine that started it
// blocks. A caller that sends in a loop, or broadcasts, would otherwise
// queue a whole send window before the first byte is written, and only
// then wait for the peer, which had nothing to do meanwhile: the two sides
// would take turns instead of working at once. Likewise a reader that
// queues an ACK and reads on would hold it back until it has nothing left
// to read, while the peer waits for it to send more. Yielding every
// yieldAt bytes keeps the writes large (a write costs a system call and
// wakes the peer) and the two sides busy together; where the writer runs
// on another CPU, a yield costs a fraction of a microsecond per yieldAt
// bytes.
const yieldAt = 32 << 10

// firstYield is where the yields of a burst start: when nothing was queued
// for a connection for burstGap, the holder yields to its writer after a
// few KiB, and then after twice as many bytes each time, up to yieldAt.
// The peer then starts on a burst at once, rather than after the holder
// has queued yieldAt bytes for every connection it feeds (a broadcast to
// a hundred members queued 3 MiB, some 15 ms of work, before its first
// byte left), while a stream that keeps coming is written in batches of
// yieldAt (TCP restarts its window after idle for the same reason).
const (
	firstYield = 4 << 10
	burstGap   = time.Millisecond
)

// unlockYield is unlock for a holder that yields to the writers when its
// turn asked it to (see yieldAt).
func (d *driver) unlockYield() {
	y := d.yield
	d.unlock()
	if y {
		runtime.Gosched()
	}
}

// claimed is told that the lock holder has claimed c's writer: the holder
// writes c itself after unlocking when it asked to (direct), or a writer
// goroutine is started.
func (d *driver) claimed(c *conn) {
	if d.direct && d.directConn == nil {
		d.directConn = c
		return
	}
	d.wg.Add(1)
	d.sig = append(d.sig, signal{c: c})
}

// takeDirect returns the connection the holder claimed to write itself.
func (d *driver) takeDirect() *conn {
	c := d.directConn
	d.direct, d.directConn = false, nil
	return c
}

// settle finishes a turn with the machine; lock held. It retries parked
// commands when something arrived, calls Ready unless the holder stepped
// only a Send, Reply or Broadcast whose frames add deferrable bytes and
// the writers will (a holder that writes what it claims itself, direct,
// has its Ready now), starts a due dial, ends the driver when the machine
// is done, and rearms the timer. deferrable is zero (or less) when Ready
// may not wait.
func (d *driver) settle(deferrable int) {
	d.settleTurn(deferrable, !d.progress && deferrable > 0)
}

// settleReceived is settle after a reader stepped what it received. On a
// server, when frames for connections whose writers will take them are all
// that is left in the machine (an ACK that freed window space, a
// heartbeat's answer), the Ready waits for those writers, as after a Send:
// taken by the reader, it would encode every busy connection's queued
// frames, a piece of a message that each writer then has to copy to join
// to its own. (A client's reader decides from its Ready whether it goes
// on reading.)
func (d *driver) settleReceived() {
	d.progress = true
	d.settleTurn(0, d.server != nil)
}

// settleTurn is settle, where mayWait says whether Ready may wait for the
// writers, and added is what the holder's step added to each connection
// it fed.
func (d *driver) settleTurn(added int, mayWait bool) {
	if d.progress && d.nparked > 0 {
		d.retryParked()
	}
	if !mayWait || d.direct || !d.eng.canDefer(added) {
		d.deadline = d.eng.ready(d.now)
	}
	d.finish()
}

// finish ends a turn after its Ready (see settle); lock held.
func (d *driver) finish() {
	if d.progress && len(d.flushes) > 0 {
		d.checkFlushes()
	}
	d.progress = false
	if !d.dialAt.IsZero() && !d.now.Before(d.dialAt) {
		d.startDial()
	}
	if d.exit || (d.draining && len(d.conns) == 0 && !d.dialing) {
		d.end()
		return
	}
	d.arm()
}

// arm moves the timer earlier when something is due before it; lock held.
// The timer is moved earlier when needed, never later: a timer that fires
// early costs one idle turn, which is cheaper than resetting it on every
// message (each one moves the idle deadline).
func (d *driver) arm() {
	next := earliest(earliest(d.deadline, d.dialAt), earliest(d.killAt, d.stallDue))
	next = earliest(next, earliest(d.inlineDue, d.unreadDue))
	if !next.IsZero() && (d.timerAt.IsZero() || next.Before(d.timerAt)) {
		d.timerAt = next
		d.timer.Reset(next, d.now)
	}
}

// readyDeferred calls the Ready that Sends left to c's writer, for c's
// messages: the other connections' writers take theirs when they write.
func (d *driver) readyDeferred(c *conn) {
	d.lock()
	if !d.ended {
		d.deadline = d.eng.readyConn(c, d.now)
		d.finish()
	}
	d.unlock()
}

// recycleReady readies the slices of a Ready the engine is done with for
// the next one: it drops the references they hold, and their memory when a
// burst made them larger than keepReady.
func recycleReady[T any](transmit *[]T, events *[]session.Event) {
	clear(*transmit)
	clear(*events)
	if cap(*transmit) > keepReady {
		*transmit = nil
	}
	if cap(*events) > keepReady {
		*events = nil
	}
}

// keepReady is the most entries the driver's one Ready keeps memory for:
// enough for the events of a transport message of a stream (a write of
// yieldAt bytes of 64-byte messages is some 400), which would otherwise
// grow the slice again for every message; 16-24 KiB per Client or Server,
// not per session.
const keepReady = 1024

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// timerLoop is the timer goroutine.
func (d *driver) timerLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.timer.C():
		case <-d.done:
			return
		}
		now := d.lock()
		d.timerAt = time.Time{}
		if !d.ended {
			if !d.deadline.IsZero() && !now.Before(d.deadline) {
				d.eng.step(now, session.Timeout{})
				d.progress = true
			}
			d.killStuck(now)
			if !d.stallDue.IsZero() && !now.Before(d.stallDue) {
				d.killStalled(now)
			}
			d.reviewReaders(now)
			d.settle(0)
		}
		d.unlock()
	}
}

// killStuck kills the hung-up connections whose writer has not closed
// them within the grace period, and notes when the next one is due.
func (d *driver) killStuck(now time.Time) {
	var next time.Time
	live := d.closing[:0]
	for _, c := range d.closing {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		switch {
		case closed:
		case !now.Before(c.killAt):
			d.log.Debug("closing took too long; killed", "conn", c.id)
			d.wg.Add(1) // the timer goroutine is counted: wg is not at zero
			go func() {
				defer d.wg.Done()
				c.kill()
			}()
		default:
			live = append(live, c)
			next = earliest(next, c.killAt)
		}
	}
	clear(d.closing[len(live):])
	d.closing = live
	d.killAt = next
}

// end ends the driver; lock held. Every connection is asked to close,
// every parked command and pending request gets its outcome, and done is
// closed.
func (d *driver) end() {
	d.ended = true
	d.cancel()
	d.dialStop()
	for _, c := range d.conns {
		c.close(proto.CloseGoingAway, "closed")
	}
	for _, q := range d.parked {
		for _, o := range q {
			d.outcome(o, result{err: session.ErrClosed})
		}
	}
	d.parked, d.nparked = nil, 0
	d.endFlushes()
	for id, o := range d.calls {
		delete(d.calls, id)
		d.outcome(o, result{err: session.ErrClosed})
	}
	d.timer.Stop()
	d.timerAt = time.Time{}
	d.dropSpareWatch()
	d.retireWorkers()
	close(d.done)
}

// attach steps a new connection; false (and t closed) once the driver has
// ended or is draining.
func (d *driver) attach(t Conn, fromDial bool) bool { return d.attachWith(t, fromDial, "", nil, nil) }

// attachFrom is attach for a server connection from source src, whose
// Authorize hook may see info.
func (d *driver) attachFrom(t Conn, fromDial bool, src string, info *peerInfo) bool {
	return d.attachWith(t, fromDial, src, info, nil)
}

// attachDialed attaches a connection the client dialed, with the
// credentials for its HELLO when ClientOptions.Credentials gave them.
func (d *driver) attachDialed(t Conn, auth []byte) { d.attachWith(t, true, "", nil, auth) }

func (d *driver) attachWith(t Conn, fromDial bool, src string, info *peerInfo, auth []byte) bool {
	now := d.lock()
	if fromDial {
		// This attempt answers every Dial the machine asked for meanwhile.
		d.dialing, d.dialAt = false, time.Time{}
	}
	if d.ended || d.draining {
		if !d.ended {
			d.settle(0) // the last dial may have been what draining waited for
		}
		d.unlock()
		t.Close(proto.CloseGoingAway, "closed")
		return false
	}
	d.nextConn++
	c := &conn{d: d, id: d.nextConn, t: t}
	d.conns[c.id] = c
	if d.creds != nil {
		d.eng.step(now, session.SetAuth{Auth: auth})
	}
	in := session.Connected{Conn: c.id, Source: src}
	if info != nil {
		in.Transport = info
	}
	if err := d.eng.step(now, in); err != nil {
		d.log.Debug("connection refused", "conn", c.id, "err", err)
		c.close(proto.CloseGoingAway, "closed")
	} else {
		d.log.Debug("connected", "conn", c.id)
		d.eng.connected(c)
	}
	if ri, ok := t.(ReadInterrupter); ok && d.callerReads {
		c.ri = ri
	}
	if d.callerReads {
		d.startReader(c)
		d.settle(0)
	} else {
		d.settle(0)
		d.readOrForget(c) // a server refuses connections by the thousand under attack
	}
	d.unlock()
	return true
}

// recv steps a message that arrived on c; called by whoever reads c: its
// reader goroutine numbered gen, or the caller waiting for o (reading.go).
//
// Messages are stepped in the order they were read, whoever gets the lock
// first: a reader queues its message, then steps every queued message under
// the lock. The mutex is not first come, first served, and the order
// matters across connections too: a client's HELLO on a connection it has
// given up must not be stepped after the HELLO on its next connection.
//
// A reader goroutine gets the event queue of c's session back when the
// step started it: the reader runs it inline. keep reports whether the
// reader goes on reading: a reader goroutine of a client steps aside once
// it has handed a waiting caller its response and nothing else waits; a
// caller stops once its own outcome is decided (and has given the role
// back). yield says that the step started a writer (an ACK, usually) or
// fed one past yieldAt: a reader goroutine yields to it before it reads
// on (see yieldAt).
func (d *driver) recv(c *conn, msg []byte, gen uint64, o *op) (q *eventQueue, keep, yield bool) {
	d.rmu.Lock()
	d.rq = append(d.rq, inbound{c, msg})
	d.rmu.Unlock()
	now := d.lock()
	d.self, d.resolved = o, false
	if d.stepReceived(now) {
		d.settleReceived()
	}
	if c.rest != nil {
		d.stepRest(c) // a message of many frames, in slices (fair.go)
	}
	d.self = nil
	keep = true
	switch {
	case o != nil:
		if o.state == opDone {
			d.release(c, o, false)
			keep = false
		}
	case c.rgen != gen || c.role != readGo:
		keep = false // a newer reader took over
	default:
		q = d.takeInline(c)
		if c.ri != nil && d.resolved && len(d.calls) == 0 && d.nparked == 0 && d.conns[c.id] == c {
			d.free(c)
			keep = false
		}
	}
	wait := d.idleWait(c)
	yield = d.yield || slices.ContainsFunc(d.sig, func(s signal) bool { return s.c != nil })
	d.unlock()
	if wait > 0 {
		d.pause(wait) // c floods messages that deliver nothing (fair.go)
	}
	return q, keep, yield
}

type inbound struct {
	c   *conn
	msg []byte
}

// stepReceived steps the queued messages, in order; lock held. It reports
// whether it stepped any.
func (d *driver) stepReceived(now time.Time) bool {
	d.rmu.Lock()
	rq := d.rq
	d.rq, d.rqSpare = d.rqSpare[:0], nil
	d.rmu.Unlock()
	if len(rq) == 0 {
		d.rqSpare = rq
		return false
	}
	stepped := false
	for _, r := range rq {
		if !d.ended && d.conns[r.c.id] == r.c {
			d.eng.recv(now, r.c.id, r.msg)
			d.stepped(r.c, r.msg)
			if !r.c.first {
				r.c.learn(d.eng.peerMax(r.c.id))
			}
			stepped = true
		}
	}
	clear(rq)
	if cap(rq) <= idleCap {
		d.rqSpare = rq[:0]
	}
	return stepped
}

// closed steps the end of c; called by c's reader as it ends.
func (d *driver) closed(c *conn, err error) {
	now := d.lock()
	if d.conns[c.id] == c {
		delete(d.conns, c.id)
		if errors.Is(err, codec.ErrTooLarge) {
			d.log.Warn("message over the size limit", "conn", c.id, "err", err)
			c.write(tooLarge)
			c.close(proto.CloseTooLarge, tooLargeReason)
		} else {
			d.log.Debug("disconnected", "conn", c.id, "err", err)
			c.close(proto.CloseGoingAway, "")
		}
		if !d.ended {
			d.eng.step(now, session.Disconnected{Conn: c.id, Err: err})
			d.progress = true
			d.settle(0)
		}
	}
	d.unlock()
}

// startDial starts the dial the client machine asked for; lock held.
func (d *driver) startDial() {
	d.dialAt = time.Time{}
	if d.dial == nil || d.dialing || d.ended || d.dialCtx.Err() != nil {
		return
	}
	if d.firstErr != nil {
		return // Dial gave up
	}
	d.dialing = true
	base := d.dialCtx
	if d.firstCtx != nil {
		base = d.firstCtx
	}
	ctx, cancel := context.WithTimeout(base, d.dialTimeout)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		var auth []byte
		if d.creds != nil {
			a, err := d.creds(ctx)
			if err != nil {
				d.dialFailed(fmt.Errorf("adapters: credentials: %w", err))
				return
			}
			auth = bytes.Clone(a)
		}
		t, err := d.dial(ctx)
		if err != nil {
			d.dialFailed(err)
			return
		}
		d.attachDialed(t, auth)
	}()
}

func (d *driver) dialFailed(err error) {
	now := d.lock()
	d.dialing, d.dialAt = false, time.Time{} // the machine asks again, with its backoff
	if !d.ended {
		if ce, ok := d.eng.(*clientEngine); ok {
			ce.connectFailed(err)
		}
		d.eng.step(now, session.Disconnected{Err: err})
		d.progress = true
		d.settle(0)
	}
	d.unlock()
}

// attemptFailed notes a failed connection attempt (a dial, or a connection
// lost before its session was established) while Dial is still waiting;
// with failFast, Dial gives up with err. Lock held.
func (d *driver) attemptFailed(err error) {
	if d.firstCtx == nil {
		return
	}
	d.lastDialErr = err
	if d.failFast && d.firstErr == nil {
		d.firstErr = err
		close(d.gaveUp)
	}
}

// triggerKill closes every connection at once, without waiting for writers
// (one may be stuck on a peer that does not read), and makes paused readers
// give up.
func (d *driver) triggerKill() {
	d.killOnce.Do(func() {
		d.dialStop()
		close(d.kill)
		d.killConns()
	})
}

// killConns kills every live connection, each on a goroutine of its own.
func (d *driver) killConns() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		d.wg.Add(1) // c's reader is still counted: wg is not at zero
		go func() {
			defer d.wg.Done()
			c.kill()
		}()
	}
}

// wait waits for the driver to end, then for the transport goroutines, then
// for the handlers. When ctx expires first, connections are killed and
// ctx.Err() is returned; the handlers still running are not waited for,
// nor is a connection's goroutine that is running one inline (a handler
// that ignores its ctx must not hold Close past its deadline).
func (d *driver) wait(ctx context.Context) error {
	select {
	case <-d.done:
	case <-ctx.Done():
		d.triggerKill()
		<-d.done
	}
	if err := waitGroup(ctx, &d.wg); err != nil {
		d.triggerKill()
		d.killConns()
		return err
	}
	return waitGroup(ctx, &d.hwg)
}

func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	ch := make(chan struct{})
	go func() {
		wg.Wait()
		close(ch)
	}()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stats returns the machine's counters. It takes the machine's lock, which
// is held only while the machine steps; inside a server hook (Authorize,
// AllowRoom), which runs under that lock, it returns the counters as of the
// hook's start instead of waiting for itself.
func (d *driver) stats() session.Stats {
	if d.inHook.Load() {
		d.smu.Lock()
		defer d.smu.Unlock()
		return d.hookStats
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.eng.stats()
}

// hook runs a server hook, which the machine calls under the lock, with the
// counters of the moment set aside for it (see stats).
func hook[T, R any](d *driver, f func(T) R) func(T) R {
	if f == nil {
		return nil
	}
	return func(req T) R {
		st := d.eng.stats()
		d.smu.Lock()
		d.hookStats = st
		d.smu.Unlock()
		d.inHook.Store(true)
		defer d.inHook.Store(false)
		return f(req)
	}
}
