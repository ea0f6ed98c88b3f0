package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/internal/breakage"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Epoch is the instant every simulation starts at (the time in the spec's
// Scenario 2).
var Epoch = time.Date(2022, time.April, 19, 22, 46, 58, 0, time.UTC)

// Errors the simulator hands to the machines in Disconnected inputs and
// returns from its own commands.
var (
	// ErrPeerClosed: the other end hung up (the close notice arrived).
	ErrPeerClosed = errors.New("sim: connection closed by peer")
	// ErrReset: the connection was reset by a disconnect fault.
	ErrReset = errors.New("sim: connection reset")
	// ErrUnreachable: a dial failed because the client is partitioned from
	// the server.
	ErrUnreachable = errors.New("sim: server unreachable")
	// ErrNoProgress: a run exceeded its event budget without reaching the
	// state it was run to (a livelock in a machine or the simulator).
	ErrNoProgress = errors.New("sim: no progress")
)

// Defaults applied to zero-valued [Options] fields.
const (
	DefaultDelay     = 10 * time.Millisecond
	DefaultMaxEvents = 5_000_000
)

// Options configure a simulation. The zero value is a stream-mode network
// with a 10 ms one-way delay and machines with the session defaults.
type Options struct {
	// Seed is the one number every random choice derives from.
	Seed uint64
	// Mode is the transport guarantee of every connection (and the mode of
	// every machine).
	Mode session.Mode
	// Delay is the one-way latency of every link. Default 10 ms.
	Delay time.Duration
	// Jitter (Datagram only) adds a uniformly random delay in [0, Jitter)
	// to each message, which reorders messages closer than Jitter.
	Jitter time.Duration
	// Loss and Dup (Datagram only) are the probabilities that a message is
	// lost, or delivered twice.
	Loss, Dup float64
	// Secure is the encryption mode of every machine (secure.Off: none).
	// The keys derive from Seed: one server key pair and pre-shared key
	// per simulation (they survive a server restart), one key pair per
	// client name.
	Secure secure.Mode

	// Heartbeat, IdleTimeout, ResumeWindow and HandshakeTimeout configure
	// the server (zero: the session defaults).
	Heartbeat, IdleTimeout, ResumeWindow, HandshakeTimeout time.Duration
	// Window is MaxInflight of every machine, UnackedBytes their
	// MaxUnackedBytes, MaxRequests their pending request limit (zero:
	// defaults).
	Window, UnackedBytes, MaxRequests int
	// MaxMessageSize is the server's message size limit (clients use their
	// [ClientOptions]).
	MaxMessageSize int
	// RequestTimeout is every machine's default request timeout.
	RequestTimeout time.Duration
	// InitialRTO and MinRTO bound the retransmission timer (Datagram).
	InitialRTO, MinRTO time.Duration
	// AckDelay is every machine's acknowledgement delay (see
	// session.LinkConfig.AckDelay); zero acknowledges at once.
	AckDelay time.Duration
	// ReconnectMax bounds the clients' reconnect backoff.
	ReconnectMax time.Duration
	// CloseSlowConsumers is the server's slow-consumer policy.
	CloseSlowConsumers bool
	// AllowRooms makes the server application grant every JOIN and LEAVE.
	AllowRooms bool
	// AutoReply makes every application answer each request as soon as it
	// arrives, with "re:" and the request's payload.
	AutoReply bool
	// LateInputs hands messages that reach an end after it hung up to its
	// machine anyway (as an adapter whose read loop races with the close
	// would), instead of dropping them. The machines must ignore them.
	LateInputs bool
	// Trace records the trace (it decodes every message); without it only
	// the oracle and the counters run.
	Trace bool
	// MaxEvents bounds the events one verb may process. Default 5,000,000.
	MaxEvents int

	// tap, when set, sees every client machine's configuration, steps and
	// drains: the conformance vectors of the other-language clients are
	// recorded through it (vectors_test.go).
	tap clientTap

	// broken makes every machine deliberately buggy (the config's broken=
	// key, for the oracle tests): a test knob, out of the public options.
	broken breakage.Bugs
}

// clientTap observes the client machines (see Options.tap).
type clientTap interface {
	config(c *clientNode, cfg *session.ClientConfig) // before NewClient; may wrap cfg.Rand
	step(c *clientNode, now time.Time, in session.Input, err error)
	ready(c *clientNode, rd *session.Ready)
}

func (o *Options) setDefaults() {
	if o.Delay <= 0 {
		o.Delay = DefaultDelay
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
}

// ClientOptions configure one client.
type ClientOptions struct {
	// Auth is sent in every HELLO; the server application refuses
	// credentials that were revoked (see [Sim.Revoke]).
	Auth string
	// MaxMessageSize is the client's own message size limit.
	MaxMessageSize int
}

// Sim is one simulation: a server, its clients and the network between
// them. It is not safe for concurrent use.
type Sim struct {
	opts     Options
	now      time.Duration
	q        queue
	rng      *rand.Rand
	server   *serverNode
	clients  []*clientNode
	raws     []*rawNode
	conns    []*conn
	nextConn session.ConnID
	srvOpen  int // connections open at the server's end
	trace    Trace
	oracle   Oracle
	count    Counters
	names    map[proto.ClientID]string
	revoked  map[string]bool
	dec      *codec.Decoder
	payloadN uint64
	budget   int  // events left for the current verb
	tainted  bool // hand-made frames were injected: protocol errors are expected
	done     []*session.Delivered
}

// New returns a simulation with a fresh server and no clients.
func New(opts Options) *Sim {
	opts.setDefaults()
	s := &Sim{
		opts:    opts,
		rng:     rand.New(stream(opts.Seed, "net")),
		names:   make(map[proto.ClientID]string),
		revoked: make(map[string]bool),
		dec:     codec.NewDecoder(codec.Limits{MaxMessageSize: 1 << 30}),
	}
	s.oracle.init(s)
	s.server = &serverNode{}
	s.server.m = session.NewServer(s.serverConfig())
	return s
}

// Options returns the options the simulation runs with (defaults applied).
func (s *Sim) Options() Options { return s.opts }

// Now returns the virtual time.
func (s *Sim) Now() time.Time { return Epoch.Add(s.now) }

// Elapsed returns the virtual time since [Epoch].
func (s *Sim) Elapsed() time.Duration { return s.now }

// Trace returns the recorded trace (empty unless [Options.Trace]).
func (s *Sim) Trace() *Trace { return &s.trace }

// Oracle returns the simulation's oracle.
func (s *Sim) Oracle() *Oracle { return &s.oracle }

func (s *Sim) linkConfig() session.LinkConfig {
	cfg := session.LinkConfig{
		Mode:            s.opts.Mode,
		MaxInflight:     s.opts.Window,
		MaxUnackedBytes: s.opts.UnackedBytes,
		MaxRequests:     s.opts.MaxRequests,
		RequestTimeout:  s.opts.RequestTimeout,
		InitialRTO:      s.opts.InitialRTO,
		MinRTO:          s.opts.MinRTO,
		AckDelay:        s.opts.AckDelay,
	}
	breakage.Set(&cfg, s.opts.broken)
	return cfg
}

func (s *Sim) serverConfig() session.ServerConfig {
	cfg := session.ServerConfig{
		LinkConfig:         s.linkConfig(),
		Rand:               stream(s.opts.Seed, fmt.Sprintf("server/%d", s.server.inc)),
		HeartbeatInterval:  s.opts.Heartbeat,
		IdleTimeout:        s.opts.IdleTimeout,
		HandshakeTimeout:   s.opts.HandshakeTimeout,
		ResumeWindow:       s.opts.ResumeWindow,
		CloseSlowConsumers: s.opts.CloseSlowConsumers,
		Authorize: func(r session.AuthRequest) error {
			if s.revoked[string(r.Auth)] {
				return fmt.Errorf("sim: credentials %q revoked", r.Auth)
			}
			return nil
		},
		AllowRoom: func(session.RoomRequest) bool { return s.opts.AllowRooms },
	}
	cfg.MaxMessageSize = s.opts.MaxMessageSize
	cfg.Secure = s.secureConfig(true, "")
	return cfg
}

// secureConfig returns one side's encryption settings for the run's mode,
// with keys drawn from the seed.
func (s *Sim) secureConfig(server bool, client string) secure.Config {
	cfg := secure.Config{Mode: s.opts.Secure}
	if cfg.Mode == secure.Off {
		return cfg
	}
	keyPair := func(purpose string) secure.KeyPair {
		kp, err := secure.GenerateKeyPair(stream(s.opts.Seed, purpose))
		if err != nil {
			panic("sim: bug: " + err.Error())
		}
		return kp
	}
	serverKey := keyPair("keys/server")
	switch cfg.Mode {
	case secure.PSK:
		psk, err := secure.GeneratePSK(stream(s.opts.Seed, "keys/psk"))
		if err != nil {
			panic("sim: bug: " + err.Error())
		}
		cfg.PSK = psk
	case secure.ServerKey, secure.Mutual:
		if server {
			cfg.Static = serverKey
		} else {
			cfg.ServerKey = serverKey.Public
			if cfg.Mode == secure.Mutual {
				cfg.Static = keyPair("keys/client/" + client)
			}
		}
	}
	return cfg
}

func (s *Sim) clientConfig(c *clientNode) session.ClientConfig {
	cfg := session.ClientConfig{
		LinkConfig:       s.linkConfig(),
		Rand:             stream(s.opts.Seed, fmt.Sprintf("client/%s/%d", c.name, c.inc)),
		HandshakeTimeout: s.opts.HandshakeTimeout,
		ReconnectMax:     s.opts.ReconnectMax,
	}
	if c.opts.Auth != "" {
		cfg.Auth = []byte(c.opts.Auth)
	}
	cfg.MaxMessageSize = c.opts.MaxMessageSize
	cfg.Secure = s.secureConfig(false, c.name)
	if s.opts.tap != nil {
		s.opts.tap.config(c, &cfg)
	}
	return cfg
}

// --- running ---

// next processes the earliest event.
func (s *Sim) next() {
	e := s.q.pop()
	if s.stale(&e) {
		return // a superseded timer or dial: it does not even move the clock
	}
	if e.at > s.now {
		s.now = e.at
	}
	s.budget--
	s.count.Events++
	switch e.kind {
	case evMsg:
		s.arrive(&e)
	case evFin:
		s.finArrive(&e)
	case evReset:
		s.resetArrive(&e)
	case evTimer:
		s.timerFire(&e)
	case evDial:
		s.dialFire(&e)
	}
}

// exhausted reports (once, as a violation) that the verb's event budget is
// spent.
func (s *Sim) exhausted() bool {
	if s.budget > 0 {
		return false
	}
	if s.budget == 0 {
		s.oracle.violate("sim", "%v: %d events without reaching a stable state", ErrNoProgress, s.opts.MaxEvents)
		s.budget = -1
	}
	return true
}

func (s *Sim) resetBudget() { s.budget = s.opts.MaxEvents }

// settle processes events until no network traffic is queued (timers that
// fall before the last traffic run too; held messages do not count).
func (s *Sim) settle() {
	for s.q.net > 0 && !s.exhausted() {
		s.next()
	}
}

// runUntil processes every event due at or before t, then moves the clock
// to t.
func (s *Sim) runUntil(t time.Duration) {
	for s.q.len() > 0 && s.q.peek().at <= t && !s.exhausted() {
		s.next()
	}
	if t > s.now {
		s.now = t
	}
}

// Advance moves the clock by d, processing everything due, then lets the
// network settle.
func (s *Sim) Advance(d time.Duration) {
	s.resetBudget()
	s.runUntil(s.now + d)
	s.settle()
}

// Settle processes events until no network traffic is queued.
func (s *Sim) Settle() {
	s.resetBudget()
	s.settle()
}

// Stabilize processes events until nothing is queued but timers and dials
// at least bound ahead (a bound no shorter than the heartbeat interval never
// stabilizes: heartbeats go on forever).
func (s *Sim) Stabilize(bound time.Duration) {
	s.resetBudget()
	for s.q.len() > 0 && (s.q.net > 0 || s.q.peek().at < s.now+bound) && !s.exhausted() {
		s.next()
	}
}

// --- timers ---

// timer is one machine's pending timeout or a client's pending dial: only
// the event carrying the current generation acts.
type timer struct {
	at  time.Duration
	gen uint64
	set bool
}

func (s *Sim) arm(t *timer, kind evKind, node int32, at time.Duration) {
	if at < s.now {
		at = s.now
	}
	if t.set && t.at == at {
		return
	}
	t.gen++
	t.at, t.set = at, true
	s.q.push(event{at: at, kind: kind, node: node, gen: t.gen})
}

func (t *timer) disarm() {
	t.gen++
	t.set = false
}

// deadline arms t at a machine's Ready deadline (zero: none).
func (s *Sim) deadline(t *timer, node int32, d time.Time) {
	if d.IsZero() {
		if t.set {
			t.disarm()
		}
		return
	}
	s.arm(t, evTimer, node, d.Sub(Epoch))
}

// stale reports whether e is a timer or dial that was re-armed or
// disarmed since it was queued.
func (s *Sim) stale(e *event) bool {
	var t *timer
	switch {
	case e.kind == evTimer && e.node < 0:
		t = &s.server.timer
	case e.kind == evTimer:
		t = &s.clients[e.node].timer
	case e.kind == evDial:
		t = &s.clients[e.node].dial
	default:
		return false
	}
	return t.gen != e.gen || !t.set
}

func (s *Sim) timerFire(e *event) {
	if e.node < 0 {
		s.server.timer.set = false
		s.stepServer(session.Timeout{})
		return
	}
	c := s.clients[e.node]
	c.timer.set = false
	s.stepClient(c, session.Timeout{})
}

func (s *Sim) dialFire(e *event) {
	c := s.clients[e.node]
	c.dial.set = false
	if c.conn != nil || c.ended {
		return
	}
	s.dial(c)
}
