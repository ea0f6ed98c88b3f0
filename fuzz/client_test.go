package fuzz

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/internal/breakage"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Client limits, small so that a short fuzz input reaches them.
const (
	clientInflight     = 16
	clientUnackedBytes = 2048
	clientMaxMessage   = 4096
	clientMaxRequests  = 8
)

// Starting states of FuzzClient (start % 8; start & 8 selects Datagram).
const (
	startHandshake = iota // HELLO sent, waiting for WELCOME
	startOpen             // handshake complete, nothing sent
	startTraffic          // messages, requests, a room and a broadcast in both directions; some unacked
	startResuming         // startTraffic, transport lost, HELLO with resume sent
	startClosing          // startTraffic, graceful Close waiting for acks
	startIdle             // startTraffic, transport lost, a Dial outstanding
	startClosed           // startTraffic, aborted
	startResumed          // startTraffic, transport lost and the session resumed
	nStarts
)

// Operations of a FuzzClient program.
const (
	cOpRecv       = iota // blob: a raw transport message on the current connection
	cOpFrames            // n, frames: frames packed into one message on the current connection
	cOpAdvance           // u16 ms: time passes, then Timeout
	cOpDeadline          // jump to the machine's deadline, then Timeout
	cOpSend              // blob: the application sends DATA
	cOpCall              // u64 id, blob, u16 ms: the application calls
	cOpReply             // byte, flag: the application answers a pending request (or a made-up ID)
	cOpRoom              // flag join, u64 id, blob room
	cOpClose             // flag abort, blob reason
	cOpConnect           // the dial succeeds (or fails, flag) when one is outstanding
	cOpDisconnect        // the transport goes away
	cOpStale             // n, frames: a message on a superseded connection
	cOpHonest            // blob: the real server sends DATA, and the two exchange what is queued
	nClientOps
)

type queued struct {
	conn session.ConnID
	data []byte
}

// clientWorld drives a real client machine, with a real server machine for
// the setup, in virtual time.
type clientWorld struct {
	t        testing.TB
	now      time.Time
	c        *session.Client
	s        *session.Server
	conn     session.ConnID   // the client's latest connection
	old      []session.ConnID // its earlier ones
	next     session.ConnID
	live     bool // the transport of conn is up as far as the client knows
	dial     bool // a Dial is outstanding
	toServer []queued
	k        known
	m        clientModel
	dec      *codec.Decoder
	peerMax  int // the message size limit of the last accepted WELCOME

	// For the corpus generator: tap sees every message between the two
	// machines; srvReqs collects the requests the server received.
	tap     func(toClient bool, msg []byte)
	srvReqs []*session.RequestReceived
}

// clientModel is what the checker knows the application has seen.
type clientModel struct {
	closed     bool
	id         proto.ClientID
	lastSeq    uint64          // of the last Delivered in this session
	wire       uint64          // events of this session that a reliable frame caused
	wireTotal  uint64          // the same over all sessions
	lateBase   uint64          // Stats.LateResponses before this session started
	lateNow    uint64          // Stats.LateResponses after the previous Ready
	pendingOut map[uint64]bool // our requests without an outcome
	pendingIn  map[uint64]bool // the peer's requests we have not answered
}

func fuzzClientConfig(mode session.Mode, seed uint64) session.ClientConfig {
	return session.ClientConfig{
		LinkConfig: session.LinkConfig{
			Mode: mode, MaxInflight: clientInflight, MaxUnackedBytes: clientUnackedBytes,
			MaxMessageSize: clientMaxMessage, MaxRequests: clientMaxRequests,
			RequestTimeout: 5 * time.Second, InitialRTO: 300 * time.Millisecond,
		},
		Rand:             rand.NewChaCha8(seedBytes(seed)),
		Auth:             []byte("client-secret"),
		HandshakeTimeout: 3 * time.Second,
		CloseTimeout:     2 * time.Second,
		ReconnectMin:     100 * time.Millisecond,
		ReconnectMax:     2 * time.Second,
	}
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 8 {
		b[i] = byte(seed >> (8 * i))
	}
	return b
}

// allowOK is the AllowRoom hook of the fuzzed servers: rooms named "ok..."
// are allowed.
func allowOK(r session.RoomRequest) bool { return strings.HasPrefix(r.Room, "ok") }

func newClientWorld(t testing.TB, mode session.Mode) *clientWorld {
	return newBrokenClientWorld(t, mode, breakage.Bugs{})
}

// newBrokenClientWorld has a client with deliberate bugs, to prove that
// the checks catch them.
func newBrokenClientWorld(t testing.TB, mode session.Mode, broken breakage.Bugs) *clientWorld {
	w := &clientWorld{t: t, now: t0, next: 1, dec: outDecoder(), peerMax: clientMaxMessage}
	cfg := fuzzClientConfig(mode, 1)
	breakage.Set(&cfg.LinkConfig, broken)
	w.c = session.NewClient(cfg)
	w.s = session.NewServer(session.ServerConfig{
		LinkConfig: session.LinkConfig{
			Mode: mode, MaxInflight: clientInflight, MaxUnackedBytes: clientUnackedBytes,
			MaxMessageSize: clientMaxMessage, MaxRequests: clientMaxRequests,
		},
		Rand:              rand.NewChaCha8(seedBytes(2)),
		HeartbeatInterval: 2 * time.Second,
		ResumeWindow:      20 * time.Second,
		AllowRoom:         allowOK,
	})
	w.m.pendingOut = map[uint64]bool{}
	w.m.pendingIn = map[uint64]bool{}
	return w
}

// setup drives the client to one of the starting states with the real
// server. Everything here is deterministic.
func (w *clientWorld) setup(start byte) {
	w.connect()
	if start%nStarts == startHandshake {
		return
	}
	w.pump()
	if start%nStarts == startOpen {
		return
	}
	w.traffic()
	switch start % nStarts {
	case startResuming, startIdle, startResumed:
		w.disconnect()
		if start%nStarts == startIdle {
			return
		}
		w.now = w.now.Add(2 * time.Second) // past any reconnect backoff
		w.connect()
		if start%nStarts == startResumed {
			w.pump()
		}
	case startClosing:
		w.command(session.Close{Reason: "bye"})
	case startClosed:
		w.command(session.Abort{Reason: "gone"})
	}
}

// traffic exchanges messages, requests, a room join and a broadcast, and
// leaves some of the client's messages unacknowledged and one request of
// each side pending.
func (w *clientWorld) traffic() {
	w.command(session.Send{Payload: []byte("c1")})
	w.command(session.Send{Payload: []byte("c2")})
	w.command(session.Call{ID: 1, Payload: []byte("q1")})
	w.command(session.JoinRoom{ID: 2, Room: "ok-room"})
	w.pump()
	id := w.c.ID()
	w.serverCommand(session.Send{To: id, Payload: []byte("s1")})
	w.serverCommand(session.Send{To: id, Payload: []byte("s2")})
	w.serverCommand(session.Call{To: id, ID: 7, Payload: []byte("q7")})
	w.serverCommand(session.Broadcast{Room: "ok-room", Payload: []byte("b1")})
	w.pump()
	w.now = w.now.Add(time.Second)
	w.step(session.Timeout{})
	w.pump()
	// Queued for the server but never delivered: unacknowledged.
	w.command(session.Send{Payload: []byte("c3")})
	w.command(session.Call{ID: 3, Payload: []byte("q3")})
}

// step feeds one input to the client and checks what comes out.
func (w *clientWorld) step(in session.Input) error {
	err := w.c.Step(w.now, in)
	w.ready(in)
	return err
}

// command steps an application command; its error must be documented.
func (w *clientWorld) command(in session.Input) error {
	err := w.step(in)
	checkCommandErr(w.t, fmt.Sprintf("client %T", in), err)
	if err != nil {
		return err
	}
	switch in := in.(type) {
	case session.Call:
		w.startRequest(in.ID)
	case session.JoinRoom:
		w.startRequest(in.ID)
	case session.LeaveRoom:
		w.startRequest(in.ID)
	case session.Reply:
		if !w.m.pendingIn[in.ID] {
			w.t.Fatalf("Reply to %d succeeded, but no such request is pending", in.ID)
		}
		delete(w.m.pendingIn, in.ID)
	}
	return nil
}

func (w *clientWorld) startRequest(id uint64) {
	if w.m.pendingOut[id] {
		w.t.Fatalf("request %d started twice", id)
	}
	w.m.pendingOut[id] = true
	if len(w.m.pendingOut) > clientMaxRequests {
		w.t.Fatalf("%d requests pending, beyond the limit of %d", len(w.m.pendingOut), clientMaxRequests)
	}
}

// recv feeds one transport message to the client on conn.
func (w *clientWorld) recv(conn session.ConnID, data []byte) {
	in := session.Recv{Conn: conn, Data: data}
	mustStep(w.t, "client", in, w.step(in))
	if conn != w.conn {
		return
	}
	// Learn the tokens and IDs a peer could replay.
	d := codec.NewDecoder(codec.Limits{MaxMessageSize: clientMaxMessage})
	if d.Reset(data) != nil {
		return
	}
	for {
		f, err := d.Next()
		if err != nil {
			return
		}
		if wl, ok := f.(*proto.Welcome); ok {
			w.k.addID(wl.ID)
			w.k.addToken(wl.Token)
		}
	}
}

// ready drains the client after an input and checks everything in it.
func (w *clientWorld) ready(in session.Input) {
	t, m := w.t, &w.m
	wasLive := w.live
	rd := w.c.Ready()
	if *trace {
		w.t.Logf("%v client %s -> %d msgs %v hangup=%v deadline=%v", w.now.Sub(t0), describe(in), len(rd.Transmit), rd.Events, rd.Hangup, rd.Deadline.Sub(t0))
	}
	if m.closed {
		if len(rd.Transmit) > 0 || len(rd.Events) > 0 || rd.Hangup || !rd.Deadline.IsZero() {
			t.Fatalf("output after Closed: %d messages, events %v, hangup %v, deadline %v",
				len(rd.Transmit), rd.Events, rd.Hangup, rd.Deadline)
		}
		return
	}

	// Events first: an accepted WELCOME sets the limit the messages of this
	// Ready were cut to.
	for i, ev := range rd.Events {
		if m.closed {
			t.Fatalf("event %v after Closed", ev)
		}
		switch ev := ev.(type) {
		case *session.SessionStarted:
			if ev.Client.IsZero() || !m.id.IsZero() {
				t.Fatalf("%v while session %s is live", ev, m.id)
			}
			m.id, m.lastSeq, m.wire, m.lateBase = ev.Client, 0, 0, m.lateNow
			w.k.addID(ev.Client)
			w.acceptedWelcome(in)
		case *session.Resumed:
			if ev.Client != m.id || m.id.IsZero() {
				t.Fatalf("%v, but the session is %s", ev, m.id)
			}
			w.acceptedWelcome(in)
		case *session.Delivered:
			if ev.Client != m.id || m.id.IsZero() || ev.Seq <= m.lastSeq {
				t.Fatalf("%v on %s after seq %d of session %s: not exactly once in order", ev, ev.Client, m.lastSeq, m.id)
			}
			m.lastSeq = ev.Seq
			m.wire, m.wireTotal = m.wire+1, m.wireTotal+1
		case *session.RequestReceived:
			if ev.Client != m.id || m.id.IsZero() || m.pendingIn[ev.ID] {
				t.Fatalf("%v on %s (session %s), pending %v", ev, ev.Client, m.id, m.pendingIn)
			}
			m.pendingIn[ev.ID] = true
			m.wire, m.wireTotal = m.wire+1, m.wireTotal+1
			if len(m.pendingIn) > clientMaxRequests {
				t.Fatalf("%d peer requests tracked, beyond the limit of %d", len(m.pendingIn), clientMaxRequests)
			}
		case *session.Response:
			if !m.pendingOut[ev.ID] {
				t.Fatalf("%v, but request %d is not pending: one outcome per request", ev, ev.ID)
			}
			delete(m.pendingOut, ev.ID)
			checkResponseErr(t, "client", ev)
			if !errors.Is(ev.Err, session.ErrRequestTimeout) && !errors.Is(ev.Err, session.ErrSessionLost) {
				m.wire, m.wireTotal = m.wire+1, m.wireTotal+1
			}
		case *session.SessionLost:
			if ev.Client != m.id || m.id.IsZero() || ev.Err == nil {
				t.Fatalf("%v, but the session is %s", ev, m.id)
			}
			w.checkEnd(ev.Lost)
			m.id, m.lastSeq, m.wire = proto.ClientID{}, 0, 0
			clear(m.pendingIn)
		case *session.Closed:
			if i != len(rd.Events)-1 {
				t.Fatalf("Closed is not the last event: %v", rd.Events[i+1:])
			}
			w.checkEnd(ev.Lost)
			m.closed = true
		case *session.Dial:
			if ev.Attempt < 1 || ev.At.Before(w.now) || w.live && !rd.Hangup {
				t.Fatalf("%v at %v (live %v)", ev, w.now, w.live)
			}
			w.dial = true
		case *session.ConnectionLost:
			if ev.Err == nil {
				t.Fatalf("ConnectionLost without a cause")
			}
		default:
			t.Fatalf("the client reported a server event %v", ev)
		}
	}
	if got := w.c.ID(); got != m.id && !m.closed {
		t.Fatalf("ID() = %s, but the events say %s", got, m.id)
	}
	st := w.c.Stats()
	if st.Sessions > 1 || st.Connections != 0 || st.Detached != 0 {
		t.Fatalf("client stats %+v", st)
	}
	// Every reliable frame delivered in order became exactly one event, or
	// was a response nobody waits for any more.
	if st.Delivered != m.wireTotal+st.LateResponses {
		t.Fatalf("stats say %d frames delivered (%d late responses), the application saw %d", st.Delivered, st.LateResponses, m.wireTotal)
	}
	m.lateNow = st.LateResponses

	// Then the messages.
	if len(rd.Transmit) > 0 && !wasLive {
		t.Fatalf("%d messages transmitted with no transport", len(rd.Transmit))
	}
	total := 0
	for _, msg := range rd.Transmit {
		total += len(msg)
		checkTransmit(t, w.dec, "client", msg, w.peerMax, true)
		if w.tap != nil {
			w.tap(false, msg)
		}
		if len(w.toServer) < 256 {
			w.toServer = append(w.toServer, queued{w.conn, msg})
		}
	}
	// Every unacknowledged frame at most once, plus control frames.
	if bound := clientUnackedBytes + 70_000 + clientInflight*64 + 2048; total > bound {
		t.Fatalf("one Ready transmitted %d bytes, beyond the bound of %d", total, bound)
	}
	if _, isTimeout := in.(session.Timeout); isTimeout && !rd.Deadline.IsZero() && !rd.Deadline.After(w.now) {
		t.Fatalf("after a Timeout at %v the deadline is %v: the driver would spin", w.now, rd.Deadline)
	}
	// A hangup of a transport that is already gone (a graceful close cut
	// short by Disconnected) is redundant but harmless.
	if rd.Hangup && wasLive {
		w.live = false
		mustStep(t, "server", session.Disconnected{Conn: w.conn}, w.s.Step(w.now, session.Disconnected{Conn: w.conn}))
		w.drainServer(false)
	}
}

// acceptedWelcome records the message size limit of the WELCOME in the
// message that established the session: the first WELCOME in it.
func (w *clientWorld) acceptedWelcome(in session.Input) {
	r, ok := in.(session.Recv)
	if !ok {
		w.t.Fatalf("session established by %T, not by a WELCOME", in)
	}
	d := codec.NewDecoder(codec.Limits{MaxMessageSize: clientMaxMessage})
	if d.Reset(r.Data) != nil {
		w.t.Fatalf("session established by an undecodable message")
	}
	for {
		f, err := d.Next()
		if err != nil {
			w.t.Fatalf("session established by a message without WELCOME")
		}
		if wl, ok := f.(*proto.Welcome); ok {
			w.peerMax = clientMaxMessage
			if wl.Limits.MaxMessageSize > 0 {
				w.peerMax = int(wl.Limits.MaxMessageSize)
			}
			return
		}
	}
}

// checkEnd checks a session's end report: every request failed first.
func (w *clientWorld) checkEnd(l session.Lost) {
	checkLost(w.t, "client", l, clientInflight, clientUnackedBytes)
	if len(w.m.pendingOut) > 0 {
		w.t.Fatalf("session ended with requests %v and no outcome for them", w.m.pendingOut)
	}
	// Each event took one sequence number; late responses took others, and
	// a request refused for a protocol violation one more.
	late := w.c.Stats().LateResponses - w.m.lateBase
	if l.LastReceived < w.m.lastSeq || l.LastReceived < w.m.wire || l.LastReceived > w.m.wire+late+1 {
		w.t.Fatalf("loss report says last received %d; the application saw %d frames up to seq %d (%d late responses)",
			l.LastReceived, w.m.wire, w.m.lastSeq, late)
	}
}

// connect brings up a new transport (a dial succeeded) on both machines.
func (w *clientWorld) connect() {
	if w.conn != 0 {
		w.old = append(w.old, w.conn)
	}
	w.conn, w.next = w.next, w.next+1
	w.dial = false
	mustStep(w.t, "server", session.Connected{Conn: w.conn}, w.s.Step(w.now, session.Connected{Conn: w.conn}))
	w.live = !w.m.closed
	err := w.step(session.Connected{Conn: w.conn})
	if err != nil && !(w.m.closed && errors.Is(err, session.ErrClosed)) {
		w.t.Fatalf("Connected after Dial: %v", err)
	}
	w.drainServer(false)
}

// disconnect drops the current transport under both machines.
func (w *clientWorld) disconnect() {
	w.live = false
	in := session.Disconnected{Conn: w.conn, Err: errors.New("connection reset")}
	mustStep(w.t, "server", in, w.s.Step(w.now, in))
	mustStep(w.t, "client", in, w.step(in))
	w.drainServer(false)
}

// serverCommand steps a command of the server application; its output
// waits for the next pump.
func (w *clientWorld) serverCommand(in session.Input) {
	checkCommandErr(w.t, fmt.Sprintf("server %T", in), w.s.Step(w.now, in))
}

// drainServer takes the server's output; with deliver, its messages for the
// client's live connection arrive (in order, as on a stream).
func (w *clientWorld) drainServer(deliver bool) bool {
	rd := w.s.Ready()
	for _, ev := range rd.Events {
		if r, ok := ev.(*session.RequestReceived); ok && w.tap != nil {
			w.srvReqs = append(w.srvReqs, r)
		}
	}
	moved := false
	for _, o := range rd.Transmit {
		if deliver && o.Conn == w.conn && w.live {
			if w.tap != nil {
				w.tap(true, o.Data)
			}
			w.recv(o.Conn, o.Data)
			moved = true
		}
	}
	for _, c := range rd.Hangup {
		if c == w.conn && w.live && deliver {
			w.live = false
			in := session.Disconnected{Conn: c, Err: errors.New("closed by server")}
			mustStep(w.t, "client", in, w.step(in))
		}
	}
	return moved
}

// toServerFlush hands what the client transmitted to the server.
func (w *clientWorld) toServerFlush() bool {
	q := w.toServer
	w.toServer = nil
	for _, m := range q {
		in := session.Recv{Conn: m.conn, Data: m.data}
		mustStep(w.t, "server", in, w.s.Step(w.now, in))
	}
	return len(q) > 0
}

// pump exchanges messages between the two machines until both are quiet.
func (w *clientWorld) pump() {
	for range 100 {
		a := w.toServerFlush()
		b := w.drainServer(true)
		if !a && !b {
			return
		}
	}
	w.t.Fatalf("client and server did not quiesce")
}

// run interprets a FuzzClient program.
func (w *clientWorld) run(s *script) {
	for ops := 0; s.more() && ops < 512; ops++ {
		switch s.byte() % nClientOps {
		case cOpRecv:
			w.recv(w.conn, s.blob())
		case cOpFrames:
			w.recv(w.conn, s.message(&w.k))
		case cOpAdvance:
			w.now = w.now.Add(time.Duration(s.u16()) * time.Millisecond)
			mustStep(w.t, "client", session.Timeout{}, w.step(session.Timeout{}))
		case cOpDeadline:
			if d := w.c.Ready().Deadline; d.After(w.now) {
				w.now = d
			}
			mustStep(w.t, "client", session.Timeout{}, w.step(session.Timeout{}))
		case cOpSend:
			p := s.blob()
			w.command(session.Send{Name: nameOf(p), Payload: p})
		case cOpCall:
			id, p := s.u64(), s.blob()
			w.command(session.Call{ID: id, Name: nameOf(p), Payload: p, Timeout: time.Duration(s.u16()) * time.Millisecond})
		case cOpReply:
			w.reply(s)
		case cOpRoom:
			join, id, room := s.flag(), s.u64(), string(s.blob())
			switch {
			case join:
				w.command(session.JoinRoom{ID: id, Room: room})
			case strings.HasPrefix(room, "pub:"):
				// A publish to the room after the prefix, named by it.
				room = room[len("pub:"):]
				w.command(session.Publish{ID: id, Room: room, Name: nameOf([]byte(room)), Payload: []byte(room)})
			default:
				w.command(session.LeaveRoom{ID: id, Room: room})
			}
		case cOpClose:
			abort, why := s.flag(), string(s.blob())
			var err error
			if abort {
				err = w.step(session.Abort{Reason: why})
			} else {
				err = w.step(session.Close{Reason: why})
			}
			checkCommandErr(w.t, "client Close", err)
			if err != nil && !w.m.closed && (abort || !errors.Is(err, session.ErrClosed)) {
				w.t.Fatalf("Close/Abort of a live machine: %v", err) // Close twice is ErrClosed
			}
		case cOpConnect:
			fail := s.flag()
			if !w.dial || w.m.closed {
				continue
			}
			if fail {
				w.dial = false
				mustStep(w.t, "client", session.Disconnected{}, w.step(session.Disconnected{Err: errors.New("dial failed")}))
				continue
			}
			w.connect()
		case cOpDisconnect:
			if w.live {
				w.disconnect()
			} else {
				in := session.Disconnected{Conn: w.conn}
				mustStep(w.t, "client", in, w.step(in))
			}
		case cOpStale:
			msg := s.message(&w.k)
			if len(w.old) == 0 {
				continue
			}
			before := w.c.Stats()
			w.recv(w.old[int(s.byte())%len(w.old)], msg)
			if after := w.c.Stats(); after != before {
				w.t.Fatalf("a message on a superseded connection changed the client: %+v -> %+v", before, after)
			}
		case cOpHonest:
			if id := w.c.ID(); !id.IsZero() {
				checkCommandErr(w.t, "server Send", w.s.Step(w.now, session.Send{To: id, Payload: s.blob()}))
			}
			w.pump()
		}
	}
}

func (w *clientWorld) reply(s *script) {
	pick, isErr := s.byte(), s.flag()
	id := uint64(pick)
	if pick < 0x80 && len(w.m.pendingIn) > 0 {
		ids := make([]uint64, 0, len(w.m.pendingIn))
		for id := range w.m.pendingIn {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		id = ids[int(pick)%len(ids)]
	}
	in := session.Reply{ID: id, Payload: []byte("answer")}
	if isErr {
		in.Payload, in.Err = nil, &proto.Error{Code: proto.ErrCodeApplication, Message: "no"}
	}
	err := w.command(in)
	if err == nil || w.m.closed {
		return
	}
	if w.m.pendingIn[id] && errors.Is(err, session.ErrUnknownRequest) {
		w.t.Fatalf("Reply %d: %v, but pending is %v", id, err, w.m.pendingIn[id])
	}
}

func modeOf(start byte) session.Mode {
	if start&8 != 0 {
		return session.Datagram
	}
	return session.Stream
}

// FuzzClient feeds a client machine, brought to one of eight states by a
// real server (handshake, open, traffic, resuming, closing, idle, closed,
// resumed; stream or datagram mode), a program of hostile transport
// messages (raw bytes and crafted frames, including WELCOMEs that reuse
// IDs and tokens seen earlier), time advances, transport events and
// application commands.
//
// Invariants: no panic; Step never returns an error for transport input or
// time, and only documented sentinels for commands; every Ready is
// well-formed: each event type is one the client reports, Delivered is
// exactly once and in order per session, each request gets exactly one
// Response, a session ends (SessionLost, Closed) only after all its
// requests failed, with a consecutive loss report within the send window,
// at most one Closed which is the last event, and nothing at all after it;
// transmitted messages decode into client frames, respect the peer's
// message limit when they hold several frames, appear only while a
// transport is up, and one Ready transmits at most the window plus control
// frames; after a Timeout the next deadline lies in the future; a message on
// a superseded connection changes nothing.
func FuzzClient(f *testing.F) {
	f.Fuzz(func(t *testing.T, start byte, program []byte) {
		w := newClientWorld(t, modeOf(start))
		w.setup(start)
		w.run(&script{b: program})
	})
}

// nameOf draws an event or method name from a payload, so that programs
// written before names existed still decode the same way: a payload whose
// first byte is odd names its message with up to 8 of the bytes after it
// (which may be invalid UTF-8: the machine must refuse that cleanly).
func nameOf(p []byte) string {
	if len(p) == 0 || p[0]&1 == 0 {
		return ""
	}
	return string(p[1:min(len(p), 9)])
}
