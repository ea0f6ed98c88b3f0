package adapters

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// The driver runs one machine (a session.Client or a session.Server) over
// real transports. It is the only code of the library with goroutines and
// the wall clock:
//
//   - the loop goroutine owns the machine: every Step and Ready happens
//     there. It wakes on a transport event, an application command or its
//     timer; it then takes every input that has arrived (inbox.go), steps a
//     Timeout when the machine's deadline has passed, retries commands
//     parked under backpressure when something arrived, and calls Ready
//     once, so that acknowledgements coalesce and frames share transport
//     messages. Outcomes and writer wake-ups are handed over last
//     (endCycle);
//   - one reader goroutine per connection feeds Recv and Disconnected;
//   - one writer goroutine per connection, the only one that writes to it,
//     writes what the Readys produced (batched, see conn) and closes the
//     connection when the machine hangs it up;
//   - one handler goroutine per session event queue, alive while events
//     wait, calls the application's handlers in order;
//   - the client's dials run on goroutines of their own.
//
// The loop never blocks on I/O or on the application: writers and handler
// queues take what it gives them without waiting, and what they hold is
// bounded by the machine's windows (writers) and by pausing the reader of a
// session whose handlers fall behind (queues).
type driver struct {
	eng    engine
	h      handlers
	log    *slog.Logger
	dec    *codec.Decoder // for CLOSE codes and limits in the messages it looks at
	maxMsg int            // this side's message size limit
	qmax   int            // handler queue limit

	in   inbox
	done chan struct{} // closed when the loop has ended
	kill chan struct{} // closed to make the loop close every connection at once

	killOnce sync.Once
	ctx      context.Context // handlers' context; cancelled when closing begins
	cancel   context.CancelFunc
	wg       sync.WaitGroup // loop, readers, writers, dialers
	hwg      sync.WaitGroup // handler goroutines

	// Owned by the loop.
	conns    map[session.ConnID]*conn
	nextConn session.ConnID
	nextCall uint64
	calls    map[uint64]*op
	replies  []reply // outcomes to hand over at the end of the cycle
	async    []reply // outcomes of ops nobody waits for
	wakeups  []*conn // writers to wake at the end of the cycle
	parked   map[proto.ClientID][]*op
	nparked  int
	now      time.Time // of the current cycle
	held     []*conn   // connections holding back a standalone ACK
	deadline time.Time
	progress bool // something arrived or timed out: parked commands may fit now
	// mustReady: the cycle stepped something that may produce events.
	mustReady bool
	exit      bool // leave the loop after this cycle
	draining  bool // server shutdown: leave once every connection is gone

	// Client dialing, owned by the loop.
	dial        DialFunc
	dialTimeout time.Duration
	dialAt      time.Time
	dialing     bool

	smu   sync.Mutex // guards the snapshot below
	stats session.Stats
	id    proto.ClientID
}

// engine is what differs between the client and the server.
type engine interface {
	step(now time.Time, in session.Input) error
	// ready drains the machine's Ready, applies it and returns the deadline.
	ready(now time.Time) time.Time
	// connected learns about a connection the machine accepted.
	connected(c *conn)
	// canDefer reports whether Ready may wait until the writer has
	// written what it has: true when output is all that Ready would
	// produce and the writer would only queue it.
	canDefer() bool
	snapshot() (session.Stats, proto.ClientID)
}

// handlers are the application's callbacks.
type handlers struct {
	msg MessageHandler
	req RequestHandler
	ev  EventHandler
}

// netQueue bounds the transport events waiting for the loop.
const netQueue = 256

type evKind uint8

const (
	evConnected  evKind = iota // t is a new connection
	evRecv                     // c received data
	evClosed                   // c's reader ended with err
	evDialFailed               // a dial ended with err
	evWritten                  // c's writer has written everything it had
)

type netEvent struct {
	kind     evKind
	fromDial bool
	c        *conn
	t        Conn
	data     []byte
	err      error
}

// withSide returns log (or a logger that discards everything, when nil)
// with the side attribute.
func withSide(log *slog.Logger, side string) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log.With("side", side)
}

func newDriver(eng engine, h handlers, log *slog.Logger, maxMsg, qmax int) *driver {
	if qmax <= 0 {
		qmax = DefaultMaxPendingEvents
	}
	d := &driver{
		eng:    eng,
		h:      h,
		log:    log,
		dec:    codec.NewDecoder(codec.Limits{MaxMessageSize: maxMsg}),
		maxMsg: maxMsg,
		qmax:   qmax,
		in:     newInbox(),
		done:   make(chan struct{}),
		kill:   make(chan struct{}),
		conns:  make(map[session.ConnID]*conn),
		calls:  make(map[uint64]*op),
		parked: make(map[proto.ClientID][]*op),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

func (d *driver) start() {
	d.wg.Add(1)
	go d.run()
}

// post hands a transport event to the loop; false once the loop has ended.
func (d *driver) post(ev netEvent) bool { return d.in.push(input{ev: ev}, d.done) }

func (d *driver) run() {
	defer d.wg.Done()
	defer d.finish()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var wakeAt time.Time
	kill := d.kill
	for {
		items := d.in.take()
		if items == nil {
			select {
			case <-d.in.wake:
				items = d.in.take()
			case <-timer.C:
				wakeAt = time.Time{}
			case <-kill:
				kill = nil
				d.killAll()
			}
		}
		now := time.Now()
		d.now = now
		for _, in := range items {
			if in.o != nil {
				d.onOp(now, in.o)
			} else {
				d.onNet(now, in.ev)
			}
		}
		if !d.dialAt.IsZero() && !now.Before(d.dialAt) {
			d.startDial()
		}
		if !d.deadline.IsZero() && !now.Before(d.deadline) {
			d.eng.step(now, session.Timeout{})
			d.progress = true
		}
		if d.progress && d.nparked > 0 {
			d.retryParked(now)
		}
		if d.progress || d.mustReady || !d.eng.canDefer() {
			// Otherwise only Sends were stepped, and the writer is busy:
			// their frames wait in the machine and go out in one message
			// when the writer is done (it posts evWritten).
			d.deadline = d.eng.ready(now)
		}
		d.progress, d.mustReady = false, false
		if d.exit || (d.draining && len(d.conns) == 0 && !d.dialing) {
			return // finish ends the cycle
		}
		// The timer is moved earlier when needed, never later: a timer
		// that fires early costs one idle cycle, which is cheaper than
		// resetting it on every message (each one moves the idle deadline).
		next := earliest(earliest(d.deadline, d.dialAt), d.releaseAcks(now))
		if !next.IsZero() && (wakeAt.IsZero() || next.Before(wakeAt)) {
			wakeAt = next
			timer.Reset(next.Sub(now))
		}
		// Last, so that the goroutines it wakes run as soon as the loop
		// waits again.
		d.endCycle()
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// releaseAcks writes the held ACKs that are due and returns when the next
// one is.
func (d *driver) releaseAcks(now time.Time) time.Time {
	var next time.Time
	live := d.held[:0]
	for _, c := range d.held {
		if c.held == nil {
			c.inHeld = false
			continue
		}
		due := c.heldAt.Add(ackDelay)
		if !now.Before(due) {
			c.releaseAck()
			c.inHeld = false
			continue
		}
		live = append(live, c)
		next = earliest(next, due)
	}
	clear(d.held[len(live):])
	d.held = live
	return next
}

// finish runs when the loop ends: every connection is asked to close,
// every waiting command and call gets its outcome, then done is closed.
func (d *driver) finish() {
	d.in.close()
	d.cancel()
	for _, c := range d.conns {
		c.close(proto.CloseGoingAway, "closed")
	}
	d.endCycle()
	for _, q := range d.parked {
		for _, o := range q {
			o.finish(result{err: session.ErrClosed})
		}
	}
	d.parked, d.nparked = nil, 0
	for id, o := range d.calls {
		delete(d.calls, id)
		o.res <- result{err: session.ErrClosed}
	}
	close(d.done)
}

func (d *driver) onNet(now time.Time, ev netEvent) {
	d.mustReady = true
	switch ev.kind {
	case evConnected:
		if ev.fromDial {
			d.dialing = false
		}
		d.nextConn++
		c := &conn{d: d, id: d.nextConn, t: ev.t, wake: make(chan struct{}, 1)}
		d.conns[c.id] = c
		d.wg.Add(1)
		go c.writeLoop()
		if err := d.eng.step(now, session.Connected{Conn: c.id}); err != nil {
			d.log.Debug("connection refused", "conn", c.id, "err", err)
			c.close(proto.CloseGoingAway, "closed")
		} else {
			d.log.Debug("connected", "conn", c.id)
			d.eng.connected(c)
		}
		d.wg.Add(1)
		go c.read()
	case evRecv:
		if d.conns[ev.c.id] == ev.c {
			if !ev.c.first {
				ev.c.learn(d.dec, ev.data, d.maxMsg)
			}
			d.eng.step(now, session.Recv{Conn: ev.c.id, Data: ev.data})
			d.progress = true
		}
	case evClosed:
		c := ev.c
		if d.conns[c.id] != c {
			return
		}
		delete(d.conns, c.id)
		if errors.Is(ev.err, codec.ErrTooLarge) {
			d.log.Warn("message over the size limit", "conn", c.id, "err", ev.err)
			c.write(tooLarge)
			c.close(proto.CloseTooLarge, tooLargeReason)
		} else {
			d.log.Debug("disconnected", "conn", c.id, "err", ev.err)
			c.close(proto.CloseGoingAway, "")
		}
		d.eng.step(now, session.Disconnected{Conn: c.id, Err: ev.err})
		d.progress = true
	case evDialFailed:
		d.dialing = false
		d.log.Debug("dial failed", "err", ev.err)
		d.eng.step(now, session.Disconnected{Err: ev.err})
		d.progress = true
	case evWritten:
		// Ready runs this cycle.
	}
}

func (d *driver) startDial() {
	d.dialAt = time.Time{}
	if d.dial == nil || d.dialing || d.ctx.Err() != nil {
		return
	}
	d.dialing = true
	ctx, cancel := context.WithTimeout(d.ctx, d.dialTimeout)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		t, err := d.dial(ctx)
		if err != nil {
			d.post(netEvent{kind: evDialFailed, err: err})
			return
		}
		if !d.post(netEvent{kind: evConnected, fromDial: true, t: t}) {
			t.Close(proto.CloseGoingAway, "client closed")
		}
	}()
}

// killAll closes every connection at once, without waiting for writers.
func (d *driver) killAll() {
	for _, c := range d.conns {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			c.kill()
		}()
	}
}

// triggerKill makes the loop close every connection at once.
func (d *driver) triggerKill() {
	d.killOnce.Do(func() { close(d.kill) })
}

// wait waits for the loop to end, then for the transport goroutines, then
// for the handlers. When ctx expires first, connections are killed and
// ctx.Err() is returned; the handlers still running are not waited for.
func (d *driver) wait(ctx context.Context) error {
	select {
	case <-d.done:
	case <-ctx.Done():
		d.triggerKill()
		<-d.done
	}
	if err := waitGroup(ctx, &d.wg); err != nil {
		var kills sync.WaitGroup
		for _, c := range d.conns { // the loop has ended: the map is ours
			kills.Go(c.kill)
		}
		kills.Wait()
		d.wg.Wait()
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

// publish copies the machine's counters and session ID out of the loop.
// Engines call it right after Ready, before they hand out events, so that
// whoever learns of an event sees counters at least that recent.
func (d *driver) publish() {
	st, id := d.eng.snapshot()
	d.smu.Lock()
	d.stats, d.id = st, id
	d.smu.Unlock()
}

// snapshot returns the counters and session ID as of the last loop cycle.
func (d *driver) snapshot() (session.Stats, proto.ClientID) {
	d.smu.Lock()
	defer d.smu.Unlock()
	return d.stats, d.id
}
