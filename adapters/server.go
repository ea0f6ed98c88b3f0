package adapters

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Server is the hub for many clients: it runs one session.Server over every
// connection handed to it by a transport (gorilla.Server and coder.Server
// are http.Handlers; netconn.Server serves a net.Listener). Sessions
// survive reconnects within the resume window; rooms, requests and
// broadcasts keep their exactly-once, in-order guarantee per session. A
// Server is safe for concurrent use.
type Server struct {
	d      *driver
	eng    *serverEngine
	maxMsg int
	source SourceFunc
	// addrSource: Source is DefaultSource, which names a source from the
	// remote address alone (AdmittingListener can use it at accept).
	addrSource bool

	slow SlowPolicy
	// grace is ServerOptions.ShutdownTimeout with its default.
	grace time.Duration

	mu        sync.Mutex
	closing   bool
	listeners map[Listener]struct{}
}

type serverEngine struct {
	d      *driver
	m      *session.Server
	queues map[proto.ClientID]*eventQueue
	// lastQ is the queue of session lastID, the one queue found last:
	// the events of a Ready are mostly of one session, and hashing an ID
	// for the map costs more than comparing it.
	lastID proto.ClientID
	lastQ  *eventQueue
	connQ  *eventQueue         // events of connections without a session
	rd     session.ServerReady // the last Ready, whose memory the next reuses
	// refused counts upgrades refused before they reached the machine
	// (AdmitsHTTP), added to its Throttled counter.
	refused uint64
	// auth is ServerOptions.Authenticate, bounded by authTimeout; ids are
	// the identities it gave (identity.go).
	auth        func(context.Context, session.AuthRequest) (Identity, error)
	authTimeout time.Duration
	ids         identities
}

// NewServer returns a running Server with no connections. Hand it
// connections with [Server.Attach] or [Server.Serve]; stop it with
// [Server.Close].
func NewServer(opts ServerOptions) *Server {
	cfg := opts.Session
	linkDefaults(&cfg.LinkConfig)
	cfg.Secure = withSecure(opts.Secure, cfg.Secure)
	if err := cfg.Secure.Validate(true); err != nil {
		panic("adapters: ServerOptions.Secure: " + err.Error())
	}
	switch {
	case cfg.MaxFramesPerStep == 0:
		cfg.MaxFramesPerStep = DefaultMaxFramesPerStep
	case cfg.MaxFramesPerStep < 0:
		cfg.MaxFramesPerStep = 0 // every frame in one step
	}
	if opts.SlowMembers == EndSlow {
		cfg.CloseSlowConsumers = true
	}
	eng := &serverEngine{queues: make(map[proto.ClientID]*eventQueue)}
	h := opts.Mux.routed(handlers{msg: opts.OnMessage, req: opts.OnRequest, ev: opts.OnEvent})
	maxMsg := MaxMessageSize(cfg.LinkConfig)
	d := newDriver(eng, h, withSide(opts.Logger, "server"), maxMsg, opts.MaxPendingEvents, opts.clock)
	cfg.Authorize, cfg.AllowRoom, cfg.AllowPublish = hook(d, cfg.Authorize), hook(d, cfg.AllowRoom), hook(d, cfg.AllowPublish)
	d.writeTimeout, d.maxQueued = opts.WriteTimeout, opts.MaxQueuedBytes
	if d.writeTimeout == 0 {
		d.writeTimeout = DefaultWriteTimeout
	}
	if d.maxQueued == 0 {
		d.maxQueued = defaultMaxQueued(cfg.LinkConfig, 1<<20)
	}
	if rate := opts.MaxIdleRate; rate >= 0 {
		if rate == 0 {
			rate = DefaultMaxIdleRate
		}
		d.idleEvery, d.idleBurst = time.Second/time.Duration(rate), rate
	}
	if opts.Authenticate != nil {
		cfg.DeferAuthorize = true
		eng.auth, eng.authTimeout = opts.Authenticate, opts.AuthTimeout
		if eng.authTimeout <= 0 {
			eng.authTimeout = DefaultAuthTimeout
		}
		eng.ids = identities{by: make(map[proto.ClientID]Identity), users: make(map[string][]proto.ClientID), pending: make(map[session.ConnID]Identity)}
	}
	eng.m, eng.d = session.NewServer(cfg), d
	d.server = eng.m
	eng.connQ = newEventQueue(d, d.qmax, idleCap)
	s := &Server{d: d, eng: eng, maxMsg: maxMsg, source: opts.Source, slow: opts.SlowMembers, listeners: make(map[Listener]struct{})}
	d.ctx = context.WithValue(d.ctx, handlerKey{}, s)
	if s.source == nil {
		s.source, s.addrSource = DefaultSource, true
	}
	if s.grace = opts.ShutdownTimeout; s.grace <= 0 {
		s.grace = DefaultShutdownTimeout
	}
	d.start()
	return s
}

// MaxMessageSize is the message size limit transports must enforce on
// connections they attach.
func (s *Server) MaxMessageSize() int { return s.maxMsg }

// DefaultShutdownTimeout is the default ServerOptions.ShutdownTimeout.
const DefaultShutdownTimeout = 10 * time.Second

// ShutdownTimeout is how long a transport's Run gives Close once its ctx
// has ended: ServerOptions.ShutdownTimeout, or its default.
func (s *Server) ShutdownTimeout() time.Duration { return s.grace }

// Attach hands the server a new transport connection; the server owns it
// from then on. It does not wait for the handshake. After Close has begun
// it closes t and returns ErrServerClosed. When t has a RemoteAddr()
// net.Addr method (netconn's connections do), the address names its source
// (see ServerOptions.Source) and the Authorize hook sees it ([RemoteAddr]).
//
// When t has a NetConn() net.Conn method (netconn's connections do) that
// returns a *tls.Conn, the Authorize and Authenticate hooks see its TLS
// state ([TLSState]).
func (s *Server) Attach(t Conn) error {
	var remote net.Addr
	if a, ok := t.(remoteAddresser); ok {
		remote = a.RemoteAddr()
	}
	return s.attach(t, remote, nil)
}

// AttachHTTP is Attach for a WebSocket upgraded from r (gorilla's and
// coder's servers call it): its source and remote address come from r,
// and the Authorize hook sees r ([HTTPRequest]) until the handshake ends.
func (s *Server) AttachHTTP(t Conn, r *http.Request) error {
	return s.attach(t, httpAddr(r), r)
}

// AdmitsHTTP reports whether the server would admit a WebSocket upgraded
// from r now, rather than close it at once for a per-source or global
// limit on connections awaiting HELLO. gorilla's and coder's servers ask
// it before the upgrade and answer 503 Service Unavailable instead, which
// a flood of connections makes much cheaper; clients retry either way.
func (s *Server) AdmitsHTTP(r *http.Request) bool { return s.admits(s.source(httpAddr(r), r), 0) }

// admits reports whether the server would admit a connection from src
// now, with waiting more of its connections held unattached, counting a
// refusal in Throttled.
func (s *Server) admits(src string, waiting int) bool {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	ok := !d.ended && !d.draining && s.eng.m.AdmitsWaiting(src, waiting)
	if !ok {
		s.eng.refused++
	}
	return ok
}

// AdmittingListener returns l wrapped so that a connection from a source
// the server would refuse now, for its limits on connections awaiting
// HELLO (see AdmitsHTTP), is closed as soon as it is accepted. Serve a
// WebSocket server's handler on it (http.Server.Serve, beneath any TLS
// listener): a refused connection then costs no goroutine, no buffers and
// no HTTP request of the http.Server's, which under a flood of connections
// from a few sources is most of their cost to the server and to its
// honest clients. The refused client sees its connection closed before
// any HTTP response (a failed dial, which a reconnecting client retries
// after its backoff) instead of a 503; refusals count in Throttled.
//
// A connection accepted counts as awaiting HELLO, against
// MaxPendingPerSource, until it sends its first bytes (or closes), so
// that connections that never send their upgrade request are limited per
// source too; the http.Server's ReadHeaderTimeout still bounds how long
// each is kept.
//
// The source is named from the remote address alone, so this works with
// the default ServerOptions.Source only: when Source is set (behind a
// reverse proxy, where it reads a header of the request), it returns l
// itself, and the handler refuses instead. The transports' Run serves on
// it.
func (s *Server) AdmittingListener(l net.Listener) net.Listener {
	if !s.addrSource {
		return l
	}
	return &admittingListener{Listener: l, s: s, waiting: make(map[string]int)}
}

type admittingListener struct {
	net.Listener
	s       *Server
	mu      sync.Mutex
	waiting map[string]int // per source, connections that have sent nothing yet
}

// Accept returns the next connection the server admits, closing the ones
// it refuses.
func (l *admittingListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := DefaultSource(nc.RemoteAddr(), nil)
		l.mu.Lock()
		ok := l.s.admits(src, l.waiting[src])
		if ok && src != "" {
			l.waiting[src]++
		}
		l.mu.Unlock()
		switch {
		case !ok:
			nc.Close()
		case src == "":
			return nc, nil
		default:
			return &waitingConn{Conn: nc, l: l, src: src}, nil
		}
	}
}

// waitingConn is an admitted connection, counted as waiting until it
// sends something or closes.
type waitingConn struct {
	net.Conn
	l    *admittingListener
	src  string
	done atomic.Bool // no longer counted
}

func (c *waitingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if !c.done.Load() && (n > 0 || err != nil) {
		c.stopWaiting()
	}
	return n, err
}

func (c *waitingConn) Close() error {
	c.stopWaiting()
	return c.Conn.Close()
}

// CloseWrite passes net/http's half-close through, where the connection
// has one (TCP).
func (c *waitingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// AdmittedSocket returns the connection c wraps once c has nothing left
// to count (it has read its first bytes), and nil before. A transport
// that hijacks the connection from net/http after the upgrade request
// writes to it directly then: a TCP connection's vectored writes, which
// net.Buffers makes only on the socket itself, would otherwise be two
// writes (and two segments) per large message. Closing it needs nothing
// of c any more.
func (c *waitingConn) AdmittedSocket() net.Conn {
	if c.done.Load() {
		return c.Conn
	}
	return nil
}

func (c *waitingConn) stopWaiting() {
	if !c.done.CompareAndSwap(false, true) {
		return
	}
	l := c.l
	l.mu.Lock()
	if l.waiting[c.src]--; l.waiting[c.src] <= 0 {
		delete(l.waiting, c.src)
	}
	l.mu.Unlock()
}

func (s *Server) attach(t Conn, remote net.Addr, r *http.Request) error {
	if s.isClosing() {
		t.Close(proto.CloseGoingAway, "server closed")
		return ErrServerClosed
	}
	var info *peerInfo
	if remote != nil || r != nil {
		info = &peerInfo{remote: remote, req: r}
	}
	if n, ok := t.(interface{ NetConn() net.Conn }); ok {
		if tc, ok := n.NetConn().(*tls.Conn); ok {
			if info == nil {
				info = &peerInfo{}
			}
			info.tls = tc
		}
	}
	if !s.d.attachFrom(t, false, s.source(remote, r), info) {
		return ErrServerClosed
	}
	return nil
}

// Serve accepts connections from l and attaches them until l fails or the
// server closes (then it returns ErrServerClosed). Close closes l.
func (s *Server) Serve(l Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var pause time.Duration
	for {
		t, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if !temporary(err) {
				return err
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.d.log.Warn("accept failed; retrying", "err", err, "in", pause)
			select {
			case <-time.After(pause):
			case <-s.d.ctx.Done():
				return ErrServerClosed
			}
			continue
		}
		pause = 0
		if s.refusedAtAccept(t) {
			continue
		}
		if err := s.Attach(t); err != nil {
			return err
		}
	}
}

// refusalFrame is the CLOSE a connection refused at accept is sent: the
// one the machine would send it (plaintext even when the server requires
// encryption, as every refusal before the handshake is).
var refusalFrame = func() []byte {
	b, err := codec.Encode(&proto.Close{Code: proto.CloseOverloaded, Reason: "too many connections await their handshake"})
	if err != nil {
		panic("adapters: encoding the refusal: " + err.Error())
	}
	return b
}()

// refusedAtAccept closes t, with the CLOSE overloaded the machine would
// send it, when the machine would refuse it at once for its limits on
// connections awaiting HELLO (as AdmitsHTTP lets WebSocket servers refuse
// before the upgrade). Under a flood of connections from a few sources,
// each refusal then costs the hub one lookup under its lock, instead of a
// step, a Ready and a writer, and honest connections wait less for the
// lock. It applies to connections with a NetConn() net.Conn method
// (netconn's), whose write deadline bounds the refusal's goroutine; other
// transports' connections are refused by the machine as before.
func (s *Server) refusedAtAccept(t Conn) bool {
	n, ok := t.(interface{ NetConn() net.Conn })
	if !ok {
		return false
	}
	nc := n.NetConn()
	if s.admits(s.source(nc.RemoteAddr(), nil), 0) {
		return false
	}
	go func() {
		nc.SetWriteDeadline(time.Now().Add(refusalTimeout))
		t.WriteMessages([][]byte{refusalFrame})
		t.Close(proto.CloseOverloaded, "")
	}()
	return true
}

// refusalTimeout bounds the write of a refusal at accept.
const refusalTimeout = time.Second

func temporary(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	var to interface{ Timeout() bool }
	return errors.As(err, &to) && to.Timeout()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Send queues payload as one reliable message to the session client,
// waiting while its send window is full (see [Client.Send]). It fails with
// session.ErrUnknownClient when there is no such session. The server keeps
// its own copy of payload.
func (s *Server) Send(ctx context.Context, client proto.ClientID, payload []byte) error {
	return s.sendOwned(ctx, client, "", bytes.Clone(payload))
}

// Emit is Send with an event name, routed by the client's [Mux] (see
// [Client.Emit]).
func (s *Server) Emit(ctx context.Context, client proto.ClientID, event string, payload []byte) error {
	return s.sendOwned(ctx, client, event, bytes.Clone(payload))
}

func (s *Server) sendOwned(ctx context.Context, client proto.ClientID, name string, payload []byte) error {
	return s.d.send(ctx, client, session.Send{To: client, Name: name, Payload: payload})
}

// Request sends payload as a request to the session client and waits for
// its one outcome, like [Client.Request].
func (s *Server) Request(ctx context.Context, client proto.ClientID, payload []byte) ([]byte, error) {
	return s.requestOwned(ctx, client, "", bytes.Clone(payload))
}

// Invoke is Request with a method name, routed by the client's [Mux] (see
// [Client.Invoke]).
func (s *Server) Invoke(ctx context.Context, client proto.ClientID, method string, payload []byte) ([]byte, error) {
	return s.requestOwned(ctx, client, method, bytes.Clone(payload))
}

func (s *Server) requestOwned(ctx context.Context, client proto.ClientID, name string, payload []byte) ([]byte, error) {
	r := s.d.call(ctx, client, session.Call{To: client, Name: name, Payload: payload})
	return r.payload, r.err
}

// Broadcast queues payload as one message to every member of room, into
// each member's own sequence: each gets it exactly once (Message.Room set
// to room), a disconnected member on resume. A member whose send window is
// full is handled as ServerOptions.SlowMembers says; by default
// ([WaitSlow]) the broadcast waits for its window under ctx, without
// holding up the other members, so that at the default settings every
// member that reads gets every broadcast.
func (s *Server) Broadcast(ctx context.Context, room string, payload []byte) error {
	return s.broadcastOwned(ctx, room, "", proto.ClientID{}, bytes.Clone(payload))
}

// BroadcastEvent is Broadcast with an event name, routed by each member's
// [Mux].
func (s *Server) BroadcastEvent(ctx context.Context, room, event string, payload []byte) error {
	return s.broadcastOwned(ctx, room, event, proto.ClientID{}, bytes.Clone(payload))
}

// BroadcastExcept is Broadcast to every member but except (typically the
// sender of a chat message).
func (s *Server) BroadcastExcept(ctx context.Context, room string, except proto.ClientID, payload []byte) error {
	return s.broadcastOwned(ctx, room, "", except, bytes.Clone(payload))
}

// Join adds the session client to room.
func (s *Server) Join(ctx context.Context, client proto.ClientID, room string) error {
	return s.d.do(ctx, session.Join{Client: client, Room: room})
}

// Leave removes the session client from room.
func (s *Server) Leave(ctx context.Context, client proto.ClientID, room string) error {
	return s.d.do(ctx, session.Leave{Client: client, Room: room})
}

// Kick ends the session client: it is sent CLOSE policy with reason, and the
// OnEvent handler gets a [*session.SessionClosed] listing what it lost.
func (s *Server) Kick(ctx context.Context, client proto.ClientID, reason string) error {
	return s.d.do(ctx, session.Kick{Client: client, Reason: reason})
}

// Members returns the sessions in room, in broadcast order.
func (s *Server) Members(ctx context.Context, room string) ([]proto.ClientID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return s.eng.m.Members(room), nil
}

// IsMember reports whether the session client is in room.
func (s *Server) IsMember(client proto.ClientID, room string) bool {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return s.eng.m.IsMember(client, room)
}

// RoomsOf returns the rooms the session client is in, sorted; nil when it
// is in none or there is no such session.
func (s *Server) RoomsOf(client proto.ClientID) []string {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return s.eng.m.RoomsOf(client)
}

// Sessions returns the IDs of all live sessions (attached or waiting for a
// resume), in ascending order.
func (s *Server) Sessions(ctx context.Context) ([]proto.ClientID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return s.eng.m.Sessions(), nil
}

// Stats returns the machine's counters. It waits at most for one step of
// the machine (a few microseconds, plus the Authorize or AllowRoom hook
// that runs in it); called from inside those hooks, it returns the
// counters as of the hook's start.
func (s *Server) Stats() session.Stats { return s.d.stats() }

// Peer returns the server's view of the session client, for the typed
// helpers: adapters.Call[Req, Resp](ctx, srv.Peer(id), req).
func (s *Server) Peer(client proto.ClientID) Peer { return serverPeer{s, client} }

type serverPeer struct {
	s  *Server
	id proto.ClientID
}

func (p serverPeer) Send(ctx context.Context, payload []byte) error {
	return p.s.Send(ctx, p.id, payload)
}

func (p serverPeer) Request(ctx context.Context, payload []byte) ([]byte, error) {
	return p.s.Request(ctx, p.id, payload)
}

func (p serverPeer) Emit(ctx context.Context, event string, payload []byte) error {
	return p.s.Emit(ctx, p.id, event, payload)
}

func (p serverPeer) Invoke(ctx context.Context, method string, payload []byte) ([]byte, error) {
	return p.s.Invoke(ctx, p.id, method, payload)
}

func (p serverPeer) sendOwned(ctx context.Context, name string, payload []byte) error {
	return p.s.sendOwned(ctx, p.id, name, payload)
}

func (p serverPeer) requestOwned(ctx context.Context, name string, payload []byte) ([]byte, error) {
	return p.s.requestOwned(ctx, p.id, name, payload)
}

// Close shuts the server down: it stops accepting (listeners given to Serve
// are closed, Attach refuses), sends CLOSE going-away on every connection
// (clients will try to resume), waits for the connections to flush and
// close, and for every goroutine of the server, handlers included, to
// finish. When ctx ends first, the connections are closed at once and
// ctx.Err() is returned. Sessions are not reported closed: they end with
// the process.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closing
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	if first {
		// Stepped whatever ctx says: only the waiting below gives up.
		d := s.d
		now := d.lock()
		if !d.ended {
			d.draining = true
			d.eng.step(now, session.Shutdown{Reason: "server shutting down"})
			d.settle(0)
		}
		d.unlock()
		d.cancel()
	}
	return s.d.wait(ctx)
}

func (e *serverEngine) step(now time.Time, in session.Input) error { return e.m.Step(now, in) }

func (e *serverEngine) recv(now time.Time, conn session.ConnID, data []byte) error {
	return e.m.Step(now, session.Recv{Conn: conn, Data: data})
}

func (e *serverEngine) call(now time.Time, in session.Call) error { return e.m.Step(now, in) }

func (e *serverEngine) send(now time.Time, in session.Send) error { return e.m.Step(now, in) }

func (e *serverEngine) reply(now time.Time, in session.Reply) error { return e.m.Step(now, in) }

func (e *serverEngine) stats() session.Stats {
	st := e.m.Stats()
	st.Throttled += e.refused
	return st
}

func (e *serverEngine) connected(*conn) {}

// canDefer: when Ready would hand over frames only, it may wait for the
// writers of their connections, as on the client, if they are all busy:
// each calls Ready when it is done.
func (e *serverEngine) canDefer(size int) bool {
	return e.m.FramesOnlyFor(func(id session.ConnID) bool {
		c := e.d.conns[id]
		return c != nil && c.deferReady(size)
	})
}

func (e *serverEngine) readable() *conn { return nil }

func (e *serverEngine) peerMax(conn session.ConnID) int { return e.m.PeerMaxMessageSize(conn) }

func (e *serverEngine) ready(now time.Time) time.Time {
	e.m.ReadyInto(&e.rd)
	return e.apply()
}

func (e *serverEngine) readyConn(c *conn, now time.Time) time.Time {
	b := c.buf() // the caller is c's writer (readyDeferred)
	*b = e.m.ReadyConnAppend(c.id, &e.rd, *b)
	return e.apply()
}

// apply hands what the machine's Ready gave over to the connections and
// the application, and returns the deadline.
func (e *serverEngine) apply() time.Time {
	d := e.d
	rd := &e.rd
	// Messages of one connection are contiguous: hand each run over at once.
	for i := 0; i < len(rd.Transmit); {
		id := rd.Transmit[i].Conn
		j := i + 1
		for j < len(rd.Transmit) && rd.Transmit[j].Conn == id {
			j++
		}
		if c := d.conns[id]; c != nil {
			c.writeOutgoing(rd.Transmit[i:j])
		}
		i = j
	}
	for _, id := range rd.Hangup {
		c := d.conns[id]
		if c == nil {
			continue
		}
		var last []byte
		for i := len(rd.Transmit) - 1; i >= 0; i-- {
			if rd.Transmit[i].Conn == id {
				last = rd.Transmit[i].Data
				break
			}
		}
		c.close(closeCode(d.dec, last))
	}
	for _, ev := range rd.Events {
		e.route(ev)
	}
	recycleReady(&rd.Transmit, &rd.Events)
	if cap(rd.Hangup) > idleCap {
		rd.Hangup = nil
	}
	return rd.Deadline
}

func (e *serverEngine) queue(id proto.ClientID) *eventQueue {
	if e.lastQ != nil && e.lastID == id {
		return e.lastQ
	}
	q := e.queues[id]
	if q == nil {
		q = newEventQueue(e.d, e.d.qmax, idleCap)
		e.queues[id] = q
	}
	e.lastID, e.lastQ = id, q
	return q
}

func (e *serverEngine) route(ev session.Event) {
	d := e.d
	var q *eventQueue
	switch ev := ev.(type) {
	case *session.Response:
		d.resolve(ev)
		return
	case *session.Delivered:
		if d.h.msg != nil {
			e.queue(ev.Client).push(ev)
		}
		return
	case *session.RequestReceived:
		e.queue(ev.Client).push(ev)
		return
	case *session.AuthPending:
		e.authenticate(ev.Request)
		return
	case *session.SessionStarted:
		d.log.Info("session started", "client", ev.Client.String(), "conn", ev.Conn)
		if e.auth != nil {
			e.ids.set(ev.Client, ev.Conn)
		}
		q = e.queue(ev.Client)
		if c := d.conns[ev.Conn]; c != nil {
			c.q.Store(q)
		}
	case *session.Resumed:
		d.log.Info("session resumed", "client", ev.Client.String(), "conn", ev.Conn)
		if e.auth != nil {
			e.ids.set(ev.Client, ev.Conn)
		}
		q = e.queue(ev.Client)
		if c := d.conns[ev.Conn]; c != nil {
			c.q.Store(q)
		}
	case *session.Detached:
		d.log.Debug("session detached", "client", ev.Client.String(), "conn", ev.Conn, "err", ev.Err)
		q = e.queue(ev.Client)
	case *session.SessionClosed:
		d.log.Info("session closed", "client", ev.Client.String(), "err", ev.Err, "lost", ev.Lost.String())
		q = e.queue(ev.Client)
		delete(e.queues, ev.Client)
		e.lastQ = nil
		if e.auth != nil {
			e.ids.end(ev.Client, d.h.ev == nil) // else forgotten once handled
		}
	case *session.MemberJoined:
		q = e.queue(ev.Client)
	case *session.MemberLeft:
		q = e.queue(ev.Client)
	case *session.ConnRejected:
		d.log.Warn("connection rejected", "conn", ev.Conn, "err", ev.Err)
		q = e.connQ
	default:
		return
	}
	if d.h.ev != nil {
		q.push(ev)
	}
}
