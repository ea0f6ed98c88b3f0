package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
)

// This file is the in-package test pump: one Server, N Clients, and the
// transport messages between them held in queues that a test delivers,
// drops, duplicates or reorders by hand, under a fake clock. Everything is
// deterministic: randomness comes from seeded ChaCha8 generators.

// tester is what the pump and the helpers need of *testing.T, *testing.B
// and *rapid.T.
type tester interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// t0 is the start of every test's fake clock.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// errEOF is what the pump reports as the cause of a transport that closed.
var errEOF = io.EOF

// seeded returns a deterministic random source for Config.Rand.
func seeded(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

// msg is one transport message in flight, or (fin) the transport's end of
// stream: delivering it steps Disconnected on the receiving side. Dropping a
// fin makes the connection half-open.
type msg struct {
	conn ConnID
	data []byte
	fin  bool
}

// pclient is one client machine of the pump and its in-flight queues.
type pclient struct {
	name     string
	m        *Client
	conn     ConnID // its current transport, 0 when none
	up       []msg  // client → server, oldest first
	down     []msg  // server → client, oldest first
	events   []Event
	dials    []*Dial
	deadline time.Time
	sessions int // sessions started, for aliases
}

type pump struct {
	t         tester
	now       time.Time
	srv       *Server
	sevents   []Event
	sdeadline time.Time
	clients   []*pclient
	owner     map[ConnID]*pclient
	lastConn  ConnID
	tracing   bool
	trace     []string
	alias     map[string]string // client ID string → readable name
	aliasKeys []string
	record    []string // with recording on: every output of every Ready, raw
	recording bool
}

// newPump builds a server and n clients with seeded randomness. The client
// configuration is copied for each client (with its own Rand).
func newPump(t tester, scfg ServerConfig, ccfg ClientConfig, n int) *pump {
	t.Helper()
	if scfg.Rand == nil {
		scfg.Rand = seeded(1)
	}
	p := &pump{
		t: t, now: t0, srv: NewServer(scfg),
		owner: make(map[ConnID]*pclient), tracing: true,
		alias: make(map[string]string),
	}
	for i := range n {
		p.addClient(ccfg, uint64(100+i))
	}
	return p
}

func (p *pump) addClient(cfg ClientConfig, seed uint64) *pclient {
	cfg.Rand = seeded(seed)
	pc := &pclient{name: fmt.Sprintf("c%d", len(p.clients)+1), m: NewClient(cfg)}
	p.clients = append(p.clients, pc)
	return pc
}

func (p *pump) c(i int) *pclient { return p.clients[i-1] }

// connect opens a new transport for pc: both sides step Connected, and the
// outputs are collected (not delivered).
func (p *pump) connect(pc *pclient) ConnID {
	p.t.Helper()
	p.lastConn++
	id := p.lastConn
	pc.conn = id
	p.owner[id] = pc
	if err := pc.m.Step(p.now, Connected{Conn: id}); err != nil {
		p.t.Fatalf("%s: Connected: %v", pc.name, err)
	}
	if err := p.srv.Step(p.now, Connected{Conn: id}); err != nil {
		p.t.Fatalf("server: Connected %d: %v", id, err)
	}
	p.ready()
	return id
}

// handshake connects pc and runs the handshake to completion.
func (p *pump) handshake(pc *pclient) {
	p.t.Helper()
	p.connect(pc)
	p.stabilize()
	if !pc.m.Established() {
		p.t.Fatalf("%s: not established after the handshake", pc.name)
	}
}

// ready drains every machine and queues what they transmit.
func (p *pump) ready() {
	rd := p.srv.Ready()
	if p.recording {
		p.recordServer(rd)
	}
	for _, o := range rd.Transmit {
		pc := p.owner[o.Conn]
		if pc == nil {
			p.t.Fatalf("server transmitted on unknown connection %d", o.Conn)
		}
		pc.down = append(pc.down, msg{conn: o.Conn, data: o.Data})
	}
	for _, id := range rd.Hangup {
		pc := p.owner[id]
		pc.down = append(pc.down, msg{conn: id, fin: true})
	}
	for _, ev := range rd.Events {
		if st, ok := ev.(*SessionStarted); ok {
			if pc := p.owner[st.Conn]; pc != nil {
				pc.sessions++
				name := pc.name
				if pc.sessions > 1 {
					name = fmt.Sprintf("%s#%d", pc.name, pc.sessions)
				}
				p.setAlias(st.Client, name)
			}
		}
	}
	p.sevents = append(p.sevents, rd.Events...)
	p.sdeadline = rd.Deadline
	for _, pc := range p.clients {
		crd := pc.m.Ready()
		if p.recording {
			p.recordClient(pc, crd)
		}
		for _, b := range crd.Transmit {
			pc.up = append(pc.up, msg{conn: pc.conn, data: b})
		}
		if crd.Hangup {
			pc.up = append(pc.up, msg{conn: pc.conn, fin: true})
		}
		for _, ev := range crd.Events {
			if d, ok := ev.(*Dial); ok {
				pc.dials = append(pc.dials, d)
			}
		}
		pc.events = append(pc.events, crd.Events...)
		pc.deadline = crd.Deadline
	}
}

func (p *pump) setAlias(id proto.ClientID, name string) {
	k := id.String()
	if _, ok := p.alias[k]; !ok {
		p.aliasKeys = append(p.aliasKeys, k)
	}
	p.alias[k] = "<" + name + ">"
}

// name replaces known client IDs in s by their aliases.
func (p *pump) name(s string) string {
	for _, k := range p.aliasKeys {
		s = strings.ReplaceAll(s, k, p.alias[k])
	}
	return s
}

func (p *pump) log(from, arrow, to string, m msg) {
	if !p.tracing {
		return
	}
	if m.fin {
		p.trace = append(p.trace, fmt.Sprintf("%s %s %s: FIN", from, arrow, to))
		return
	}
	if secure.IsRecord(m.data) {
		p.trace = append(p.trace, fmt.Sprintf("%s %s %s: %d bytes of records", from, arrow, to, len(m.data)))
		return
	}
	for _, f := range framesOf(p.t, m.data) {
		p.trace = append(p.trace, p.name(fmt.Sprintf("%s %s %s: %s", from, arrow, to, f)))
	}
}

// deliverUp delivers pc's oldest client→server message.
func (p *pump) deliverUp(pc *pclient) {
	p.t.Helper()
	m := pc.up[0]
	pc.up = pc.up[1:]
	p.log(pc.name, "->", "s", m)
	var err error
	if m.fin {
		err = p.srv.Step(p.now, Disconnected{Conn: m.conn, Err: errEOF})
	} else {
		// As the adapters do: what a step leaves unread (MaxFramesPerStep)
		// is stepped again, from the end of the message.
		data := m.data
		for more := true; more && err == nil; {
			err = p.srv.Step(p.now, Recv{Conn: m.conn, Data: data})
			var n int
			n, more = p.srv.Unread()
			data = data[len(data)-n:]
		}
	}
	if err != nil {
		p.t.Fatalf("server step: %v", err)
	}
}

// deliverDown delivers pc's oldest server→client message.
func (p *pump) deliverDown(pc *pclient) {
	p.t.Helper()
	m := pc.down[0]
	pc.down = pc.down[1:]
	p.log("s", "->", pc.name, m)
	var err error
	if m.fin {
		err = pc.m.Step(p.now, Disconnected{Conn: m.conn, Err: errEOF})
	} else {
		err = pc.m.Step(p.now, Recv{Conn: m.conn, Data: m.data})
	}
	if err != nil {
		p.t.Fatalf("%s step: %v", pc.name, err)
	}
}

// dropUp and dropDown lose pc's oldest message in that direction.
func (p *pump) dropUp(pc *pclient) {
	p.log(pc.name, "->x", "s", pc.up[0])
	pc.up = pc.up[1:]
}

func (p *pump) dropDown(pc *pclient) {
	p.log("s", "->x", pc.name, pc.down[0])
	pc.down = pc.down[1:]
}

// busy reports whether any message is in flight.
func (p *pump) busy() bool {
	for _, pc := range p.clients {
		if len(pc.up) > 0 || len(pc.down) > 0 {
			return true
		}
	}
	return false
}

// stabilize delivers everything in flight, and everything that answers
// it, until nothing moves (bounded: a livelock fails the test).
func (p *pump) stabilize() {
	p.t.Helper()
	for range 10_000 {
		p.ready()
		if !p.busy() {
			return
		}
		for _, pc := range p.clients {
			for len(pc.down) > 0 {
				p.deliverDown(pc)
			}
			for len(pc.up) > 0 {
				p.deliverUp(pc)
			}
		}
	}
	p.t.Fatalf("pump did not stabilize")
}

// timeout steps a Timeout on every machine at the current time and
// collects the outputs.
func (p *pump) timeout() {
	p.t.Helper()
	if err := p.srv.Step(p.now, Timeout{}); err != nil {
		p.t.Fatalf("server timeout: %v", err)
	}
	for _, pc := range p.clients {
		if err := pc.m.Step(p.now, Timeout{}); err != nil {
			p.t.Fatalf("%s timeout: %v", pc.name, err)
		}
	}
	p.ready()
}

// advance moves the clock by d and steps one Timeout on every machine,
// without delivering anything.
func (p *pump) advance(d time.Duration) {
	p.t.Helper()
	p.now = p.now.Add(d)
	p.timeout()
}

// nextDeadline is the earliest deadline of all machines, or zero.
func (p *pump) nextDeadline() time.Time {
	d := p.sdeadline
	for _, pc := range p.clients {
		if !pc.deadline.IsZero() && (d.IsZero() || pc.deadline.Before(d)) {
			d = pc.deadline
		}
	}
	return d
}

// run moves the clock forward by d through every deadline on the way,
// delivering all messages instantly after each timeout.
func (p *pump) run(d time.Duration) {
	p.t.Helper()
	end := p.now.Add(d)
	p.stabilize()
	for range 100_000 {
		next := p.nextDeadline()
		if next.IsZero() || next.After(end) {
			p.now = end
			p.timeout()
			p.stabilize()
			return
		}
		if next.After(p.now) {
			p.now = next
		}
		p.timeout()
		p.stabilize()
	}
	p.t.Fatalf("run(%s) did not reach its end", d)
}

// takeTrace returns and clears the trace.
func (p *pump) takeTrace() []string {
	tr := p.trace
	p.trace = nil
	return tr
}

// takeEvents returns pc's event strings (with aliases) and clears them.
func (p *pump) takeEvents(pc *pclient) []string {
	out := make([]string, len(pc.events))
	for i, ev := range pc.events {
		out[i] = p.name(ev.String())
	}
	pc.events = nil
	pc.dials = nil
	return out
}

// takeServerEvents returns the server's event strings and clears them.
func (p *pump) takeServerEvents() []string {
	out := make([]string, len(p.sevents))
	for i, ev := range p.sevents {
		out[i] = p.name(ev.String())
	}
	p.sevents = nil
	return out
}

// send makes pc send payload, failing the test on error.
func (p *pump) send(pc *pclient, payload string) {
	p.t.Helper()
	if err := pc.m.Step(p.now, Send{Payload: []byte(payload)}); err != nil {
		p.t.Fatalf("%s send %q: %v", pc.name, payload, err)
	}
}

// sendTo makes the server send payload to pc's session.
func (p *pump) sendTo(pc *pclient, payload string) {
	p.t.Helper()
	if err := p.srv.Step(p.now, Send{To: pc.m.ID(), Payload: []byte(payload)}); err != nil {
		p.t.Fatalf("server send %q to %s: %v", payload, pc.name, err)
	}
}

// --- helpers shared by the tests of this package ---

// framesOf decodes a transport message into frame strings.
func framesOf(t tester, data []byte) []string {
	t.Helper()
	var out []string
	for _, f := range decodeAll(t, data) {
		out = append(out, f.String())
	}
	return out
}

// decodeAll decodes a transport message into owned frames.
func decodeAll(t tester, data []byte) []proto.Frame {
	t.Helper()
	d := codec.NewDecoder(codec.Limits{MaxMessageSize: 1 << 30})
	if err := d.Reset(data); err != nil {
		t.Fatalf("decode: %v", err)
	}
	var out []proto.Frame
	for {
		f, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = append(out, codec.Clone(f))
	}
}

// wireStrings decodes every message of a Transmit list into frame strings.
func wireStrings(t tester, msgs [][]byte) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		out = append(out, framesOf(t, m)...)
	}
	return out
}

// serverWire decodes a server's Transmit list into "conn: FRAME" strings.
func serverWire(t tester, out []Outgoing) []string {
	t.Helper()
	var s []string
	for _, o := range out {
		for _, f := range framesOf(t, o.Data) {
			s = append(s, fmt.Sprintf("%d: %s", o.Conn, f))
		}
	}
	return s
}

// encode builds one transport message from frames.
func encode(t tester, frames ...proto.Frame) []byte {
	t.Helper()
	var e codec.Encoder
	var b []byte
	for _, f := range frames {
		var err error
		if b, err = e.Append(b, f); err != nil {
			t.Fatalf("encode %s: %v", f, err)
		}
	}
	return b
}

// eventStrings renders events.
func eventStrings(evs []Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.String()
	}
	return out
}

// eq fails the test when got and want differ, showing both in full.
func eq[T comparable](t tester, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\ngot:\n%s\nwant:\n%s", what, lines(got), lines(want))
	}
}

func lines[T any](xs []T) string {
	var b strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&b, "\t%v\n", x)
	}
	if len(xs) == 0 {
		b.WriteString("\t(none)\n")
	}
	return b.String()
}

// must fails the test on a non-nil error.
func must(t tester, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// --- scripted peers: one machine driven by hand-written frames ---

// testID returns a recognizable client ID.
func testID(n byte) proto.ClientID {
	return proto.ClientID{0x10, n, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, n}
}

// testToken returns a recognizable 32-byte token.
func testToken(n byte) []byte {
	b := make([]byte, proto.TokenLen)
	for i := range b {
		b[i] = n
	}
	return b
}

// testWelcome is a server's WELCOME for a new session with a long heartbeat
// interval, so that scripted tests see only the frames they provoke.
func testWelcome(id byte) *proto.Welcome {
	return &proto.Welcome{
		Version: proto.Version, ID: testID(id), Token: testToken(id),
		Heartbeat: time.Hour, IdleTimeout: 3 * time.Hour,
	}
}

// cli drives one Client against a scripted server.
type cli struct {
	t    tester
	m    *Client
	now  time.Time
	conn ConnID
}

func newCli(t tester, cfg ClientConfig) *cli {
	if cfg.Rand == nil {
		cfg.Rand = seeded(7)
	}
	return &cli{t: t, m: NewClient(cfg), now: t0}
}

// at sets the clock to t0+d.
func (h *cli) at(d time.Duration) { h.now = t0.Add(d) }

func (h *cli) step(in Input) {
	h.t.Helper()
	must(h.t, h.m.Step(h.now, in))
}

// recv delivers frames as one transport message on the current connection.
func (h *cli) recv(frames ...proto.Frame) {
	h.t.Helper()
	h.step(Recv{Conn: h.conn, Data: encode(h.t, frames...)})
}

// ready drains the client and decodes what it transmits.
func (h *cli) ready() ([]string, Ready) {
	h.t.Helper()
	rd := h.m.Ready()
	return wireStrings(h.t, rd.Transmit), rd
}

// expect drains the client and checks its frames and events exactly.
func (h *cli) expect(frames, events []string) Ready {
	h.t.Helper()
	got, rd := h.ready()
	eq(h.t, "client frames", got, frames)
	eq(h.t, "client events", eventStrings(rd.Events), events)
	return rd
}

// open connects a new transport and completes the handshake with w.
func (h *cli) open(w *proto.Welcome) {
	h.t.Helper()
	h.conn++
	h.step(Connected{Conn: h.conn})
	got, _ := h.ready()
	if len(got) != 1 || !strings.HasPrefix(got[0], "HELLO v=1") {
		h.t.Fatalf("want one HELLO, got %q", got)
	}
	h.recv(w)
	got, _ = h.ready()
	if len(got) == 0 || !strings.HasPrefix(got[0], "ACK ") {
		h.t.Fatalf("want ACK after WELCOME, got %q", got)
	}
}

// srv drives one Server against scripted clients.
type srv struct {
	t   tester
	s   *Server
	now time.Time
}

func newSrv(t tester, cfg ServerConfig) *srv {
	if cfg.Rand == nil {
		cfg.Rand = seeded(1)
	}
	return &srv{t: t, s: NewServer(cfg), now: t0}
}

func (h *srv) at(d time.Duration) { h.now = t0.Add(d) }

func (h *srv) step(in Input) {
	h.t.Helper()
	must(h.t, h.s.Step(h.now, in))
}

func (h *srv) recv(conn ConnID, frames ...proto.Frame) {
	h.t.Helper()
	h.step(Recv{Conn: conn, Data: encode(h.t, frames...)})
}

// ready drains the server: frames as "conn: FRAME" strings.
func (h *srv) ready() ([]string, ServerReady) {
	h.t.Helper()
	rd := h.s.Ready()
	return serverWire(h.t, rd.Transmit), rd
}

// expect drains the server and checks frames, hangups and events exactly.
func (h *srv) expect(frames []string, hangups []ConnID, events []string) ServerReady {
	h.t.Helper()
	got, rd := h.ready()
	eq(h.t, "server frames", got, frames)
	eq(h.t, "server hangups", rd.Hangup, hangups)
	eq(h.t, "server events", eventStrings(rd.Events), events)
	return rd
}

// accept connects conn, sends a HELLO for a new session and the ACK that
// completes the handshake; it returns the WELCOME.
func (h *srv) accept(conn ConnID) *proto.Welcome {
	h.t.Helper()
	h.step(Connected{Conn: conn})
	h.recv(conn, &proto.Hello{Version: proto.Version})
	rd := h.s.Ready()
	if len(rd.Transmit) != 1 {
		h.t.Fatalf("want one message with WELCOME, got %d", len(rd.Transmit))
	}
	fs := decodeAll(h.t, rd.Transmit[0].Data)
	w, ok := fs[0].(*proto.Welcome)
	if !ok {
		h.t.Fatalf("want WELCOME, got %s", fs[0])
	}
	h.recv(conn, &proto.Ack{Ack: 0})
	if rd := h.s.Ready(); len(rd.Transmit) != 0 {
		h.t.Fatalf("ACK 0 provoked output: %q", serverWire(h.t, rd.Transmit))
	}
	return w
}

// cut kills pc's transport: both sides step Disconnected and what was in
// flight on it is lost.
func (p *pump) cut(pc *pclient) {
	p.t.Helper()
	p.ready()
	conn := pc.conn
	p.dropConn(pc, conn)
	if err := pc.m.Step(p.now, Disconnected{Conn: conn, Err: errEOF}); err != nil {
		p.t.Fatalf("%s: %v", pc.name, err)
	}
	if err := p.srv.Step(p.now, Disconnected{Conn: conn, Err: errEOF}); err != nil {
		p.t.Fatalf("server: %v", err)
	}
	p.ready()
	p.dropConn(pc, conn) // a hangup answering the disconnect
}

// cutClientSide kills pc's transport as only the client sees it: the server
// keeps a half-open connection. In-flight messages are lost.
func (p *pump) cutClientSide(pc *pclient) {
	p.t.Helper()
	p.ready()
	conn := pc.conn
	p.dropConn(pc, conn)
	if err := pc.m.Step(p.now, Disconnected{Conn: conn, Err: errEOF}); err != nil {
		p.t.Fatalf("%s: %v", pc.name, err)
	}
	p.ready()
	p.dropConn(pc, conn)
}

// dropConn forgets every in-flight message of conn.
func (p *pump) dropConn(pc *pclient, conn ConnID) {
	keep := func(q []msg) []msg {
		out := q[:0]
		for _, m := range q {
			if m.conn != conn {
				out = append(out, m)
			}
		}
		return out
	}
	pc.up, pc.down = keep(pc.up), keep(pc.down)
}

// recordServer and recordClient log a Ready byte for byte: transmitted
// messages in hex, hangups, event strings (with raw client IDs) and the
// deadline.
func (p *pump) recordServer(rd ServerReady) {
	for _, o := range rd.Transmit {
		p.record = append(p.record, fmt.Sprintf("s>%d %x", o.Conn, o.Data))
	}
	for _, id := range rd.Hangup {
		p.record = append(p.record, fmt.Sprintf("s>%d hangup", id))
	}
	for _, ev := range rd.Events {
		p.record = append(p.record, "s! "+ev.String())
	}
	p.record = append(p.record, "s@ "+rd.Deadline.Format(time.RFC3339Nano))
}

func (p *pump) recordClient(pc *pclient, rd Ready) {
	for _, b := range rd.Transmit {
		p.record = append(p.record, fmt.Sprintf("%s> %x", pc.name, b))
	}
	if rd.Hangup {
		p.record = append(p.record, pc.name+"> hangup")
	}
	for _, ev := range rd.Events {
		p.record = append(p.record, pc.name+"! "+ev.String())
	}
	p.record = append(p.record, pc.name+"@ "+rd.Deadline.Format(time.RFC3339Nano))
}
