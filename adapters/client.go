package adapters

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Client is one logical session with a server that survives transport
// losses: it reconnects with backoff and resumes, and every message and
// request keeps its exactly-once, in-order guarantee across reconnects.
// Create one with a transport's Dial (gorilla.Dial, coder.Dial,
// netconn.Dial) or with [Dial]. A Client is safe for concurrent use.
type Client struct {
	d   *driver
	eng *clientEngine
}

// Peer is the side of a session an application talks to: a [*Client], or a
// server's view of one client ([Server.Peer]). The typed helpers ([Send],
// [Call], [Emit], [Invoke]) take a Peer.
type Peer interface {
	// Send queues payload as one reliable message, waiting while the send
	// window is full; see [Client.Send].
	Send(ctx context.Context, payload []byte) error
	// Request sends payload as a request and waits for its one outcome;
	// see [Client.Request].
	Request(ctx context.Context, payload []byte) ([]byte, error)
	// Emit is Send with an event name; see [Client.Emit].
	Emit(ctx context.Context, event string, payload []byte) error
	// Invoke is Request with a method name; see [Client.Invoke].
	Invoke(ctx context.Context, method string, payload []byte) ([]byte, error)
}

type clientEngine struct {
	d           *driver
	m           *session.Client
	cur         *conn
	q           *eventQueue
	established chan struct{}
	started     bool
	closed      *session.Closed // the machine's last event
	rooms       roomBook        // see rooms.go
	// open: the current connection is established (its session started
	// or resumed); failures: attempts failed since the last one was.
	open     bool
	failures int
	rd       session.Ready // the last Ready, whose memory the next reuses
}

// Dial connects to a server through dial and returns once the session is
// established (the server's WELCOME arrived). A failed connection attempt
// is retried with the same jittered backoff as a reconnect
// (session.ClientConfig's ReconnectMin and ReconnectMax), until ctx ends:
// a client started before its server comes up connects when the server
// does. When ctx ends first, Dial gives up and returns an error that
// matches ctx.Err() with errors.Is and names the last attempt's failure;
// nothing keeps running. With ClientOptions.FailFast, the first failed
// attempt ends Dial with its error instead. A server that refuses the
// client (Authorize, a closed session) ends Dial at once with its
// [*session.CloseError], whatever FailFast says. Every attempt, the first
// and each reconnect later, is bounded by ClientOptions.DialTimeout; the
// first ones are made with ctx (its values reach dial), later ones, made
// by the Client on its own after a loss, with a context of the Client's.
func Dial(ctx context.Context, dial DialFunc, opts ClientOptions) (*Client, error) {
	cfg := opts.Session
	linkDefaults(&cfg.LinkConfig)
	cfg.Secure = withSecure(opts.Secure, cfg.Secure)
	if err := cfg.Secure.Validate(false); err != nil {
		return nil, fmt.Errorf("adapters: ClientOptions.Secure: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	eng := &clientEngine{m: session.NewClient(cfg), established: make(chan struct{})}
	h := opts.Mux.routed(handlers{msg: opts.OnMessage, req: opts.OnRequest, ev: opts.OnEvent})
	d := newDriver(eng, h, withSide(opts.Logger, "client"), MaxMessageSize(cfg.LinkConfig), opts.MaxPendingEvents, opts.clock)
	eng.d = d
	eng.q = newEventQueue(d, d.qmax, keepReady)
	eng.q.rec = &recycler{give: eng.m.Recycle}
	d.dial = dial
	d.creds = opts.Credentials
	d.failFast = opts.FailFast
	d.gaveUp = make(chan struct{})
	d.callerReads = true
	d.writeTimeout, d.maxQueued = DefaultWriteTimeout, defaultMaxQueued(cfg.LinkConfig, 4<<20)
	d.dialTimeout = opts.DialTimeout
	if d.dialTimeout <= 0 {
		d.dialTimeout = cfg.HandshakeTimeout
		if d.dialTimeout <= 0 {
			d.dialTimeout = session.DefaultHandshakeTimeout
		}
	}
	// Until the session is established, dials are made with ctx; the
	// driver's end cancels them too.
	first, cancelFirst := context.WithCancel(ctx)
	defer cancelFirst()
	defer context.AfterFunc(d.dialCtx, cancelFirst)()
	c := &Client{d: d, eng: eng}
	d.ctx = context.WithValue(d.ctx, handlerKey{}, c)
	d.start()
	d.lock()
	d.firstCtx = first
	d.dialAt = d.now
	d.settle(0)
	d.unlock()
	select {
	case <-eng.established:
		return c, nil
	case <-d.gaveUp:
		c.abort(context.Background())
		return nil, d.firstErr
	case <-d.done:
		d.wait(context.Background())
		return nil, fmt.Errorf("adapters: dial: %w", c.Err())
	case <-ctx.Done():
		c.abort(context.Background())
		if last := c.lastFailure(); last != nil {
			return nil, fmt.Errorf("adapters: dial: %w (last attempt: %w)", ctx.Err(), last)
		}
		return nil, ctx.Err()
	}
}

// connectFailed reports a failed connection attempt, whatever the
// transport made of it: a dial error, or a connection that ended before
// WELCOME; lock held.
func (e *clientEngine) connectFailed(err error) {
	d := e.d
	e.failures++
	d.log.Debug("connection attempt failed", "attempt", e.failures, "err", err)
	d.attemptFailed(err)
	if d.h.ev != nil {
		e.q.push(&session.ConnectFailed{Attempt: e.failures, Err: err})
	}
}

// lastFailure returns why the last connection attempt failed, if one did.
func (c *Client) lastFailure() error {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	return c.d.lastDialErr
}

// ID returns the client's current session ID. It changes when a session is
// lost and a new one starts.
func (c *Client) ID() proto.ClientID {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	return c.eng.m.ID()
}

// Stats returns the machine's counters. It waits at most for one step of
// the machine (a few microseconds).
func (c *Client) Stats() session.Stats { return c.d.stats() }

// Done is closed when the client has ended: closed locally, closed by the
// server, or failed for good. Err then says why.
func (c *Client) Done() <-chan struct{} { return c.d.done }

// Err returns why the client ended: nil while it runs and after a local
// graceful close; the [*session.CloseError] when the server closed the
// session; another error otherwise. It is valid once Done is closed.
func (c *Client) Err() error {
	select {
	case <-c.d.done:
	default:
		return nil
	}
	if c.eng.closed == nil {
		return session.ErrClosed
	}
	return c.eng.closed.Err
}

// Send queues payload as one reliable message to the server, to be
// delivered exactly once and in order. It waits while the send window is
// full, until acknowledgements make room or ctx ends. A nil error means
// the message is queued (not yet acknowledged: a session that is lost later
// reports it in [session.SessionLost]); ctx.Err() means it was not queued.
// The client keeps its own copy of payload.
func (c *Client) Send(ctx context.Context, payload []byte) error {
	return c.sendOwned(ctx, "", bytes.Clone(payload))
}

// Emit is Send with an event name: the server routes the message to the
// handler its [Mux] has for event (see [Mux]). event must be valid UTF-8 of
// at most proto.MaxNameLen bytes (session.ErrInvalid otherwise); "" sends
// an unnamed message, as Send does.
func (c *Client) Emit(ctx context.Context, event string, payload []byte) error {
	return c.sendOwned(ctx, event, bytes.Clone(payload))
}

func (c *Client) sendOwned(ctx context.Context, name string, payload []byte) error {
	return c.d.send(ctx, proto.ClientID{}, session.Send{Name: name, Payload: payload})
}

// Request sends payload as a request and waits for its one outcome: the
// response payload, or an error: a [*session.RemoteError] when the server
// answered with an error, session.ErrRequestTimeout when no response came
// within the request timeout (counted from when it was first sent),
// session.ErrSessionLost when the session ended first, or ctx.Err() when
// ctx ended first (the request may have been sent; its response is then
// dropped). Like Send, it waits for room in the send window and for a free
// request slot.
func (c *Client) Request(ctx context.Context, payload []byte) ([]byte, error) {
	return c.requestOwned(ctx, "", bytes.Clone(payload))
}

// Invoke is Request with a method name: the server routes the request to
// the handler its [Mux] has for method, and answers proto.ErrCodeNotFound
// when it has none. The name rules are Emit's.
func (c *Client) Invoke(ctx context.Context, method string, payload []byte) ([]byte, error) {
	return c.requestOwned(ctx, method, bytes.Clone(payload))
}

func (c *Client) requestOwned(ctx context.Context, name string, payload []byte) ([]byte, error) {
	r := c.d.call(ctx, proto.ClientID{}, session.Call{Name: name, Payload: payload})
	return r.payload, r.err
}

// Publish delivers payload, named event ("" for none), to every other
// member of room, through the server, and waits for the server's answer:
// nil when every other member has it queued (each gets it exactly once,
// with Message.Room and Message.Name set; the publisher does not get its
// own message back). Otherwise a [*session.RemoteError]:
// proto.ErrCodeForbidden when this session is not a member of room or the
// server's AllowPublish hook refused (nobody got it), or
// proto.ErrCodeUnavailable when members whose send windows were full were
// skipped (the others got it; do not publish again blindly). Like Request,
// it may also fail with session.ErrRequestTimeout, session.ErrSessionLost
// or ctx.Err(). The server application sees an accepted publish as a
// message with Room set.
func (c *Client) Publish(ctx context.Context, room, event string, payload []byte) error {
	return c.publishOwned(ctx, room, event, bytes.Clone(payload))
}

func (c *Client) publishOwned(ctx context.Context, room, event string, payload []byte) error {
	return c.d.request(ctx, proto.ClientID{}, session.Publish{Room: room, Name: event, Payload: payload}).err
}

// Join asks the server to add this session to room and waits for the
// answer: nil, or a [*session.RemoteError] (proto.ErrCodeForbidden when the
// server's AllowRoom hook refused). Membership survives reconnects.
func (c *Client) Join(ctx context.Context, room string) error {
	return c.d.request(ctx, proto.ClientID{}, session.JoinRoom{Room: room}).err
}

// Leave asks the server to remove this session from room, like Join.
func (c *Client) Leave(ctx context.Context, room string) error {
	return c.d.request(ctx, proto.ClientID{}, session.LeaveRoom{Room: room}).err
}

// Close ends the session gracefully: it stops accepting new messages,
// waits (up to the machine's CloseTimeout, or until ctx ends) for the server
// to acknowledge everything pending, reconnecting at once and resuming if
// the connection is or gets lost, sends CLOSE, and waits for every
// goroutine of the client, handlers included, to finish. It returns nil
// when nothing was lost, a [*LostError] listing what the server never
// acknowledged, the error that ended the client if it had already ended, or
// ctx.Err() when ctx ended first (the session is then aborted and its
// connections closed at once). A handler that calls Close waits for itself:
// do it from a new goroutine, or expect ctx.Err().
func (c *Client) Close(ctx context.Context) error {
	c.d.do(ctx, session.Close{Reason: "client closed"})
	c.d.cancel()
	select {
	case <-c.d.done:
	case <-ctx.Done():
		return c.abort(ctx)
	}
	if err := c.d.wait(ctx); err != nil {
		return err
	}
	return c.closeErr()
}

// abort ends the session at once and waits for the goroutines.
func (c *Client) abort(ctx context.Context) error {
	c.d.do(context.Background(), session.Abort{Reason: "client aborted"})
	c.d.triggerKill()
	err := c.d.wait(ctx)
	if err == nil {
		err = ctx.Err()
	}
	return err
}

func (c *Client) closeErr() error {
	cl := c.eng.closed
	if cl == nil {
		return session.ErrClosed
	}
	if len(cl.Lost.Unacked) > 0 || len(cl.Lost.Requests) > 0 {
		return &LostError{Cause: cl.Err, Lost: cl.Lost}
	}
	return cl.Err
}

func (e *clientEngine) step(now time.Time, in session.Input) error { return e.m.Step(now, in) }

func (e *clientEngine) recv(now time.Time, conn session.ConnID, data []byte) error {
	e.q.giveBackNow() // for the messages this one brings
	return e.m.Step(now, session.Recv{Conn: conn, Data: data})
}

func (e *clientEngine) call(now time.Time, in session.Call) error { return e.m.Step(now, in) }

func (e *clientEngine) send(now time.Time, in session.Send) error { return e.m.Step(now, in) }

func (e *clientEngine) reply(now time.Time, in session.Reply) error { return e.m.Step(now, in) }

func (e *clientEngine) stats() session.Stats { return e.m.Stats() }

func (e *clientEngine) readable() *conn { return e.cur }

func (e *clientEngine) peerMax(conn session.ConnID) int {
	if e.cur == nil || e.cur.id != conn {
		return 0
	}
	return e.m.PeerMaxMessageSize()
}

func (e *clientEngine) canDefer(size int) bool { return e.cur != nil && e.cur.deferReady(size) }

func (e *clientEngine) connected(c *conn) {
	e.cur = c
	c.q.Store(e.q)
}

func (e *clientEngine) readyConn(_ *conn, now time.Time) time.Time { return e.ready(now) }

func (e *clientEngine) ready(now time.Time) time.Time {
	rd := &e.rd
	e.m.ReadyInto(rd)
	if e.cur != nil {
		if len(rd.Transmit) > 0 {
			e.cur.write(rd.Transmit...)
		}
		if rd.Hangup {
			var last []byte
			if n := len(rd.Transmit); n > 0 {
				last = rd.Transmit[n-1]
			}
			e.cur.close(closeCode(e.d.dec, last))
			e.cur = nil
		}
	}
	// The events for q move to the front of rd.Events, in order, and are
	// pushed together.
	n := 0
	for i, ev := range rd.Events {
		if e.route(now, ev) {
			if n != i {
				rd.Events[n] = ev
			}
			n++
		}
	}
	e.q.pushAll(&rd.Events, n)
	recycleReady(&rd.Transmit, &rd.Events)
	return rd.Deadline
}

// route acts on ev and reports whether it goes to the handlers' queue.
func (e *clientEngine) route(now time.Time, ev session.Event) bool {
	d := e.d
	switch ev := ev.(type) {
	case *session.Dial:
		d.dialAt = ev.At
		if !d.dialAt.After(now) {
			d.dialAt = now
		}
		return false
	case *session.Response:
		if o := d.calls[ev.ID]; o != nil {
			e.noteRoom(o, ev)
			d.resolveOp(o, ev)
		}
		return false
	case *session.Delivered:
		return d.h.msg != nil
	case *session.RequestReceived:
		return true
	case *session.SessionStarted:
		d.log.Info("session started", "client", ev.Client.String())
		if !e.started {
			e.started = true
			d.firstCtx, d.lastDialErr = nil, nil
			close(e.established)
		}
		e.sessionStarted(ev.Client)
		e.open, e.failures = true, 0
	case *session.Resumed:
		d.log.Info("session resumed", "client", ev.Client.String())
		e.open, e.failures = true, 0
	case *session.ConnectionLost:
		if !e.open {
			e.connectFailed(ev.Err) // an attempt, not an established connection
			return false
		}
		e.open = false
		d.log.Debug("connection lost", "err", ev.Err)
	case *session.SessionLost:
		d.log.Warn("session lost", "client", ev.Client.String(), "err", ev.Err, "lost", ev.Lost.String())
		e.sessionLost()
	case *session.Closed:
		d.log.Info("session closed", "client", ev.Client.String(), "err", ev.Err, "lost", ev.Lost.String())
		e.closed = ev
		d.exit = true
	}
	return d.h.ev != nil
}

var _ Peer = (*Client)(nil)
