package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/internal/breakage"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Interp runs verb lines against a simulation. Scenario files, the property
// tests and the bsim command all drive the simulator through it. The
// simulation starts at the first verb that is not config; until then config
// changes the [Options].
type Interp struct {
	opts   Options
	sim    *Sim
	script []string
	rooms  map[string]bool
}

// NewInterp returns an interpreter whose simulation will run with opts.
func NewInterp(opts Options) *Interp {
	return &Interp{opts: opts, rooms: map[string]bool{}}
}

// Sim returns the simulation, starting it if needed.
func (in *Interp) Sim() *Sim {
	if in.sim == nil {
		in.sim = New(in.opts)
	}
	return in.sim
}

// Err returns the oracle's first violation (nil before the simulation
// starts).
func (in *Interp) Err() error {
	if in.sim == nil {
		return nil
	}
	return in.sim.oracle.Err()
}

// Script returns every line executed so far, a replayable scenario.
func (in *Interp) Script() []string { return in.script }

// verbs maps each verb to its implementation. Every verb that makes the
// machines act lets the network settle before it returns.
var verbs map[string]func(*Interp, *args) (string, error)

func init() {
	verbs = map[string]func(*Interp, *args) (string, error){
		"config":     (*Interp).config,
		"new":        (*Interp).newClient,
		"connect":    (*Interp).connect,
		"dial":       (*Interp).dialRaw,
		"send":       (*Interp).send,
		"call":       (*Interp).call,
		"reply":      (*Interp).reply,
		"join":       (*Interp).join,
		"leave":      (*Interp).join,
		"broadcast":  (*Interp).broadcast,
		"publish":    (*Interp).publish,
		"advance":    (*Interp).advance,
		"settle":     (*Interp).settle,
		"stabilize":  (*Interp).stabilize,
		"drop":       (*Interp).linkFault,
		"dup":        (*Interp).linkFault,
		"corrupt":    (*Interp).linkFault,
		"hold":       (*Interp).linkFault,
		"release":    (*Interp).linkFault,
		"partition":  (*Interp).partition,
		"heal":       (*Interp).heal,
		"disconnect": (*Interp).disconnect,
		"crash":      (*Interp).crash,
		"restart":    (*Interp).restart,
		"close":      (*Interp).closeClient,
		"abort":      (*Interp).closeClient,
		"kick":       (*Interp).kick,
		"shutdown":   (*Interp).shutdown,
		"inject":     (*Interp).inject,
		"revoke":     (*Interp).revoke,
		"converge":   (*Interp).converge,
		"state":      (*Interp).state,
		"group":      (*Interp).group,
		"end":        (*Interp).group,
	}
}

// Exec runs one verb line and returns the trace it produced (plus, for
// state, the state). Blank lines and lines starting with # do nothing. An
// error is about the line itself (unknown verb, bad option, unknown node);
// what the machines refuse (backpressure, unknown client, ...) is part of the
// trace instead.
//
// Verbs ("c1" is any client, "x1" any raw peer, A->B a direction such as
// c1->s or s->c1):
//
//	config key=value ...        options, before the simulation starts: seed mode delay
//	                            jitter loss dup hb idle resume handshake window bytes
//	                            maxreq maxmsg reqtimeout rto minrto reconnect
//	                            slow=close|error rooms=allow|deny autoreply=on|off
//	                            late=on|off broken=none|nodedup|ackoffbyone|resumewrongseq
//	                            secure=off|psk|server-key|mutual (encryption; keys from the seed)
//	new c1 [auth=X] [maxmsg=N]  create a client without connecting it
//	connect c1 [auth=X] [maxmsg=N] [config options, before the start]
//	dial x1                     open a raw connection (no machine behind it)
//	send c1 ["text"] [size=N] [n=N]      the client sends (no text: a generated payload;
//	                                     n messages are one burst: one Ready)
//	send s c1 ["text"] [size=N] [n=N]    the server sends to c1's session
//	call c1 id=N ["text"] [timeout=D]    request from the client
//	call s c1 id=N ["text"] [timeout=D]  request from the server
//	                                     send, call, broadcast and publish take name=E:
//	                                     the message's event or the request's method
//	reply c1 id=N ["text"] [error=CODE]  answer (an error response with error=)
//	reply s c1 id=N ["text"] [error=CODE]
//	join s c1 room=R / leave s c1 room=R       server-side membership
//	join c1 id=N room=R / leave c1 id=N room=R  the client asks
//	broadcast s room=R ["text"] [except=c1]
//	publish c1 id=N room=R ["text"] [timeout=D]  the client publishes to a room
//	advance D                            move the clock, then let the network settle
//	settle                               run until no traffic is in flight
//	stabilize [bound=1s]                 run until only timers at least bound ahead remain
//	drop A->B [n=N] / dup A->B [n=N]     lose / duplicate the next messages (a stream
//	                                     loses one only by breaking; dup: datagram only)
//	corrupt c1->s                        corrupt the token of the next resuming HELLO
//	                                     (encrypted: flip a bit of the next sealed message)
//	hold A->B / release A->B             stall a direction of the current connection
//	                                     (with none: of the next one)
//	partition c1 / partition A->B        cut a client off the server (both ways / one)
//	heal [c1]                            end every fault and release what is held
//	disconnect c1 [only=c1|s]            reset the connection; only=: just that end's
//	                                     socket dies, the other stays half-open
//	crash c1 / restart s                 lose a machine's state
//	close c1 ["reason"] / abort c1 ["reason"] / kick s c1 ["reason"] / shutdown s
//	inject A->B TYPE ...                 hand-made frame: hello [resume=c1] [ack=N],
//	                                     data seq=N [ack=N] ["text"|size=N], ack n=N,
//	                                     heartbeat [ack=N], close [code=N] ["reason"]
//	revoke auth=X                        the server application revokes credentials
//	converge [within=D]                  heal, then require everything to complete
//	state                                each machine's state
//	group Title ... / end                bracket entries in the diagrams
func (in *Interp) Exec(line string) (string, error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", nil
	}
	a, err := parseLine(line)
	if err != nil {
		return "", err
	}
	fn := verbs[a.verb]
	if fn == nil {
		return "", fmt.Errorf("%w: unknown verb %q", ErrSyntax, a.verb)
	}
	in.script = append(in.script, line)
	if a.verb != "config" {
		in.Sim()
	}
	mark := 0
	if in.sim != nil {
		mark = len(in.sim.trace.Entries)
	}
	extra, err := fn(in, a)
	if err != nil {
		return "", err
	}
	out := ""
	if in.sim != nil {
		out = in.sim.trace.String(mark)
	}
	return out + extra, nil
}

// Run executes every line of a script, returning the combined output.
func (in *Interp) Run(script string) (string, error) {
	var b strings.Builder
	for _, line := range strings.Split(script, "\n") {
		out, err := in.Exec(line)
		if err != nil {
			return b.String(), err
		}
		b.WriteString(out)
	}
	return b.String(), nil
}

// --- configuration and nodes ---

func (in *Interp) config(a *args) (string, error) {
	if in.sim != nil {
		return "", fmt.Errorf("%w: config after the simulation started", ErrSyntax)
	}
	if err := applyConfig(&in.opts, a); err != nil {
		return "", err
	}
	return "", a.done(0)
}

// applyConfig sets the options named in a.
func applyConfig(o *Options, a *args) error {
	var err error
	set := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	if v, ok, e := a.uint("seed"); e != nil {
		return e
	} else if ok {
		o.Seed = v
	}
	switch m := a.str("mode", ""); m {
	case "":
	case "stream":
		o.Mode = session.Stream
	case "datagram":
		o.Mode = session.Datagram
	default:
		return fmt.Errorf("%w: mode=%s", ErrSyntax, m)
	}
	if v := a.str("secure", ""); v != "" {
		m, e := secure.ParseMode(v)
		if e != nil {
			return fmt.Errorf("%w: secure=%s", ErrSyntax, v)
		}
		o.Secure = m
	}
	durs := map[string]*time.Duration{
		"delay": &o.Delay, "jitter": &o.Jitter, "hb": &o.Heartbeat, "idle": &o.IdleTimeout,
		"resume": &o.ResumeWindow, "handshake": &o.HandshakeTimeout, "reqtimeout": &o.RequestTimeout,
		"rto": &o.InitialRTO, "minrto": &o.MinRTO, "reconnect": &o.ReconnectMax,
		"ackdelay": &o.AckDelay,
	}
	for k, p := range durs {
		set(func() (e error) { *p, e = a.dur(k, *p); return })
	}
	ints := map[string]*int{"window": &o.Window, "bytes": &o.UnackedBytes, "maxreq": &o.MaxRequests, "maxmsg": &o.MaxMessageSize}
	for k, p := range ints {
		set(func() (e error) { *p, e = a.int(k, *p); return })
	}
	set(func() (e error) { o.Loss, e = a.float("loss", o.Loss); return })
	set(func() (e error) { o.Dup, e = a.float("dup", o.Dup); return })
	set(func() (e error) { o.AutoReply, e = a.onOff("autoreply", o.AutoReply); return })
	set(func() (e error) { o.LateInputs, e = a.onOff("late", o.LateInputs); return })
	if err != nil {
		return err
	}
	switch v := a.str("slow", ""); v {
	case "":
	case "close":
		o.CloseSlowConsumers = true
	case "error":
		o.CloseSlowConsumers = false
	default:
		return fmt.Errorf("%w: slow=%s", ErrSyntax, v)
	}
	switch v := a.str("rooms", ""); v {
	case "":
	case "allow":
		o.AllowRooms = true
	case "deny":
		o.AllowRooms = false
	default:
		return fmt.Errorf("%w: rooms=%s", ErrSyntax, v)
	}
	switch v := a.str("broken", ""); v {
	case "":
	case "none":
		o.broken = breakage.Bugs{}
	case "nodedup":
		o.broken.NoDedup = true
	case "ackoffbyone":
		o.broken.AckOffByOne = true
	case "resumewrongseq":
		o.broken.ResumeFromWrongSeq = true
	default:
		return fmt.Errorf("%w: broken=%s", ErrSyntax, v)
	}
	return nil
}

func clientOptions(a *args) (ClientOptions, error) {
	var o ClientOptions
	o.Auth = a.str("auth", "")
	var err error
	o.MaxMessageSize, err = a.int("maxmsg", 0)
	return o, err
}

// client returns the client named by positional i.
// soleClient is the client named by a verb's only positional argument.
func (in *Interp) soleClient(a *args) (*clientNode, error) {
	c, err := in.client(a, 0)
	if err != nil {
		return nil, err
	}
	if err := a.done(1); err != nil {
		return nil, err
	}
	return c, nil
}

func (in *Interp) client(a *args, i int) (*clientNode, error) {
	name, err := a.arg(i, "client")
	if err != nil {
		return nil, err
	}
	c := in.sim.findClient(name)
	if c == nil {
		return nil, fmt.Errorf("%w: no client %q", ErrSyntax, name)
	}
	return c, nil
}

func (in *Interp) newClient(a *args) (string, error) {
	name, err := a.arg(0, "client name")
	if err != nil {
		return "", err
	}
	if !validName(name, 'c') {
		return "", fmt.Errorf("%w: client names are c1, c2, ...: %q", ErrSyntax, name)
	}
	if in.sim.findClient(name) != nil {
		return "", fmt.Errorf("%w: client %s exists", ErrSyntax, name)
	}
	o, err := clientOptions(a)
	if err != nil {
		return "", err
	}
	in.sim.addClient(name, o)
	return "", a.done(1)
}

func (in *Interp) connect(a *args) (string, error) {
	name, err := a.arg(0, "client name")
	if err != nil {
		return "", err
	}
	if !validName(name, 'c') {
		return "", fmt.Errorf("%w: client names are c1, c2, ...: %q", ErrSyntax, name)
	}
	o, err := clientOptions(a)
	if err != nil {
		return "", err
	}
	s := in.sim
	c := s.findClient(name)
	if c == nil {
		c = s.addClient(name, o)
	} else if a.has("auth") || a.has("maxmsg") {
		c.opts = o
	}
	if err := a.done(1); err != nil {
		return "", err
	}
	s.resetBudget()
	if err := s.connect(c); err != nil {
		return "", err
	}
	s.settle()
	return "", nil
}

func validName(name string, prefix byte) bool {
	if len(name) < 2 || name[0] != prefix {
		return false
	}
	for _, r := range name[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (in *Interp) dialRaw(a *args) (string, error) {
	name, err := a.arg(0, "raw peer name")
	if err != nil {
		return "", err
	}
	if !validName(name, 'x') {
		return "", fmt.Errorf("%w: raw peer names are x1, x2, ...: %q", ErrSyntax, name)
	}
	if err := a.done(1); err != nil {
		return "", err
	}
	s := in.sim
	r := s.findRaw(name)
	if r == nil {
		r = &rawNode{name: name}
		s.raws = append(s.raws, r)
	}
	if r.conn != nil && r.conn.open[endClient] {
		return "", fmt.Errorf("%w: %s is connected", ErrSyntax, name)
	}
	s.resetBudget()
	s.nextConn++
	c := &conn{id: s.nextConn, raw: r, peer: name, srvInc: s.server.inc, open: [2]bool{true, true}}
	s.conns = append(s.conns, c)
	r.conn, r.greeted = c, false
	s.count.Connections++
	s.srvOpen++
	s.traceArrow(name, "s", fmt.Sprintf("(connect #%d)", c.id), false, false)
	if err := s.stepServer(session.Connected{Conn: c.id}); err != nil {
		s.oracle.violate("sim", "server refused Connected #%d: %v", c.id, err)
	}
	s.settle()
	return "", nil
}

// --- application commands ---

// payloads returns the n payloads of a send: the quoted text, or generated
// ones naming sender, recipient and a unique number, padded to size.
func (in *Interp) payloads(a *args, from, to string) ([][]byte, error) {
	n, err := a.int("n", 1)
	if err != nil {
		return nil, err
	}
	size, err := a.int("size", 0)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = in.sim.payload(a.text, a.hasText, from, to, size)
	}
	return out, nil
}

// payload returns text, or a generated payload "from>to#N" padded to size.
func (s *Sim) payload(text string, hasText bool, from, to string, size int) []byte {
	var p []byte
	if hasText {
		p = []byte(text)
	} else {
		s.payloadN++
		p = fmt.Appendf(nil, "%s>%s#%d", from, to, s.payloadN)
	}
	for len(p) < size {
		p = append(p, '.')
	}
	return p
}

// serverSide reports whether the verb is the server's (first word "s").
func serverSide(a *args) bool { return len(a.pos) > 0 && a.pos[0] == "s" }

func (in *Interp) send(a *args) (string, error) {
	s := in.sim
	name := a.str("name", "")
	s.resetBudget()
	if serverSide(a) {
		c, err := in.client(a, 1)
		if err != nil {
			return "", err
		}
		ps, err := in.payloads(a, "s", c.name)
		if err != nil {
			return "", err
		}
		if err := a.done(2); err != nil {
			return "", err
		}
		for _, p := range ps {
			s.serverStep(session.Send{To: c.m.ID(), Name: name, Payload: p})
		}
		s.drainServer()
	} else {
		c, err := in.client(a, 0)
		if err != nil {
			return "", err
		}
		ps, err := in.payloads(a, c.name, "s")
		if err != nil {
			return "", err
		}
		if err := a.done(1); err != nil {
			return "", err
		}
		for _, p := range ps {
			s.clientStep(c, session.Send{Name: name, Payload: p})
		}
		s.drainClient(c)
	}
	s.settle()
	return "", nil
}

func (in *Interp) call(a *args) (string, error) {
	s := in.sim
	id, ok, err := a.uint("id")
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: call needs id=", ErrSyntax)
	}
	timeout, err := a.dur("timeout", 0)
	if err != nil {
		return "", err
	}
	name := a.str("name", "")
	s.resetBudget()
	if serverSide(a) {
		c, err := in.client(a, 1)
		if err != nil {
			return "", err
		}
		if err := a.done(2); err != nil {
			return "", err
		}
		p := s.payload(a.text, a.hasText, "s", c.name+"?", 0)
		s.serverCommand(session.Call{To: c.m.ID(), ID: id, Name: name, Payload: p, Timeout: timeout})
	} else {
		c, err := in.soleClient(a)
		if err != nil {
			return "", err
		}
		p := s.payload(a.text, a.hasText, c.name, "s?", 0)
		s.clientCommand(c, session.Call{ID: id, Name: name, Payload: p, Timeout: timeout})
	}
	s.settle()
	return "", nil
}

func (in *Interp) reply(a *args) (string, error) {
	s := in.sim
	id, ok, err := a.uint("id")
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: reply needs id=", ErrSyntax)
	}
	r := session.Reply{ID: id, Payload: []byte(a.text)}
	if code := a.str("error", ""); code != "" {
		ec, err := parseErrorCode(code)
		if err != nil {
			return "", err
		}
		r.Payload, r.Err = nil, &proto.Error{Code: ec, Message: a.text}
	}
	s.resetBudget()
	if serverSide(a) {
		c, err := in.client(a, 1)
		if err != nil {
			return "", err
		}
		if err := a.done(2); err != nil {
			return "", err
		}
		r.To = c.m.ID()
		s.serverCommand(r)
	} else {
		c, err := in.soleClient(a)
		if err != nil {
			return "", err
		}
		s.clientCommand(c, r)
	}
	s.settle()
	return "", nil
}

func parseErrorCode(v string) (proto.ErrorCode, error) {
	for c := proto.ErrCodeInternal; c <= proto.ErrCodeLimit; c++ {
		if c.String() == v {
			return c, nil
		}
	}
	var n uint32
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n == 0 {
		return 0, fmt.Errorf("%w: error=%s: want a code name (not-found, ...) or number", ErrSyntax, v)
	}
	return proto.ErrorCode(n), nil
}

func (in *Interp) join(a *args) (string, error) {
	s := in.sim
	room := a.str("room", "")
	if room == "" {
		return "", fmt.Errorf("%w: %s needs room=", ErrSyntax, a.verb)
	}
	in.rooms[room] = true
	s.resetBudget()
	if serverSide(a) {
		c, err := in.client(a, 1)
		if err != nil {
			return "", err
		}
		if err := a.done(2); err != nil {
			return "", err
		}
		if a.verb == "join" {
			s.serverCommand(session.Join{Client: c.m.ID(), Room: room})
		} else {
			s.serverCommand(session.Leave{Client: c.m.ID(), Room: room})
		}
	} else {
		c, err := in.client(a, 0)
		if err != nil {
			return "", err
		}
		id, ok, err := a.uint("id")
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("%w: a client's %s needs id=", ErrSyntax, a.verb)
		}
		timeout, err := a.dur("timeout", 0)
		if err != nil {
			return "", err
		}
		if err := a.done(1); err != nil {
			return "", err
		}
		if a.verb == "join" {
			s.clientCommand(c, session.JoinRoom{ID: id, Room: room, Timeout: timeout})
		} else {
			s.clientCommand(c, session.LeaveRoom{ID: id, Room: room, Timeout: timeout})
		}
	}
	s.settle()
	return "", nil
}

func (in *Interp) broadcast(a *args) (string, error) {
	s := in.sim
	room := a.str("room", "")
	if room == "" {
		return "", fmt.Errorf("%w: broadcast needs room=", ErrSyntax)
	}
	in.rooms[room] = true
	b := session.Broadcast{Room: room, Name: a.str("name", ""), Payload: s.payload(a.text, a.hasText, "s", "room:"+room, 0)}
	if ex := a.str("except", ""); ex != "" {
		c := s.findClient(ex)
		if c == nil {
			return "", fmt.Errorf("%w: no client %q", ErrSyntax, ex)
		}
		b.Except = c.m.ID()
	}
	npos := 0
	if serverSide(a) {
		npos = 1
	}
	if err := a.done(npos); err != nil {
		return "", err
	}
	s.resetBudget()
	s.serverCommand(b)
	s.settle()
	return "", nil
}

func (in *Interp) publish(a *args) (string, error) {
	s := in.sim
	room := a.str("room", "")
	if room == "" {
		return "", fmt.Errorf("%w: publish needs room=", ErrSyntax)
	}
	id, ok, err := a.uint("id")
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: publish needs id=", ErrSyntax)
	}
	timeout, err := a.dur("timeout", 0)
	if err != nil {
		return "", err
	}
	name := a.str("name", "")
	c, err := in.soleClient(a)
	if err != nil {
		return "", err
	}
	in.rooms[room] = true
	s.resetBudget()
	p := s.payload(a.text, a.hasText, c.name, "room:"+room, 0)
	s.clientCommand(c, session.Publish{ID: id, Room: room, Name: name, Payload: p, Timeout: timeout})
	s.settle()
	return "", nil
}

func (in *Interp) closeClient(a *args) (string, error) {
	c, err := in.soleClient(a)
	if err != nil {
		return "", err
	}
	s := in.sim
	s.resetBudget()
	if a.verb == "close" {
		s.clientCommand(c, session.Close{Reason: a.text})
	} else {
		s.clientCommand(c, session.Abort{Reason: a.text})
	}
	s.settle()
	return "", nil
}

func (in *Interp) kick(a *args) (string, error) {
	if !serverSide(a) {
		return "", fmt.Errorf("%w: kick s c1", ErrSyntax)
	}
	c, err := in.client(a, 1)
	if err != nil {
		return "", err
	}
	if err := a.done(2); err != nil {
		return "", err
	}
	s := in.sim
	s.resetBudget()
	s.serverCommand(session.Kick{Client: c.m.ID(), Reason: a.text})
	s.settle()
	return "", nil
}

func (in *Interp) shutdown(a *args) (string, error) {
	if err := a.done(1); err != nil {
		return "", err
	}
	s := in.sim
	s.resetBudget()
	s.serverCommand(session.Shutdown{Reason: a.text})
	s.settle()
	return "", nil
}

func (in *Interp) revoke(a *args) (string, error) {
	auth := a.str("auth", "")
	if auth == "" {
		return "", fmt.Errorf("%w: revoke auth=X", ErrSyntax)
	}
	if err := a.done(0); err != nil {
		return "", err
	}
	in.sim.revoked[auth] = true
	in.sim.traceNote("s", "", fmt.Sprintf("revoke credentials %q", auth))
	return "", nil
}

// --- time ---

func (in *Interp) advance(a *args) (string, error) {
	v, err := a.arg(0, "duration")
	if err != nil {
		return "", err
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return "", fmt.Errorf("%w: advance %s", ErrSyntax, v)
	}
	if err := a.done(1); err != nil {
		return "", err
	}
	in.sim.Advance(d)
	return "", nil
}

func (in *Interp) settle(a *args) (string, error) {
	if err := a.done(0); err != nil {
		return "", err
	}
	in.sim.Settle()
	return "", nil
}

func (in *Interp) stabilize(a *args) (string, error) {
	bound, err := a.dur("bound", time.Second)
	if err != nil {
		return "", err
	}
	if err := a.done(0); err != nil {
		return "", err
	}
	in.sim.Stabilize(bound)
	return "", nil
}

func (in *Interp) converge(a *args) (string, error) {
	within, err := a.dur("within", 0)
	if err != nil {
		return "", err
	}
	if err := a.done(0); err != nil {
		return "", err
	}
	in.sim.Converge(within)
	return "", nil
}

// --- faults ---

// direction parses "c1->s" or "s->c1" into the peer's faults and the
// direction.
func (in *Interp) direction(a *args) (peer string, d int, err error) {
	v, err := a.arg(0, "direction (c1->s or s->c1)")
	if err != nil {
		return "", 0, err
	}
	from, to, ok := strings.Cut(v, "->")
	switch {
	case ok && to == "s" && from != "s":
		return from, toServer, nil
	case ok && from == "s" && to != "s":
		return to, toClient, nil
	}
	return "", 0, fmt.Errorf("%w: %s: want c1->s or s->c1", ErrSyntax, v)
}

// peer returns the faults and current connection of a client or raw peer.
func (in *Interp) peer(name string) (*[2]faults, *conn, error) {
	if c := in.sim.findClient(name); c != nil {
		return &c.faults, c.conn, nil
	}
	if r := in.sim.findRaw(name); r != nil {
		return &r.faults, r.conn, nil
	}
	return nil, nil, fmt.Errorf("%w: no client or raw peer %q", ErrSyntax, name)
}

func (in *Interp) linkFault(a *args) (string, error) {
	name, d, err := in.direction(a)
	if err != nil {
		return "", err
	}
	f, cn, err := in.peer(name)
	if err != nil {
		return "", err
	}
	n, err := a.int("n", 1)
	if err != nil {
		return "", err
	}
	if err := a.done(1); err != nil {
		return "", err
	}
	s := in.sim
	s.resetBudget()
	switch a.verb {
	case "drop":
		f[d].drop += n
		s.count.Faults++
	case "dup":
		if s.opts.Mode != session.Datagram {
			return "", fmt.Errorf("%w: a stream never duplicates a message: dup needs mode=datagram", ErrSyntax)
		}
		f[d].dup += n
		s.count.Faults++
	case "corrupt":
		if d != toServer {
			return "", fmt.Errorf("%w: corrupt applies to c1->s (the HELLO)", ErrSyntax)
		}
		f[d].corrupt = true
		s.count.Faults++
		if s.opts.Secure != secure.Off {
			s.traceNote(name, "s", "flip a bit of the next sealed message")
		} else {
			s.traceNote(name, "s", "corrupt the token of the next HELLO")
		}
	case "hold", "release":
		if cn == nil && a.verb == "hold" {
			f[d].hold = true
			s.traceNote(name, "s", fmt.Sprintf("hold %s on the next connection", dirName(name, d)))
			s.count.Faults++
			return "", nil
		}
		if a.verb == "release" {
			// The newest connection holding that direction, even if its
			// ends have hung up since.
			cn = nil
			for i := len(s.conns) - 1; i >= 0 && cn == nil; i-- {
				if c := s.conns[i]; c.peer == name && c.dirs[d].held {
					cn = c
				}
			}
			if cn == nil {
				f[d].hold = false
				return "", fmt.Errorf("%w: %s is not held", ErrSyntax, dirName(name, d))
			}
		}
		if a.verb == "hold" {
			s.hold(cn, d)
		} else {
			s.traceNote(name, "s", fmt.Sprintf("release %s #%d", dirName(name, d), cn.id))
			s.release(cn, d)
			s.settle()
		}
	}
	return "", nil
}

func (in *Interp) partition(a *args) (string, error) {
	v, err := a.arg(0, "client or direction")
	if err != nil {
		return "", err
	}
	var name string
	ds := []int{toServer, toClient}
	if strings.Contains(v, "->") {
		n, d, err := in.direction(a)
		if err != nil {
			return "", err
		}
		name, ds = n, []int{d}
	} else {
		name = v
	}
	f, _, err := in.peer(name)
	if err != nil {
		return "", err
	}
	if err := a.done(1); err != nil {
		return "", err
	}
	for _, d := range ds {
		f[d].part = true
	}
	text := "partition " + v
	in.sim.traceNote(name, "s", text)
	in.sim.count.Faults++
	return "", nil
}

func (in *Interp) heal(a *args) (string, error) {
	name := ""
	if len(a.pos) > 0 {
		name = a.pos[0]
		if _, _, err := in.peer(name); err != nil {
			return "", err
		}
	}
	if err := a.done(1); err != nil {
		return "", err
	}
	s := in.sim
	s.resetBudget()
	if name == "" {
		s.traceNote("s", "", "heal")
	} else {
		s.traceNote(name, "s", "heal")
	}
	s.heal(name)
	s.settle()
	return "", nil
}

func (in *Interp) disconnect(a *args) (string, error) {
	name, err := a.arg(0, "client")
	if err != nil {
		return "", err
	}
	_, cn, err := in.peer(name)
	if err != nil {
		return "", err
	}
	only := a.str("only", "")
	if err := a.done(1); err != nil {
		return "", err
	}
	if cn == nil || cn.broken {
		return "", fmt.Errorf("%w: %s has no connection to disconnect", ErrSyntax, name)
	}
	end := -1
	switch only {
	case "":
	case name:
		end = endClient
	case "s":
		end = endServer
	default:
		return "", fmt.Errorf("%w: only=%s: want %s or s", ErrSyntax, only, name)
	}
	s := in.sim
	s.resetBudget()
	s.count.Faults++
	if end < 0 {
		s.traceNote(name, "s", fmt.Sprintf("disconnect #%d", cn.id))
		s.reset(cn)
	} else {
		s.traceNote(name, "s", fmt.Sprintf("disconnect #%d (only %s notices: half-open)", cn.id, only))
		s.abandon(cn, end)
	}
	s.settle()
	return "", nil
}

func (in *Interp) crash(a *args) (string, error) {
	c, err := in.soleClient(a)
	if err != nil {
		return "", err
	}
	s := in.sim
	s.resetBudget()
	s.crash(c)
	s.settle()
	return "", nil
}

func (in *Interp) restart(a *args) (string, error) {
	if !serverSide(a) {
		return "", fmt.Errorf("%w: restart s", ErrSyntax)
	}
	if err := a.done(1); err != nil {
		return "", err
	}
	s := in.sim
	s.resetBudget()
	s.Restart()
	s.settle()
	return "", nil
}

// inject sends a hand-made frame on a direction of the peer's current
// connection, as if its end had written it.
func (in *Interp) inject(a *args) (string, error) {
	name, d, err := in.direction(a)
	if err != nil {
		return "", err
	}
	_, cn, err := in.peer(name)
	if err != nil {
		return "", err
	}
	if cn == nil || !cn.open[d] {
		return "", fmt.Errorf("%w: %s has no open connection", ErrSyntax, name)
	}
	typ, err := a.arg(1, "frame type")
	if err != nil {
		return "", err
	}
	f, err := in.frame(typ, a)
	if err != nil {
		return "", err
	}
	if err := a.done(2); err != nil {
		return "", err
	}
	msg, err := codec.Encode(f)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	s := in.sim
	s.resetBudget()
	if _, hello := f.(*proto.Hello); !hello {
		// A hand-made frame may break the protocol on purpose; a HELLO
		// (an impostor's resume) may not.
		s.tainted = true
	} else if r := s.findRaw(name); r != nil {
		r.greeted = true
	}
	s.send(cn, d, msg)
	s.settle()
	return "", nil
}

func (in *Interp) frame(typ string, a *args) (proto.Frame, error) {
	num := func(k string) (uint64, error) {
		v, _, err := a.uint(k)
		return v, err
	}
	seq, err := num("seq")
	if err != nil {
		return nil, err
	}
	ack, err := num("ack")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "hello":
		h := &proto.Hello{Version: proto.Version}
		if v := a.str("resume", ""); v != "" {
			c := in.sim.findClient(v)
			if c == nil {
				return nil, fmt.Errorf("%w: no client %q", ErrSyntax, v)
			}
			h.Resume = &proto.Resume{ID: c.m.ID(), Token: []byte("not the token"), Ack: ack}
		}
		return h, nil
	case "data":
		size, err := a.int("size", 0)
		if err != nil {
			return nil, err
		}
		return &proto.Data{Seq: seq, Ack: ack, Payload: in.sim.payload(a.text, a.hasText, "x", "s", size)}, nil
	case "ack":
		n, err := num("n")
		if err != nil {
			return nil, err
		}
		return &proto.Ack{Ack: n}, nil
	case "heartbeat":
		return &proto.Heartbeat{Ack: ack}, nil
	case "close":
		code, err := a.int("code", int(proto.CloseNormal))
		if err != nil {
			return nil, err
		}
		return &proto.Close{Code: proto.CloseCode(code), Reason: a.text}, nil
	}
	return nil, fmt.Errorf("%w: inject: unknown frame type %q", ErrSyntax, typ)
}

// --- inspection ---

func (in *Interp) state(a *args) (string, error) {
	if err := a.done(0); err != nil {
		return "", err
	}
	s := in.sim
	var b strings.Builder
	fmt.Fprintf(&b, "time +%s\n", s.now)
	st := s.server.m.Stats()
	fmt.Fprintf(&b, "s: sessions=%d detached=%d conns=%d sent=%d delivered=%d retransmits=%d duplicates=%d resumes=%d\n",
		st.Sessions, st.Detached, st.Connections, st.Sent, st.Delivered, st.Retransmits, st.DuplicatesDropped, st.Resumes)
	for _, id := range s.server.m.Sessions() {
		fmt.Fprintf(&b, "s: session %s (%s)\n", id, s.name(id))
	}
	rooms := make([]string, 0, len(in.rooms))
	for r := range in.rooms {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	for _, r := range rooms {
		var names []string
		for _, id := range s.server.m.Members(r) {
			names = append(names, s.name(id))
		}
		fmt.Fprintf(&b, "s: room %s: %s\n", r, strings.Join(names, " "))
	}
	for _, c := range s.clients {
		cs := c.m.Stats()
		state := "idle"
		switch {
		case c.ended:
			state = "closed"
		case c.m.Established():
			state = "open"
		case c.conn != nil:
			state = "connecting"
		}
		cn := "none"
		if c.conn != nil {
			cn = fmt.Sprintf("#%d", c.conn.id)
		}
		fmt.Fprintf(&b, "%s: %s session=%s conn=%s sent=%d delivered=%d retransmits=%d duplicates=%d resumes=%d\n",
			c.name, state, c.m.ID(), cn, cs.Sent, cs.Delivered, cs.Retransmits, cs.DuplicatesDropped, cs.Resumes)
	}
	return b.String(), nil
}

func (in *Interp) group(a *args) (string, error) {
	s := in.sim
	if a.verb == "end" {
		if err := a.done(0); err != nil {
			return "", err
		}
		if s.opts.Trace {
			s.record(Entry{Kind: GroupEnd})
		}
		return "", nil
	}
	title := strings.Join(a.pos, " ")
	if title == "" || len(a.kv) > 0 || a.hasText {
		return "", fmt.Errorf("%w: group Title words", ErrSyntax)
	}
	if s.opts.Trace {
		s.record(Entry{Kind: GroupStart, Text: title})
	}
	return "", nil
}
