package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/bettersocket/bettersocket/session"
)

// Chooser is the source of a generated run's choices: a seeded stream for
// chaos runs, rapid's draws for property tests (so that failures shrink).
type Chooser interface {
	// Intn returns a number in [0, n); label names the choice.
	Intn(n int, label string) int
}

// StreamChooser draws from a ChaCha8 stream.
type StreamChooser struct{ r *rand.Rand }

// NewStreamChooser returns the chooser of a chaos run with this seed.
func NewStreamChooser(seed uint64) *StreamChooser {
	return &StreamChooser{r: rand.New(stream(seed, "workload"))}
}

// Intn implements [Chooser].
func (c *StreamChooser) Intn(n int, _ string) int { return c.r.IntN(n) }

// Swarm are the option ranges a generated run draws from, one value per
// run ("swarm testing": each run stresses a different corner).
type Swarm struct {
	// Mode forces the mode ("stream" or "datagram"); "" draws it.
	Mode string
	// MaxClients bounds the clients of a run (at least 1). Default 4.
	MaxClients int
	// Loss and Dup, when positive, replace the drawn datagram rates.
	Loss, Dup float64
	// Broken makes the machines deliberately buggy: "" or a config
	// broken= value.
	Broken string
	// Secure is the encryption mode: "" or "off" for none, a mode name
	// ("psk", "server-key", "mutual"), or "any" to draw one per run.
	Secure string
}

// Workload generates the verb lines of one run: a config line, the
// connects, then actions. It tracks what it needs to keep every line valid
// (request IDs, rooms) and reads the rest from the simulation.
type Workload struct {
	Clients int
	nextID  uint64
	// Kinds lists the action kinds and their weights for chaos runs.
	Kinds []ActionKind
}

// ActionKind is a kind of generated action with its weight in chaos runs.
type ActionKind struct {
	Name   string
	Weight int
}

// Actions are the action kinds of generated runs: application commands,
// time, and faults.
var Actions = []ActionKind{
	{"send", 10}, {"ssend", 10}, {"call", 5}, {"scall", 3}, {"reply", 2},
	{"join", 3}, {"cjoin", 2}, {"leave", 1}, {"broadcast", 5}, {"publish", 4},
	{"advance", 14}, {"drop", 3}, {"dup", 2}, {"hold", 2}, {"release", 3},
	{"partition", 1}, {"heal", 2}, {"disconnect", 3}, {"halfopen", 1},
	{"crash", 1}, {"restart", 1}, {"close", 1}, {"abort", 1}, {"reconnect", 3},
	{"kick", 1}, {"corrupt", 1}, {"cleave", 1}, {"impostor", 1},
}

func pick[T any](ch Chooser, label string, xs ...T) T { return xs[ch.Intn(len(xs), label)] }

// Config draws the run's options and returns the config line and the
// connect lines that start every run.
func (w *Workload) Config(ch Chooser, seed uint64, sw Swarm) []string {
	if w.Kinds == nil {
		w.Kinds = Actions
	}
	maxc := sw.MaxClients
	if maxc <= 0 {
		maxc = 4
	}
	w.Clients = 1 + ch.Intn(maxc, "clients")
	mode := sw.Mode
	if mode == "" {
		mode = pick(ch, "mode", "stream", "datagram")
	}
	kv := []string{
		fmt.Sprintf("seed=%d", seed),
		"mode=" + mode,
		"delay=" + pick(ch, "delay", "1ms", "5ms", "10ms", "50ms"),
		"hb=" + pick(ch, "hb", "5s", "10s", "30s"),
		"resume=" + pick(ch, "resume", "10s", "30s", "2m"),
		"reqtimeout=" + pick(ch, "reqtimeout", "5s", "30s"),
		"slow=" + pick(ch, "slow", "error", "close"),
		"late=" + pick(ch, "late", "off", "on"),
		"autoreply=" + pick(ch, "autoreply", "on", "on", "off"),
		"rooms=allow",
	}
	if win := pick(ch, "window", "", "2", "4", "16", "64"); win != "" {
		kv = append(kv, "window="+win)
	}
	if ad := pick(ch, "ackdelay", "", "", "1ms", "20ms"); ad != "" {
		kv = append(kv, "ackdelay="+ad)
	}
	if mode == "datagram" {
		loss := pick(ch, "loss", "0", "0.01", "0.05", "0.2")
		dup := pick(ch, "dup", "0", "0.01", "0.1")
		if sw.Loss > 0 {
			loss = fmt.Sprint(sw.Loss)
		}
		if sw.Dup > 0 {
			dup = fmt.Sprint(sw.Dup)
		}
		kv = append(kv,
			"jitter="+pick(ch, "jitter", "0s", "5ms", "20ms", "100ms"),
			"loss="+loss, "dup="+dup,
			"rto="+pick(ch, "rto", "200ms", "1s"), "minrto=200ms")
	}
	if sw.Broken != "" {
		kv = append(kv, "broken="+sw.Broken)
	}
	switch sw.Secure {
	case "", "off":
	case "any":
		kv = append(kv, "secure="+pick(ch, "secure", "psk", "server-key", "mutual"))
	default:
		kv = append(kv, "secure="+sw.Secure)
	}
	lines := []string{"config " + strings.Join(kv, " ")}
	for i := 1; i <= w.Clients; i++ {
		lines = append(lines, fmt.Sprintf("connect c%d", i))
	}
	return lines
}

// Pick draws an action kind by weight.
func (w *Workload) Pick(ch Chooser) string {
	total := 0
	for _, k := range w.Kinds {
		total += k.Weight
	}
	n := ch.Intn(total, "action")
	for _, k := range w.Kinds {
		if n < k.Weight {
			return k.Name
		}
		n -= k.Weight
	}
	return w.Kinds[len(w.Kinds)-1].Name
}

// Line returns the verb line of one action of the given kind, drawing its
// parameters, or "" when the kind applies to no client now (for example,
// release when nothing is held); it draws nothing before deciding that, so
// that rapid can skip the action cheaply.
func (w *Workload) Line(ch Chooser, kind string, s *Sim) string {
	var ok func(c *clientNode) bool
	switch kind {
	case "reply":
		ok = func(c *clientNode) bool { _, has := w.unanswered(s, c); return has }
	case "hold", "disconnect", "halfopen":
		ok = func(c *clientNode) bool { return c.conn != nil && !c.conn.broken }
	case "release":
		ok = func(c *clientNode) bool { return c.conn != nil && (c.conn.dirs[0].held || c.conn.dirs[1].held) }
	case "close", "abort":
		ok = func(c *clientNode) bool { return !c.ended }
	case "reconnect":
		ok = func(c *clientNode) bool { return c.conn == nil && (c.ended || !c.dial.set) }
	case "dup":
		if s.opts.Mode != session.Datagram {
			return ""
		}
	}
	var cands []*clientNode
	for _, c := range s.clients[:w.Clients] {
		if ok == nil || ok(c) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	cl := cands[ch.Intn(len(cands), "client")]
	c := cl.name
	dir := func() string {
		if ch.Intn(2, "direction") == 0 {
			return c + "->s"
		}
		return "s->" + c
	}
	room := func() string { return pick(ch, "room", "r1", "r2") }
	// name draws an optional event or method name: half the traffic is
	// named, with names that differ in length and script.
	name := func() string {
		if n := pick(ch, "name", "", "", "chat", "quote", "ünï-ev"); n != "" {
			return " name=" + n
		}
		return ""
	}
	switch kind {
	case "send":
		return "send " + c + name()
	case "ssend":
		return "send s " + c + name()
	case "call":
		w.nextID++
		return fmt.Sprintf("call %s id=%d%s", c, w.nextID, name())
	case "scall":
		w.nextID++
		return fmt.Sprintf("call s %s id=%d%s", c, w.nextID, name())
	case "publish":
		w.nextID++
		return fmt.Sprintf("publish %s id=%d room=%s%s", c, w.nextID, room(), name())
	case "reply":
		id, _ := w.unanswered(s, cl)
		return fmt.Sprintf("reply %s id=%d", c, id)
	case "join":
		return fmt.Sprintf("join s %s room=%s", c, room())
	case "cjoin":
		w.nextID++
		return fmt.Sprintf("join %s id=%d room=%s", c, w.nextID, room())
	case "leave":
		return fmt.Sprintf("leave s %s room=%s", c, room())
	case "cleave":
		w.nextID++
		return fmt.Sprintf("leave %s id=%d room=%s", c, w.nextID, room())
	case "broadcast":
		return "broadcast s room=" + room() + name()
	case "advance":
		return "advance " + pick(ch, "duration", "10ms", "100ms", "1s", "5s", "30s", "90s")
	case "drop", "dup":
		return fmt.Sprintf("%s %s n=%d", kind, dir(), 1+ch.Intn(3, "count"))
	case "hold":
		return "hold " + dir()
	case "release":
		if cl.conn.dirs[toServer].held && (!cl.conn.dirs[toClient].held || ch.Intn(2, "direction") == 0) {
			return "release " + c + "->s"
		}
		return "release s->" + c
	case "partition":
		if ch.Intn(2, "oneway") == 0 {
			return "partition " + c
		}
		return "partition " + dir()
	case "heal":
		return "heal"
	case "disconnect":
		return "disconnect " + c
	case "halfopen":
		return fmt.Sprintf("disconnect %s only=%s", c, pick(ch, "end", c, "s"))
	case "crash":
		return "crash " + c
	case "restart":
		return "restart s"
	case "close", "abort":
		return kind + " " + c
	case "corrupt":
		return "corrupt " + c + "->s"
	case "reconnect":
		return "connect " + c
	case "kick":
		return "kick s " + c
	case "impostor":
		// A raw peer that knows c's ID but not its token asks to resume
		// c's session (first it has to connect).
		switch x := s.findRaw("x1"); {
		case x == nil || x.conn == nil || !x.conn.open[endClient]:
			return "dial x1"
		case x.greeted || x.conn.broken:
			return "disconnect x1"
		}
		return "inject x1->s hello resume=" + c
	}
	panic("sim: bug: unknown action kind " + kind)
}

// unanswered finds a request the client received and has not answered (the
// server application never waits: with autoreply off, requests are
// answered by reply actions or time out).
func (w *Workload) unanswered(s *Sim, c *clientNode) (uint64, bool) {
	if s.opts.AutoReply || c.rec == nil {
		return 0, false
	}
	return c.rec.oldestReceived()
}
