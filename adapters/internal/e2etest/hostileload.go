package e2etest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// The hostile-load suite: each attack of issue #11 run against a real
// server, with honest clients beside it, attackers and honest clients on
// different loopback addresses (honest from 127.0.0.2, attackers from four
// others, see attackSources) so that per-source limits can tell them apart.
// HostileLoad checks the defined outcomes (tests); MeasureHostile reports
// the figures (heap per attacking connection, honest round-trip p99 against
// the baseline of the same run, resume time) and is a benchmark.

// NetDial dials like net.Dialer.DialContext.
type NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

// LoadTransport is what the hostile-load runs need of a transport: dialing
// clients and raw peers through a given net dial function (so that they
// come from a chosen address and can be cut).
type LoadTransport struct {
	Transport
	// DialWith connects a client to addr through dial.
	DialWith func(ctx context.Context, addr string, dial NetDial, opts adapters.ClientOptions) (*adapters.Client, error)
	// RawWith opens a raw connection to addr through dial.
	RawWith func(ctx context.Context, addr string, dial NetDial) (RawConn, error)
	// Stream says the transport is netconn's length-prefixed TCP, open to
	// the length-prefix attack.
	Stream bool
}

// RawTCPWith is RawWith for netconn's framing.
func RawTCPWith(ctx context.Context, addr string, dial NetDial) (RawConn, error) {
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	raw := newTCPRaw(nc)
	nc.SetDeadline(time.Time{}) // an attack lasts as long as its run
	return raw, nil
}

// loopback is the address n in 127.0.0.0/8: 127.0.0.n for n < 256.
func loopback(n int) net.IP { return net.IPv4(127, byte(n>>16), byte(n>>8), byte(n)) }

// LoopbackSources reports whether this machine can dial from 127.0.0.2
// (Linux can; macOS has only 127.0.0.1 unless configured).
func LoopbackSources() bool {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: loopback(2)})
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// from returns a dial function from loopback(n) that remembers the last
// connection it made in *last (when last is not nil).
func from(n int, last *atomic.Pointer[net.Conn]) NetDial {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: loopback(n)}}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil && last != nil {
			last.Store(&c)
		}
		return c, err
	}
}

func mustEncode(frames ...proto.Frame) []byte {
	var b []byte
	for _, f := range frames {
		e, err := codec.Encode(f)
		if err != nil {
			panic("e2etest: " + err.Error())
		}
		b = append(b, e...)
	}
	return b
}

// --- honest clients ---

// honestLoad runs clients that each send a numbered message and a request
// every tick, recording the round trips; the server's handlers check that
// messages arrive once each, in order.
type honestLoad struct {
	tr      LoadTransport
	addr    string
	clients []*honestClient

	mu      sync.Mutex
	lat     []time.Duration // round trips of the current phase
	errs    []error
	resumed chan struct{} // an honest client resumed
}

type honestClient struct {
	n    int
	c    *adapters.Client
	conn atomic.Pointer[net.Conn]
	sent uint64
}

// serverChecks are the server's handlers for honest traffic: a request is
// answered with answer(payload); messages "h<client>-<seq>" must arrive in
// order, once each.
type serverChecks struct {
	mu   sync.Mutex
	next map[int]uint64
	bad  []string
}

func (s *serverChecks) onMessage(_ context.Context, m adapters.Message) {
	var client int
	var seq uint64
	if _, err := fmt.Sscanf(string(m.Payload), "h%d-%d", &client, &seq); err != nil {
		return // an attacker's
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next[client] != seq {
		s.bad = append(s.bad, fmt.Sprintf("client %d: message %d, want %d", client, seq, s.next[client]))
	}
	s.next[client] = seq + 1
}

func (s *serverChecks) options(opts adapters.ServerOptions) adapters.ServerOptions {
	s.next = make(map[int]uint64)
	opts.OnMessage = s.onMessage
	opts.OnRequest = func(_ context.Context, r adapters.Request) ([]byte, error) { return answer(r.Payload), nil }
	return opts
}

// check reports messages lost, duplicated or reordered, and whether every
// client's messages up to sent arrived.
func (s *serverChecks) check(h *honestLoad) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bad) > 0 {
		return fmt.Errorf("honest messages out of order, duplicated or lost: %v", s.bad[:min(5, len(s.bad))])
	}
	for _, c := range h.clients {
		if got := s.next[c.n]; got != c.sent {
			return fmt.Errorf("client %d: %d messages arrived of %d sent", c.n, got, c.sent)
		}
	}
	return nil
}

func startHonest(ctx context.Context, tr LoadTransport, addr string, n int) (*honestLoad, error) {
	h := &honestLoad{tr: tr, addr: addr, resumed: make(chan struct{}, n)}
	for i := range n {
		hc := &honestClient{n: i}
		c, err := tr.DialWith(ctx, addr, from(2, &hc.conn), adapters.ClientOptions{
			OnEvent: func(_ context.Context, ev session.Event) {
				if _, ok := ev.(*session.Resumed); ok {
					h.resumed <- struct{}{}
				}
			},
		})
		if err != nil {
			h.close(ctx)
			return nil, fmt.Errorf("honest client %d: %w", i, err)
		}
		hc.c = c
		h.clients = append(h.clients, hc)
	}
	return h, nil
}

// run drives every client until ctx ends: a message and a request each
// tick.
func (h *honestLoad) run(ctx context.Context, tick time.Duration) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, hc := range h.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(tick)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				msg := fmt.Appendf(nil, "h%d-%d", hc.n, hc.sent)
				if err := hc.c.Send(ctx, msg); err != nil {
					if ctx.Err() == nil {
						h.fail(fmt.Errorf("client %d send: %w", hc.n, err))
					}
					return
				}
				hc.sent++
				start := time.Now()
				resp, err := hc.c.Request(ctx, msg)
				if ctx.Err() != nil {
					return
				}
				if err != nil || !bytes.Equal(resp, answer(msg)) {
					h.fail(fmt.Errorf("client %d request: %q, %v", hc.n, resp, err))
					return
				}
				h.mu.Lock()
				h.lat = append(h.lat, time.Since(start))
				h.mu.Unlock()
			}
		}()
	}
	return &wg
}

func (h *honestLoad) fail(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

// phase returns the round trips since the last call.
func (h *honestLoad) phase() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	lat := h.lat
	h.lat = nil
	return lat
}

// p99 returns the 99th percentile of the round trips lat (which it
// sorts), and how many there were.
func p99(lat []time.Duration) (time.Duration, int) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100], len(lat)
}

func (h *honestLoad) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return errors.Join(h.errs...)
}

// cut closes client i's connection from its side, as a network failure
// would, and returns when the client has resumed (or ctx ended), with the
// time it took.
func (h *honestLoad) cut(ctx context.Context, i int) (time.Duration, error) {
	p := h.clients[i].conn.Load()
	if p == nil {
		return 0, errors.New("no connection to cut")
	}
	for len(h.resumed) > 0 {
		<-h.resumed
	}
	start := time.Now()
	(*p).Close()
	select {
	case <-h.resumed:
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("honest client %d never resumed", i)
	}
}

func (h *honestLoad) close(ctx context.Context) {
	for _, hc := range h.clients {
		hc.c.Close(ctx)
	}
}

// --- attacks ---

// Attack is one kind of hostile traffic: run attacks the server at addr
// from the loopback sources it is given until ctx ends, and returns how
// many connections it held open at most.
type Attack struct {
	Name   string
	Stream bool // netconn only
	// Conns is how many connections it holds, for the per-connection
	// heap; TestConns how many the tests use.
	Conns, TestConns int
	run              func(ctx context.Context, tr LoadTransport, addr string, sources []int, conns int) error
}

// handshake opens a raw connection from source n and completes a new
// session's handshake; it returns the WELCOME.
func handshake(ctx context.Context, tr LoadTransport, addr string, n int) (RawConn, *proto.Welcome, error) {
	raw, err := tr.RawWith(ctx, addr, from(n, nil))
	if err != nil {
		return nil, nil, err
	}
	w, err := helloWelcome(raw, &proto.Hello{Version: proto.Version})
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	if err := raw.WriteMessage(mustEncode(&proto.Ack{})); err != nil {
		raw.Close()
		return nil, nil, err
	}
	return raw, w, nil
}

// helloWelcome sends h and reads the WELCOME (or the CLOSE) it gets.
func helloWelcome(raw RawConn, h *proto.Hello) (*proto.Welcome, error) {
	if err := raw.WriteMessage(mustEncode(h)); err != nil {
		return nil, err
	}
	msg, err := raw.ReadMessage()
	if err != nil {
		return nil, err
	}
	dec := codec.NewDecoder(codec.Limits{})
	if err := dec.Reset(msg); err != nil {
		return nil, err
	}
	f, err := dec.Next()
	if err != nil {
		return nil, err
	}
	switch f := f.(type) {
	case *proto.Welcome:
		return codec.Clone(f).(*proto.Welcome), nil
	case *proto.Close:
		return nil, &session.CloseError{Code: f.Code, Reason: f.Reason, Remote: true}
	}
	return nil, fmt.Errorf("got %s, want WELCOME", f.Type())
}

// each runs fn on conns goroutines, spread over sources, and waits.
func each(conns int, sources []int, fn func(i, source int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, conns)
	for i := range conns {
		wg.Go(func() { errs[i] = fn(i, sources[i%len(sources)]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// NeverReads: connections that send heartbeats without pause and never
// read what the server answers.
var NeverReads = Attack{Name: "never-reads", Conns: 4, TestConns: 4, run: func(ctx context.Context, tr LoadTransport, addr string, sources []int, conns int) error {
	hb := mustEncode(&proto.Heartbeat{})
	return each(conns, sources, func(_, src int) error {
		raw, _, err := handshake(ctx, tr, addr, src)
		if err != nil {
			return err
		}
		defer raw.Close()
		// A write the server holds back (it pauses reading a flood)
		// ends with the attack.
		defer context.AfterFunc(ctx, func() { raw.Close() })()
		for ctx.Err() == nil {
			if raw.WriteMessage(hb) != nil {
				return nil // closed by the server: the defined outcome
			}
		}
		return nil
	})
}}

// FrameFlood: connections that send messages of ~1 MiB packed with ACK
// frames (some 350,000 each).
var FrameFlood = Attack{Name: "frame-flood", Conns: 4, TestConns: 2, run: func(ctx context.Context, tr LoadTransport, addr string, sources []int, conns int) error {
	ack := mustEncode(&proto.Ack{})
	msg := bytes.Repeat(ack, (session.DefaultMaxMessageSize-64)/len(ack))
	return each(conns, sources, func(_, src int) error {
		raw, _, err := handshake(ctx, tr, addr, src)
		if err != nil {
			return err
		}
		defer raw.Close()
		// A write the server holds back (it pauses reading a flood)
		// ends with the attack.
		defer context.AfterFunc(ctx, func() { raw.Close() })()
		go drain(raw)
		for ctx.Err() == nil {
			if raw.WriteMessage(msg) != nil {
				return nil
			}
		}
		return nil
	})
}}

// drain reads and drops what arrives on raw until it fails.
func drain(raw RawConn) {
	for {
		if _, err := raw.ReadMessage(); err != nil {
			return
		}
	}
}

// PreHello: 5,000 connections that never send HELLO, reopened as soon as
// the server closes them.
var PreHello = Attack{Name: "pre-hello", Conns: 5000, TestConns: 600, run: func(ctx context.Context, tr LoadTransport, addr string, sources []int, conns int) error {
	return each(conns, sources, func(_, src int) error {
		for ctx.Err() == nil {
			raw, err := tr.RawWith(ctx, addr, from(src, nil))
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				continue
			}
			stop := context.AfterFunc(ctx, func() { raw.Close() })
			drain(raw) // until the server closes it (or ctx ends)
			stop()
			raw.Close()
		}
		return nil
	})
}}

// Churn: one source opening sessions and dropping them at once, as fast
// as it can.
var Churn = Attack{Name: "churn", Conns: 8, TestConns: 8, run: func(ctx context.Context, tr LoadTransport, addr string, sources []int, conns int) error {
	return each(conns, sources[:1], func(_, src int) error {
		for ctx.Err() == nil {
			raw, err := tr.RawWith(ctx, addr, from(src, nil))
			if err != nil {
				continue
			}
			helloWelcome(raw, &proto.Hello{Version: proto.Version})
			raw.Close()
		}
		return nil
	})
}}

// BigAnnounce (netconn): 2,000 connections that each announce a 1 MiB
// message and send 100 bytes of it.
var BigAnnounce = Attack{Name: "big-announce", Stream: true, Conns: 2000, TestConns: 200, run: func(ctx context.Context, tr LoadTransport, addr string, sources []int, conns int) error {
	head := binary.BigEndian.AppendUint32(nil, 1<<20-64)
	head = append(head, make([]byte, 100)...)
	return each(conns, sources, func(_, src int) error {
		for ctx.Err() == nil {
			nc, err := from(src, nil)(ctx, "tcp", addr)
			if err != nil {
				continue
			}
			stop := context.AfterFunc(ctx, func() { nc.Close() })
			if _, err := nc.Write(head); err == nil {
				var b [1]byte
				nc.Read(b[:]) // until the server closes it
			}
			stop()
			nc.Close()
		}
		return nil
	})
}}

// Attacks are every attack of the suite.
var Attacks = []Attack{NeverReads, FrameFlood, PreHello, Churn, BigAnnounce}

// attackSources returns the loopback addresses that one run's attackers
// come from: 127.x.y.3 to 127.x.y.6, for x.y drawn at random. The kernel
// keeps the address and port pair of a closed connection for a minute
// (TIME_WAIT), and a flood from the addresses of a run in the minute
// before (this test's or another's) finds most of their ports taken: its
// connections then cost a search through the ports and mostly fail, and
// the attack, so the figures, depended on what ran before.
// Where only 127.0.0.x is configured (macOS), they are 127.0.0.3 to 6.
func attackSources() []int {
	b := (1 + rand.IntN(1<<16-1)) << 8
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: loopback(b + 3)})
	if err != nil {
		b = 0
	} else {
		l.Close()
	}
	return []int{b + 3, b + 4, b + 5, b + 6}
}

// liveHeap is the heap in use after two collections: what sync.Pools
// hold survives one (as their victim cache) and is freed by the next, so
// after one the buffers net/http pooled when an attack's connections
// closed were counted in the next attack's baseline (making its growth
// negative) and in an attack's end.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// HostileFigures are what one run of an attack found.
type HostileFigures struct {
	Attack                 string
	Conns                  int // attacking connections
	BaselineP99, AttackP99 time.Duration
	BaselineRTs, AttackRTs int
	// The attack phase's halves: the first has the attack's start (its
	// connection burst), the second the cut client's resume.
	FirstP99, SecondP99        time.Duration
	HeapBase, HeapMid, HeapEnd uint64
	Resume                     time.Duration
	HonestDetachedKept         int // churn: honest detached sessions that resumed afterwards
	HonestDetached             int
	// The CPU time of this process (the server, the honest clients and
	// the test) and of the attacker's (zero when it runs in this
	// process) during the attack phase, and the connections and sessions
	// a per-source limit refused or evicted meanwhile.
	ServerCPU, AttackerCPU time.Duration
	Throttled              uint64
	Err                    error // honest loss, duplication or failure
}

// runHostile runs attack with conns connections against a server with
// opts over tr, with four honest clients beside it: a baseline phase of d,
// then an attack phase of d during which honest client 0's connection is
// cut and resumed; it returns the figures and the server's counters.
//
// When until is not nil, the attack goes on until it reports true of the
// server's counters (or the run's two minutes are over).
func runHostile(t *testing.T, tr LoadTransport, attack Attack, conns int, opts adapters.ServerOptions, d time.Duration, launch launcher, until func(session.Stats) bool) (HostileFigures, session.Stats) {
	f := HostileFigures{Attack: attack.Name, Conns: conns}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var checks serverChecks
	srv, addr, stop := tr.Serve(t, ln, checks.options(opts))
	honest, err := startHonest(ctx, tr, addr, 4)
	if err != nil {
		stop(ctx)
		t.Fatal(err)
	}

	// Churn: honest sessions detached before the attack, resumed after,
	// from twenty honest sources.
	var parked []*proto.Welcome
	if attack.Name == Churn.Name {
		for i := range 200 {
			raw, w, err := handshake(ctx, tr, addr, honestSource(i))
			if err != nil {
				t.Fatal(err)
			}
			raw.Close()
			parked = append(parked, w)
		}
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	wg := honest.run(runCtx, 2*time.Millisecond)
	sleep(ctx, d)
	f.BaselineP99, f.BaselineRTs = p99(honest.phase())
	f.HeapBase = liveHeap()

	cpu, throttled := processCPU(), srv.Stats().Throttled
	stopAttack := launch(ctx, t, tr, attack, addr, attackSources(), conns)
	sleep(ctx, d/2)
	first := honest.phase()
	f.HeapMid = liveHeap()
	f.Resume, f.Err = honest.cut(ctx, 0)
	sleep(ctx, d/2)
	if until != nil {
		tick := time.NewTicker(5 * time.Millisecond)
		for !until(srv.Stats()) && ctx.Err() == nil {
			<-tick.C
		}
		tick.Stop()
	}
	f.HeapEnd = liveHeap()
	second := honest.phase()
	f.ServerCPU, f.Throttled = processCPU()-cpu, srv.Stats().Throttled-throttled
	f.AttackerCPU = stopAttack()
	f.FirstP99, _ = p99(first)
	f.SecondP99, _ = p99(second)
	f.AttackP99, f.AttackRTs = p99(append(first, second...))
	stopRun()
	wg.Wait()

	f.HonestDetached = len(parked)
	for i, w := range parked {
		raw, err := tr.RawWith(ctx, addr, from(honestSource(i), nil))
		if err != nil {
			t.Fatal(err)
		}
		r, err := helloWelcome(raw, &proto.Hello{Version: proto.Version, Resume: &proto.Resume{ID: w.ID, Token: w.Token, Attempt: uint64(i + 2)}})
		raw.Close()
		if err == nil && r.Resumed {
			f.HonestDetachedKept++
		}
	}
	// Close flushes what the honest clients sent, and the server's Close
	// waits for its handlers: then every message must have arrived.
	honest.close(ctx)
	st := srv.Stats()
	if err := stop(ctx); err != nil {
		t.Fatal(err)
	}
	f.Err = errors.Join(f.Err, honest.err(), checks.check(honest))
	return f, st
}

// honestSource is the loopback address of parked honest session i: one
// of 127.0.0.10 to 127.0.0.29.
func honestSource(i int) int { return 10 + i%20 }

// launcher starts an attack and returns what stops it and waits for it,
// which returns the CPU time the attack took in a process of its own.
type launcher func(ctx context.Context, t *testing.T, tr LoadTransport, a Attack, addr string, sources []int, conns int) func() time.Duration

// inProcess runs the attack on goroutines of this process.
func inProcess(ctx context.Context, t *testing.T, tr LoadTransport, a Attack, addr string, sources []int, conns int) func() time.Duration {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, tr, addr, sources, conns) }()
	return func() time.Duration {
		cancel()
		if err := <-done; err != nil {
			t.Logf("%s: the attack: %v", a.Name, err)
		}
		return 0
	}
}

// attackEnv makes a test binary started by inChild run an attack: "name
// addr conns sources", the sources separated by commas.
const attackEnv = "BETTERSOCKET_HOSTILE_ATTACK"

// inChild runs the attack in a child process (this test binary, running
// MeasureHostile with attackEnv set), so that the heap measured is the
// server's alone and the attack competes for the cores as another process.
func inChild(ctx context.Context, t *testing.T, tr LoadTransport, a Attack, addr string, sources []int, conns int) func() time.Duration {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMeasureHostile$")
	src := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(sources)), ","), "[]")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %s", attackEnv, a.Name, addr, conns, src))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() time.Duration {
		in.Close()
		cmd.Wait()
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
}

// attackChild is the child process of inChild: it attacks until its stdin
// ends.
func attackChild(t *testing.T, tr LoadTransport, spec string) {
	var name, addr, src string
	var conns int
	if _, err := fmt.Sscanf(spec, "%s %s %d %s", &name, &addr, &conns, &src); err != nil {
		t.Fatalf("%s=%q: %v", attackEnv, spec, err)
	}
	var sources []int
	for s := range strings.SplitSeq(src, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", attackEnv, spec, err)
		}
		sources = append(sources, n)
	}
	i := slices.IndexFunc(Attacks, func(a Attack) bool { return a.Name == name })
	if i < 0 {
		t.Fatalf("no attack %q", name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	Attacks[i].run(ctx, tr, addr, sources, conns)
	os.Exit(0) // the goroutines of a stopped attack need not be waited for
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// HostileLoad runs each attack that applies to tr, at a tenth of its
// size, against a server with default options and honest clients beside
// it, and checks the outcomes the library defines, none of which depends
// on the machine's speed: every honest request is answered and every
// honest message arrives once, in order; an honest client whose
// connection is cut in the middle of the attack resumes its session;
// after session churn from one source, every honest detached session
// still resumes; the per-source limits act where the attack needs them to
// (pre-HELLO floods and churn are throttled: those attacks go on until
// they are).
func HostileLoad(t *testing.T, tr LoadTransport) {
	if testing.Short() {
		t.Skip("hostile load: several seconds of attacks")
	}
	if !LoopbackSources() {
		t.Skip("needs loopback addresses 127.0.0.2 and up")
	}
	for _, a := range Attacks {
		if a.Stream && !tr.Stream {
			continue
		}
		t.Run(a.Name, func(t *testing.T) {
			// Pre-HELLO floods and churn go on until a per-source limit
			// acts, however long the machine takes to get there.
			var until func(session.Stats) bool
			if a.Name == Churn.Name || a.Name == PreHello.Name {
				until = func(st session.Stats) bool { return st.Throttled > 0 }
			}
			f, st := runHostile(t, tr, a, a.TestConns, adapters.ServerOptions{}, 400*time.Millisecond, inProcess, until)
			if f.Err != nil {
				t.Error(f.Err)
			}
			if f.HonestDetachedKept != f.HonestDetached {
				t.Errorf("%d of %d honest detached sessions resumed after the churn", f.HonestDetachedKept, f.HonestDetached)
			}
			if until != nil && !until(st) {
				t.Error("no per-source limit acted")
			}
		})
	}
}

// MeasureEnv, set to a duration ("3s"), makes MeasureHostile run: the
// length of each phase.
const MeasureEnv = "BETTERSOCKET_HOSTILE_MEASURE"

// OnlyEnv names the attacks MeasureHostile runs, separated by commas
// (default: all).
const OnlyEnv = "BETTERSOCKET_HOSTILE_ONLY"

// MeasureHostile is the measurement of the acceptance figures, a test that
// runs only when MeasureEnv is set, at full size, with default options,
// the attack in a child process, and logs one line per attack:
//
//	BETTERSOCKET_HOSTILE_MEASURE=3s go test -run MeasureHostile -v ./adapters/netconn
//
// heap/attacker is the growth of the live heap over the baseline per
// attacking connection at the end of the attack, heap mid and end the
// growth halfway through the attack and at its end, p99 the honest round
// trips' 99th percentile in the baseline phase and under attack (and in
// each half of the attack), resume the time an honest client whose
// connection was cut took to resume, cpu the CPU time (user and system)
// that this process (server, honest clients, test) and the attacker's
// used during the attack, throttled how many connections and sessions a
// per-source limit refused or evicted meanwhile.
//
// The p99 under attack that issue #11 bounds (at most twice the
// baseline, or 50 ms) is taken over the whole attack phase, from the
// moment the attack is launched: it includes the attacker's opening burst
// (5,000 connections for pre-hello, opened as fast as the attacker can),
// the cut client's resume and the collections that measure the heap,
// because an honest client lives through all of them; the window is not
// narrowed to a quieter steady state. The halves tell the burst (first)
// from the steady attack (second), and the CPU times tell what the server
// spends from what the attacker does: on a 2-core machine the attacker's
// process, and the kernel's work for its connections, take the same cores
// as the server, which is what the 50 ms floor allows for.
func MeasureHostile(t *testing.T, tr LoadTransport, phase string) {
	if spec := os.Getenv(attackEnv); spec != "" {
		attackChild(t, tr, spec)
		return
	}
	if phase == "" {
		t.Skip("set " + MeasureEnv + " to measure")
	}
	d, err := time.ParseDuration(phase)
	if err != nil {
		t.Fatal(err)
	}
	if !LoopbackSources() {
		t.Skip("needs loopback addresses 127.0.0.2 and up")
	}
	only := os.Getenv(OnlyEnv)
	for _, a := range Attacks {
		if a.Stream && !tr.Stream || only != "" && !slices.Contains(strings.Split(only, ","), a.Name) {
			continue
		}
		f, _ := runHostile(t, tr, a, a.Conns, adapters.ServerOptions{}, d, inChild, nil)
		kept := ""
		if f.HonestDetached > 0 {
			kept = fmt.Sprintf(" honest-detached-kept=%d/%d", f.HonestDetachedKept, f.HonestDetached)
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		t.Logf("%-12s conns=%-5d heap/attacker=%7.1f KiB heap mid=%+6.1f end=%+6.1f MiB p99 base=%6.2f ms attack=%7.2f ms (halves %.2f, %.2f; %d/%d round trips) resume=%4d ms cpu server=%.2fs attacker=%.2fs throttled=%d%s err=%v",
			a.Name, f.Conns, float64(int64(f.HeapEnd)-int64(f.HeapBase))/float64(f.Conns)/1024,
			float64(int64(f.HeapMid)-int64(f.HeapBase))/(1<<20), float64(int64(f.HeapEnd)-int64(f.HeapBase))/(1<<20),
			ms(f.BaselineP99), ms(f.AttackP99), ms(f.FirstP99), ms(f.SecondP99),
			f.BaselineRTs, f.AttackRTs, f.Resume.Milliseconds(),
			f.ServerCPU.Seconds(), f.AttackerCPU.Seconds(), f.Throttled, kept, f.Err)
	}
}

// PeerInfo checks that where a connection comes from reaches the server:
// a client dialing from 127.0.0.2 is seen by the Authorize hook with that
// source and remote address, and, over WebSocket (wantRequest), with the
// HTTP request of its upgrade.
func PeerInfo(t *testing.T, tr LoadTransport, wantRequest bool) {
	if !LoopbackSources() {
		t.Skip("needs loopback addresses 127.0.0.2 and up")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := make(chan session.AuthRequest, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, addr, stop := tr.Serve(t, ln, adapters.ServerOptions{Session: session.ServerConfig{
		Authorize: func(r session.AuthRequest) error {
			select {
			case seen <- r:
			default:
			}
			return nil
		},
	}})
	c, err := tr.DialWith(ctx, addr, from(2, nil), adapters.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := <-seen
	if r.Source != "127.0.0.2" {
		t.Errorf("source %q, want 127.0.0.2", r.Source)
	}
	if a, ok := adapters.RemoteAddr(r).(*net.TCPAddr); !ok || !a.IP.Equal(loopback(2)) {
		t.Errorf("remote address %v, want 127.0.0.2:port", adapters.RemoteAddr(r))
	}
	if req := adapters.HTTPRequest(r); (req != nil) != wantRequest {
		t.Errorf("HTTP request %v, want one: %t", req, wantRequest)
	}
	if err := c.Close(ctx); err != nil {
		t.Error(err)
	}
	if err := stop(ctx); err != nil {
		t.Error(err)
	}
}
