package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/internal/breakage"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Server limits, small so that a short fuzz input reaches them. Eviction
// of detached sessions is left out on purpose: with MaxDetached at
// MaxSessions and the default byte budget it cannot happen, so an honest
// session has no legitimate reason to end.
const (
	srvMaxSessions  = 12
	srvInflight     = 16
	srvUnackedBytes = 2048
	srvMaxMessage   = 4096
	srvMaxRequests  = 8
	srvAttackers    = 32 // attacker connections per run
	nHonest         = 2
	honestRoom      = "ok-room"
)

// Operations of a FuzzServer program.
const (
	sOpConnect     = iota // an attacker connection comes up
	sOpRaw                // byte conn, blob: a raw message on an attacker connection
	sOpFrames             // byte conn, n, frames: crafted frames on an attacker connection
	sOpDisconnect         // byte conn: an attacker connection goes away
	sOpAdvance            // u16 ms: time passes (every machine steps at its deadlines)
	sOpDeadline           // time passes to the next deadline
	sOpHonestSend         // byte honest, blob: an honest client sends DATA
	sOpHonestCall         // byte honest, blob: an honest client calls the server
	sOpServerSend         // byte honest, blob: the server sends DATA to an honest client
	sOpServerCall         // byte honest, blob: the server calls an honest client
	sOpHonestDrop         // byte honest: an honest client's transport breaks; it resumes
	sOpBroadcast          // flag except, blob: the server broadcasts to the honest clients' room
	sOpAttackerCmd        // byte what, byte session, blob: the server application acts on an attacker's session
	nServerOps
)

// honest is a real client on a perfect link to the server, whose session
// the attackers must not be able to touch.
type honest struct {
	n        int
	c        *session.Client
	conn     session.ConnID
	live     bool
	id       proto.ClientID
	dial     bool
	dialAt   time.Time
	deadline time.Time
	q        [][]byte // its messages in flight to the server

	sent      [][]byte          // DATA it sent, in order
	delivered int               // of which the server delivered
	toClient  [][]byte          // DATA the server sent it, in order
	got       int               // of which it received
	calls     map[uint64][]byte // its requests waiting for the echo
	nextCall  uint64
	srvCalls  map[uint64][]byte // the server's requests to it
	replies   []session.Reply   // its answers waiting for the send window, in order
	dropped   bool              // its transport broke and it has not resumed yet
	detachOK  bool              // the server may report it detached now
	connected int               // connections it made
}

// sessModel is what the checker knows about one server session.
type sessModel struct {
	h       *honest // nil for attacker sessions
	lastSeq uint64
	calls   map[uint64]bool // the server application's requests on it
}

type connModel struct {
	limit   int  // the peer's message size limit, from its HELLO
	honest  bool // an honest client's
	limited bool
}

type serverWorld struct {
	t         testing.TB
	mode      session.Mode
	now       time.Time
	s         *session.Server
	deadline  time.Time
	h         [nHonest]*honest
	next      session.ConnID
	conns     map[session.ConnID]*connModel // open as far as the server knows
	attackers []session.ConnID              // every attacker connection of the run
	sessions  map[proto.ClientID]*sessModel
	k         known
	dec       *codec.Decoder
	replies   []session.Reply // the server application answers requests after each Ready
	nextCall  uint64
	setupDone bool

	// For the corpus generator: tap sees every message the server writes.
	tap func(conn session.ConnID, msg []byte)
}

func fuzzServerConfig(mode session.Mode) session.ServerConfig {
	return session.ServerConfig{
		LinkConfig: session.LinkConfig{
			Mode: mode, MaxInflight: srvInflight, MaxUnackedBytes: srvUnackedBytes,
			MaxMessageSize: srvMaxMessage, MaxRequests: srvMaxRequests, InitialRTO: 300 * time.Millisecond,
		},
		Rand:              rand.NewChaCha8(seedBytes(3)),
		HeartbeatInterval: 2 * time.Second,
		HandshakeTimeout:  3 * time.Second,
		ResumeWindow:      30 * time.Second,
		MaxSessions:       srvMaxSessions,
		MaxDetached:       srvMaxSessions,
		Authorize: func(r session.AuthRequest) error {
			if string(r.Auth) == "deny" {
				return errors.New("denied")
			}
			return nil
		},
		AllowRoom: allowOK,
	}
}

func newServerWorld(t testing.TB, mode session.Mode) *serverWorld {
	return newBrokenServerWorld(t, mode, breakage.Bugs{})
}

// newBrokenServerWorld has a server with deliberate bugs, to prove that
// the checks catch them.
func newBrokenServerWorld(t testing.TB, mode session.Mode, broken breakage.Bugs) *serverWorld {
	cfg := fuzzServerConfig(mode)
	breakage.Set(&cfg.LinkConfig, broken)
	w := &serverWorld{
		t: t, mode: mode, now: t0, next: 1, s: session.NewServer(cfg),
		conns: map[session.ConnID]*connModel{}, sessions: map[proto.ClientID]*sessModel{},
		dec: outDecoder(), nextCall: 1,
	}
	for i := range w.h {
		cfg := fuzzClientConfig(mode, uint64(10+i))
		cfg.Auth = []byte("honest")
		cfg.ReconnectMax = time.Second
		cfg.MaxInflight, cfg.MaxUnackedBytes = 64, 1<<20 // never the bottleneck
		w.h[i] = &honest{n: i, c: session.NewClient(cfg), calls: map[uint64][]byte{}, srvCalls: map[uint64][]byte{}, nextCall: 1}
	}
	return w
}

// setup establishes the honest sessions, puts them in a room and exchanges
// a little traffic.
func (w *serverWorld) setup() {
	for _, h := range w.h {
		w.honestConnect(h)
		w.pump()
		if h.id.IsZero() {
			w.t.Fatalf("honest client %d has no session after the handshake", h.n)
		}
		w.command(session.Join{Client: h.id, Room: honestRoom})
	}
	w.honestSend(w.h[0], []byte("h0-hello"))
	w.serverSend(w.h[1], []byte("to-h1"))
	w.pump()
	w.setupDone = true
}

// --- the server ---

func (w *serverWorld) step(in session.Input) error {
	err := w.s.Step(w.now, in)
	w.ready(in)
	return err
}

func (w *serverWorld) command(in session.Input) error {
	err := w.step(in)
	checkCommandErr(w.t, fmt.Sprintf("server %T", in), err)
	return err
}

// ready drains the server and checks everything in it, then lets the
// server application answer the requests it received.
func (w *serverWorld) ready(in session.Input) {
	t := w.t
	rd := w.s.Ready()
	if *trace {
		t.Logf("%v server %s -> %d msgs %v hangup=%v deadline=%v", w.now.Sub(t0), describe(in), len(rd.Transmit), rd.Events, rd.Hangup, rd.Deadline.Sub(t0))
	}
	w.deadline = rd.Deadline
	for _, ev := range rd.Events {
		w.serverEvent(in, ev)
	}
	perConn := map[session.ConnID]int{}
	for _, o := range rd.Transmit {
		cm := w.conns[o.Conn]
		if cm == nil {
			t.Fatalf("server wrote to connection %d, which is not open", o.Conn)
		}
		limit := srvMaxMessage
		if cm.limited {
			limit = cm.limit
		}
		frames := checkTransmit(t, w.dec, fmt.Sprintf("server (conn %d)", o.Conn), o.Data, limit, false)
		perConn[o.Conn] += len(o.Data)
		if w.tap != nil {
			w.tap(o.Conn, o.Data)
		}
		if h := w.honestOf(o.Conn); h != nil {
			w.honestRecv(h, o.Data)
			continue
		}
		for _, f := range frames {
			if wl, ok := f.(*proto.Welcome); ok {
				w.k.addID(wl.ID)
				w.k.addToken(wl.Token)
			}
		}
	}
	for c, n := range perConn {
		if bound := srvUnackedBytes + 70_000 + (srvInflight+srvMaxRequests)*64 + 2048; n > bound {
			t.Fatalf("one Ready wrote %d bytes to connection %d, beyond the bound of %d", n, c, bound)
		}
	}
	for _, c := range rd.Hangup {
		if w.conns[c] == nil {
			t.Fatalf("server hung up connection %d, which is not open", c)
		}
		if h := w.honestOf(c); h != nil {
			t.Fatalf("server hung up honest client %d's connection %d", h.n, c)
		}
		delete(w.conns, c)
	}
	st := w.s.Stats()
	if st.Connections != len(w.conns) || st.Sessions != len(w.sessions) || st.Sessions > srvMaxSessions ||
		st.Detached > st.Sessions {
		t.Fatalf("server stats %+v; open connections %d, sessions %d (limit %d)", st, len(w.conns), len(w.sessions), srvMaxSessions)
	}
	for len(w.replies) > 0 {
		r := w.replies[0]
		w.replies = w.replies[1:]
		w.command(r)
	}
}

func (w *serverWorld) serverEvent(in session.Input, ev session.Event) {
	t := w.t
	switch ev := ev.(type) {
	case *session.SessionStarted:
		if w.sessions[ev.Client] != nil || ev.Client.IsZero() || w.conns[ev.Conn] == nil {
			t.Fatalf("%v on connection %d: duplicate, zero or on a closed connection", ev, ev.Conn)
		}
		sm := &sessModel{calls: map[uint64]bool{}}
		if h := w.honestOf(ev.Conn); h != nil {
			if w.setupDone || !h.id.IsZero() {
				t.Fatalf("honest client %d got a new session %s: its session was lost", h.n, ev.Client)
			}
			sm.h = h
		}
		w.sessions[ev.Client] = sm
		w.attached(in, ev.Conn)
		w.k.addID(ev.Client)
	case *session.Resumed:
		sm := w.session(ev)
		if w.conns[ev.Conn] == nil {
			t.Fatalf("%v on connection %d, which is not open", ev, ev.Conn)
		}
		if sm.h != nil && (w.honestOf(ev.Conn) != sm.h || !sm.h.dropped) {
			t.Fatalf("honest client %d's session resumed on connection %d, not by that client: G3", sm.h.n, ev.Conn)
		}
		if sm.h == nil && w.honestOf(ev.Conn) != nil {
			t.Fatalf("honest connection %d resumed someone else's session %s", ev.Conn, ev.Client)
		}
		w.attached(in, ev.Conn)
	case *session.Detached:
		sm := w.session(ev)
		if sm.h != nil && !sm.h.detachOK {
			t.Fatalf("honest client %d's session detached (%v) though its transport is fine", sm.h.n, ev.Err)
		}
	case *session.Delivered:
		sm := w.session(ev)
		if ev.Seq <= sm.lastSeq {
			t.Fatalf("%v on %s after seq %d: not exactly once in order", ev, ev.Client, sm.lastSeq)
		}
		sm.lastSeq = ev.Seq
		if ev.Room != "" {
			// An accepted PUBLISH: only raw connections publish.
			if sm.h != nil {
				t.Fatalf("honest client %d published %v, which it never does", sm.h.n, ev)
			}
			break
		}
		if h := sm.h; h != nil {
			if h.delivered >= len(h.sent) || !bytes.Equal(ev.Payload, h.sent[h.delivered]) {
				t.Fatalf("server delivered %q from honest client %d, which sent %q (%d delivered)", ev.Payload, h.n, h.sent, h.delivered)
			}
			h.delivered++
		}
	case *session.RequestReceived:
		sm := w.session(ev)
		if h := sm.h; h != nil {
			if p, ok := h.calls[ev.ID]; !ok || !bytes.Equal(p, ev.Payload) {
				t.Fatalf("server got request %d %q from honest client %d, which has pending %v", ev.ID, ev.Payload, h.n, h.calls)
			}
		}
		w.replies = append(w.replies, session.Reply{To: ev.Client, ID: ev.ID, Payload: ev.Payload})
	case *session.Response:
		sm := w.session(ev)
		if !sm.calls[ev.ID] {
			t.Fatalf("%v on %s, but the server has no such request pending", ev, ev.Client)
		}
		delete(sm.calls, ev.ID)
		checkResponseErr(t, "server", ev)
		if h := sm.h; h != nil {
			want := append([]byte("re:"), h.srvCalls[ev.ID]...)
			if ev.Err != nil || !bytes.Equal(ev.Payload, want) {
				t.Fatalf("honest client %d's answer to %d: %q, %v; want %q", h.n, ev.ID, ev.Payload, ev.Err, want)
			}
			delete(h.srvCalls, ev.ID)
		}
	case *session.SessionClosed:
		sm := w.session(ev)
		if sm.h != nil {
			t.Fatalf("honest client %d's session ended: %v", sm.h.n, ev)
		}
		if len(sm.calls) > 0 {
			t.Fatalf("%v with requests %v and no outcome for them", ev, sm.calls)
		}
		// Room responses may take a slot beyond the window.
		checkLost(t, "server", ev.Lost, srvInflight+srvMaxRequests, srvUnackedBytes)
		delete(w.sessions, ev.Client)
	case *session.ConnRejected:
		if w.conns[ev.Conn] == nil || w.honestOf(ev.Conn) != nil {
			t.Fatalf("%v: not an open attacker connection", ev)
		}
	default:
		t.Fatalf("the server reported a client event %v", ev)
	}
}

// session returns the model of the session an event names, which must be
// live.
func (w *serverWorld) session(ev session.Event) *sessModel {
	var id proto.ClientID
	switch ev := ev.(type) {
	case *session.Resumed:
		id = ev.Client
	case *session.Detached:
		id = ev.Client
	case *session.Delivered:
		id = ev.Client
	case *session.RequestReceived:
		id = ev.Client
	case *session.Response:
		id = ev.Client
	case *session.SessionClosed:
		id = ev.Client
	}
	sm := w.sessions[id]
	if sm == nil {
		w.t.Fatalf("%v names session %s, which is not live", ev, id)
	}
	return sm
}

// attached records the message size limit of the HELLO that attached a
// session to conn: the first frame of the message that caused the event.
func (w *serverWorld) attached(in session.Input, conn session.ConnID) {
	r, ok := in.(session.Recv)
	if !ok || r.Conn != conn {
		w.t.Fatalf("session attached to connection %d by %s, not by its HELLO", conn, describe(in))
	}
	f, err := firstFrame(r.Data)
	h, isHello := f.(*proto.Hello)
	if err != nil || !isHello {
		w.t.Fatalf("session attached by a message whose first frame is %v (%v)", f, err)
	}
	cm := w.conns[conn]
	cm.limited, cm.limit = true, srvMaxMessage
	if h.Limits.MaxMessageSize > 0 {
		cm.limit = int(h.Limits.MaxMessageSize)
	}
}

func firstFrame(msg []byte) (proto.Frame, error) {
	d := codec.NewDecoder(codec.Limits{MaxMessageSize: srvMaxMessage})
	if err := d.Reset(msg); err != nil {
		return nil, err
	}
	return d.Next()
}

func (w *serverWorld) honestOf(c session.ConnID) *honest {
	for _, h := range w.h {
		if h.conn == c && c != 0 {
			return h
		}
	}
	return nil
}

// --- the honest clients ---

func (w *serverWorld) honestStep(h *honest, in session.Input) error {
	err := h.c.Step(w.now, in)
	rd := h.c.Ready()
	if *trace {
		w.t.Logf("%v honest%d %s -> %d msgs %v hangup=%v", w.now.Sub(t0), h.n, describe(in), len(rd.Transmit), rd.Events, rd.Hangup)
	}
	h.deadline = rd.Deadline
	for _, ev := range rd.Events {
		switch ev := ev.(type) {
		case *session.SessionStarted:
			if w.setupDone || !h.id.IsZero() {
				w.t.Fatalf("honest client %d started a new session %s: it lost %s", h.n, ev.Client, h.id)
			}
			h.id = ev.Client
		case *session.Resumed:
			if !h.dropped || ev.Client != h.id {
				w.t.Fatalf("honest client %d: unexpected %v", h.n, ev)
			}
			h.dropped = false
		case *session.Delivered:
			if h.got >= len(h.toClient) || !bytes.Equal(ev.Payload, h.toClient[h.got]) {
				w.t.Fatalf("honest client %d got %q; the server sent %q (%d received)", h.n, ev.Payload, h.toClient, h.got)
			}
			h.got++
		case *session.RequestReceived:
			if p, ok := h.srvCalls[ev.ID]; !ok || !bytes.Equal(p, ev.Payload) {
				w.t.Fatalf("honest client %d got request %d %q; the server has pending %v", h.n, ev.ID, ev.Payload, h.srvCalls)
			}
			defer w.honestReply(h, session.Reply{ID: ev.ID, Payload: append([]byte("re:"), ev.Payload...)})
		case *session.Response:
			p, ok := h.calls[ev.ID]
			if !ok || ev.Err != nil || !bytes.Equal(ev.Payload, p) {
				w.t.Fatalf("honest client %d: %v; pending %v", h.n, ev, h.calls)
			}
			delete(h.calls, ev.ID)
		case *session.Dial:
			if !h.dropped {
				w.t.Fatalf("honest client %d dials (%v) though nobody broke its transport", h.n, ev)
			}
			h.dial, h.dialAt = true, ev.At
		case *session.ConnectionLost:
			if !h.dropped {
				w.t.Fatalf("honest client %d lost its connection: %v", h.n, ev.Err)
			}
		default:
			w.t.Fatalf("honest client %d: %v", h.n, ev)
		}
	}
	if rd.Hangup && h.live {
		w.t.Fatalf("honest client %d hung up", h.n)
	}
	if h.live {
		h.q = append(h.q, rd.Transmit...)
	}
	if _, ok := in.(session.Reply); !ok && len(h.replies) > 0 {
		defer w.honestRetryReplies(h) // deferred last, run first: before this step's new replies
	}
	return err
}

// honestReply answers a server request. A reply the send window cannot take
// waits, behind any other waiting one, for acknowledgements to open the
// window, as the adapters park it.
func (w *serverWorld) honestReply(h *honest, rep session.Reply) {
	if len(h.replies) > 0 {
		h.replies = append(h.replies, rep)
		return
	}
	err := w.honestStep(h, rep)
	if errors.Is(err, session.ErrBackpressure) {
		h.replies = append(h.replies, rep)
		return
	}
	if err != nil {
		w.t.Fatalf("honest client %d cannot reply: %v", h.n, err)
	}
}

// honestRetryReplies steps the waiting replies in order until the window is
// full again.
func (w *serverWorld) honestRetryReplies(h *honest) {
	for len(h.replies) > 0 {
		err := w.honestStep(h, h.replies[0])
		if errors.Is(err, session.ErrBackpressure) {
			return
		}
		if err != nil {
			w.t.Fatalf("honest client %d cannot reply: %v", h.n, err)
		}
		h.replies = h.replies[1:]
	}
}

// honestRecv hands a server message to an honest client.
func (w *serverWorld) honestRecv(h *honest, msg []byte) {
	in := session.Recv{Conn: h.conn, Data: msg}
	mustStep(w.t, "honest client", in, w.honestStep(h, in))
}

func (w *serverWorld) honestConnect(h *honest) {
	h.conn, w.next = w.next, w.next+1
	h.live, h.dial = true, false
	h.connected++
	w.conns[h.conn] = &connModel{honest: true}
	mustStep(w.t, "server", session.Connected{Conn: h.conn}, w.step(session.Connected{Conn: h.conn}))
	if err := w.honestStep(h, session.Connected{Conn: h.conn}); err != nil {
		w.t.Fatalf("honest client %d: Connected: %v", h.n, err)
	}
}

// honestDrop breaks an honest client's transport under both machines.
func (w *serverWorld) honestDrop(h *honest) {
	if !h.live {
		return
	}
	h.live, h.dropped, h.q = false, true, nil
	in := session.Disconnected{Conn: h.conn, Err: errors.New("connection reset")}
	h.detachOK = true
	delete(w.conns, h.conn)
	mustStep(w.t, "server", in, w.step(in))
	h.detachOK = false
	mustStep(w.t, "honest client", in, w.honestStep(h, in))
}

func (w *serverWorld) honestSend(h *honest, p []byte) {
	err := w.honestStep(h, session.Send{Payload: p})
	checkCommandErr(w.t, "honest Send", err)
	if err == nil {
		h.sent = append(h.sent, p)
	}
}

func (w *serverWorld) honestCall(h *honest, p []byte) {
	id := h.nextCall
	h.nextCall++
	err := w.honestStep(h, session.Call{ID: id, Payload: p})
	checkCommandErr(w.t, "honest Call", err)
	if err == nil {
		h.calls[id] = p
	}
}

// The expectations are set before the command: its Ready delivers at once.

func (w *serverWorld) serverSend(h *honest, p []byte) {
	h.toClient = append(h.toClient, p)
	if w.command(session.Send{To: h.id, Payload: p}) != nil {
		h.toClient = h.toClient[:len(h.toClient)-1]
	}
}

func (w *serverWorld) serverCall(h *honest, p []byte) {
	id := w.nextCall
	w.nextCall++
	h.srvCalls[id] = p
	w.sessions[h.id].calls[id] = true
	if w.command(session.Call{To: h.id, ID: id, Payload: p}) != nil {
		delete(h.srvCalls, id)
		delete(w.sessions[h.id].calls, id)
	}
}

func (w *serverWorld) broadcast(except bool, p []byte) {
	b := session.Broadcast{Room: honestRoom, Payload: p}
	if except {
		b.Except = w.h[0].id
	}
	for _, h := range w.h {
		if h.id != b.Except {
			h.toClient = append(h.toClient, p)
		}
	}
	err := w.command(b)
	var be *session.BroadcastError
	if err != nil && !errors.As(err, &be) {
		w.t.Fatalf("Broadcast: %v", err)
	}
	if be != nil {
		for _, h := range w.h {
			if slices.Contains(be.Skipped, h.id) { // too large, or its window is full
				h.toClient = h.toClient[:len(h.toClient)-1]
			}
		}
	}
}

// pump moves messages between the server and the honest clients until all
// are quiet. (Attackers get the server's messages as they are written.)
func (w *serverWorld) pump() {
	for range 200 {
		moved := false
		for _, h := range w.h {
			q := h.q
			h.q = nil
			for _, msg := range q {
				moved = true
				in := session.Recv{Conn: h.conn, Data: msg}
				mustStep(w.t, "server", in, w.step(in))
			}
		}
		if !moved {
			return
		}
	}
	w.t.Fatalf("server and honest clients did not quiesce")
}

// advance moves time to target, stepping every machine at each of its
// deadlines on the way (so heartbeats flow and honest clients redial on
// time), as a real deployment would.
func (w *serverWorld) advance(target time.Time) {
	for range 5000 {
		next := target
		earlier := func(t time.Time) {
			if !t.IsZero() && t.Before(next) {
				next = t
			}
		}
		earlier(w.deadline)
		for _, h := range w.h {
			earlier(h.deadline)
			if h.dial {
				earlier(h.dialAt)
			}
		}
		if next.After(w.now) {
			w.now = next
		}
		mustStep(w.t, "server", session.Timeout{}, w.step(session.Timeout{}))
		for _, h := range w.h {
			if h.dial && !h.dialAt.After(w.now) {
				w.honestConnect(h)
			} else {
				mustStep(w.t, "honest client", session.Timeout{}, w.honestStep(h, session.Timeout{}))
			}
		}
		w.pump()
		if !w.now.Before(target) {
			if !w.deadline.IsZero() && !w.deadline.After(w.now) {
				w.t.Fatalf("after a Timeout at %v the server's deadline is %v: the driver would spin", w.now, w.deadline)
			}
			return
		}
	}
	w.t.Fatalf("time did not reach %v in 5000 steps (at %v)", target, w.now)
}

// --- attackers ---

func (w *serverWorld) attacker(s *script) (session.ConnID, bool) {
	b := s.byte()
	if len(w.attackers) == 0 {
		return 0, false
	}
	return w.attackers[int(b)%len(w.attackers)], true
}

func (w *serverWorld) attackerRecv(conn session.ConnID, msg []byte) {
	in := session.Recv{Conn: conn, Data: msg}
	mustStep(w.t, "server", in, w.step(in))
}

// attackerSession picks a live session that is not honest.
func (w *serverWorld) attackerSession(b byte) (proto.ClientID, bool) {
	var ids []proto.ClientID
	for _, id := range w.s.Sessions() {
		if sm := w.sessions[id]; sm != nil && sm.h == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return proto.ClientID{}, false
	}
	return ids[int(b)%len(ids)], true
}

func (w *serverWorld) run(s *script) {
	for ops := 0; s.more() && ops < 512; ops++ {
		switch s.byte() % nServerOps {
		case sOpConnect:
			if len(w.attackers) >= srvAttackers {
				continue
			}
			c := w.next
			w.next++
			w.attackers = append(w.attackers, c)
			w.conns[c] = &connModel{}
			mustStep(w.t, "server", session.Connected{Conn: c}, w.step(session.Connected{Conn: c}))
		case sOpRaw:
			if c, ok := w.attacker(s); ok {
				w.attackerRecv(c, s.blob())
			}
		case sOpFrames:
			if c, ok := w.attacker(s); ok {
				w.attackerRecv(c, s.message(&w.k))
			}
		case sOpDisconnect:
			if c, ok := w.attacker(s); ok {
				delete(w.conns, c)
				in := session.Disconnected{Conn: c}
				mustStep(w.t, "server", in, w.step(in))
			}
		case sOpAdvance:
			w.advance(w.now.Add(time.Duration(s.u16()) * time.Millisecond))
		case sOpDeadline:
			w.advance(w.deadline)
		case sOpHonestSend:
			h, p := w.h[int(s.byte())%nHonest], s.blob()
			w.honestSend(h, p)
			w.pump()
		case sOpHonestCall:
			h, p := w.h[int(s.byte())%nHonest], s.blob()
			w.honestCall(h, p)
			w.pump()
		case sOpServerSend:
			h, p := w.h[int(s.byte())%nHonest], s.blob()
			w.serverSend(h, p)
			w.pump()
		case sOpServerCall:
			h, p := w.h[int(s.byte())%nHonest], s.blob()
			w.serverCall(h, p)
			w.pump()
		case sOpHonestDrop:
			w.honestDrop(w.h[int(s.byte())%nHonest])
		case sOpBroadcast:
			except, p := s.flag(), s.blob()
			w.broadcast(except, p)
			w.pump()
		case sOpAttackerCmd:
			what, pick, p := s.byte(), s.byte(), s.blob()
			id, ok := w.attackerSession(pick)
			if !ok {
				continue
			}
			switch what % 5 {
			case 0:
				w.command(session.Send{To: id, Payload: p})
			case 1:
				cid := w.nextCall
				w.nextCall++
				w.sessions[id].calls[cid] = true
				if w.command(session.Call{To: id, ID: cid, Payload: p}) != nil {
					delete(w.sessions[id].calls, cid)
				}
			case 2:
				w.command(session.Kick{Client: id, Reason: string(p)})
			case 3:
				w.command(session.Join{Client: id, Room: honestRoom})
			case 4:
				w.command(session.Leave{Client: id, Room: honestRoom})
			}
		}
	}
}

// finish lets the honest clients reconnect and everything in flight
// arrive, then checks that they got exactly what was sent, both ways.
func (w *serverWorld) finish() {
	w.advance(w.now.Add(3 * time.Second))
	live := w.s.Sessions()
	for _, h := range w.h {
		switch {
		case h.dropped || !h.c.Established() || h.c.ID() != h.id:
			w.t.Fatalf("honest client %d: dropped %v, established %v, id %s (was %s)", h.n, h.dropped, h.c.Established(), h.c.ID(), h.id)
		case !slices.Contains(live, h.id):
			w.t.Fatalf("honest client %d's session %s is gone from the server", h.n, h.id)
		case h.delivered != len(h.sent):
			w.t.Fatalf("server delivered %d of honest client %d's %d messages", h.delivered, h.n, len(h.sent))
		case h.got != len(h.toClient):
			w.t.Fatalf("honest client %d got %d of the server's %d messages", h.n, h.got, len(h.toClient))
		case len(h.calls) > 0 || len(h.srvCalls) > 0:
			w.t.Fatalf("honest client %d: requests without outcome: its own %v, the server's %v", h.n, h.calls, h.srvCalls)
		}
	}
}

// FuzzServer feeds the server hub, with honest clients attached on perfect
// links, a program of attacker connections sending raw bytes and crafted
// frames (HELLOs that present the honest sessions' IDs with guessed tokens
// or tokens issued to the attackers' own sessions, frames out of order,
// floods), interleaved with honest traffic both ways, requests, broadcasts,
// honest transport breaks and resumes, server commands on attacker
// sessions, and time.
//
// Invariants: no panic; Step never returns an error for transport input or
// time, only documented sentinels for commands; honest sessions are
// untouched by other connections: never closed, detached only when their
// own transport broke, resumed only by their own client, every message
// delivered exactly once and in order both ways, every request answered
// once, and at the end both honest clients are established on their
// original sessions; every event is one the server reports, names a live
// session, and Delivered is in order per session; server messages decode
// into server frames, go only to open connections, respect the peer's size
// limit, and are bounded per Ready; Stats agree with the open connections
// and live sessions and stay within MaxSessions; after a Timeout the next
// deadline lies in the future.
func FuzzServer(f *testing.F) {
	f.Fuzz(func(t *testing.T, start byte, program []byte) {
		w := newServerWorld(t, modeOf(start))
		w.setup()
		w.run(&script{b: program})
		w.finish()
	})
}
