package fuzz

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// The seed corpora under testdata/fuzz/<Target>/seed-* are generated from
// real conversations between client and server machines:
//
//	go test ./fuzz -run=TestWriteCorpus -write-corpus
//
// Generated seeds replay under plain go test like every corpus file.
// Crashers found by fuzzing keep their hash names and are never touched by
// the generator.
var writeCorpus = flag.Bool("write-corpus", false, "regenerate the seed corpora under testdata/fuzz from real conversations")

// corpus collects seed entries per target.
type corpus struct {
	entries map[string][]seed // target -> seeds
	msgs    [][]byte          // every transport message seen, for FuzzDecode
}

type seed struct {
	name string
	vals []any // byte, uint32, bool or []byte
}

func (c *corpus) add(target, name string, vals ...any) {
	if c.entries == nil {
		c.entries = map[string][]seed{}
	}
	c.entries[target] = append(c.entries[target], seed{name, vals})
}

func (c *corpus) msg(m []byte) {
	for _, x := range c.msgs {
		if bytes.Equal(x, m) {
			return
		}
	}
	c.msgs = append(c.msgs, slices.Clone(m))
}

// marshal writes a corpus file in the format of go test fuzz v1.
func marshal(vals []any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint32, bool:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		default:
			panic(fmt.Sprintf("corpus value of type %T", v))
		}
	}
	return b.Bytes()
}

func TestWriteCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to regenerate the seed corpora")
	}
	var c corpus
	for _, mode := range []session.Mode{session.Stream, session.Datagram} {
		clientSeeds(t, &c, mode)
		serverSeeds(t, &c, mode)
		hostileSeeds(&c, mode)
	}
	decodeSeeds(&c)
	netconnSeeds(&c)
	simSeeds(&c)
	for target, seeds := range c.entries {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range seeds {
			if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), marshal(s.vals), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: %d seeds", target, len(seeds))
	}
}

// --- FuzzClient ---

// clientGen records a FuzzClient program while it runs it: commands and
// time go through the interpreter, and every message the real server
// delivers to the client becomes a cOpRecv of exactly those bytes. Since
// the client sees the same inputs in the same order, the program replays
// the conversation exactly; the fuzzer then mutates the server's bytes.
type clientGen struct {
	w *clientWorld
	p prog
	c *corpus
}

func (g *clientGen) op(p *prog) {
	g.p.b = append(g.p.b, p.b...)
	g.w.run(&script{b: p.b})
}

func (g *clientGen) pump() {
	w := g.w
	for range 20 {
		w.pump()
		if len(w.srvReqs) == 0 {
			return
		}
		for _, r := range w.srvReqs {
			in := session.Reply{To: r.Client, ID: r.ID, Payload: []byte("answer")}
			if r.ID%2 == 1 {
				in.Payload, in.Err = nil, &proto.Error{Code: proto.ErrCodeApplication, Message: "nope"}
			}
			w.serverCommand(in)
		}
		w.srvReqs = nil
	}
}

func clientSeeds(t *testing.T, c *corpus, mode session.Mode) {
	for st := range byte(nStarts) {
		start := st
		if mode == session.Datagram {
			start |= 8
		}
		for variant, name := range []string{"close", "resume", "kick"} {
			g := &clientGen{w: newClientWorld(t, mode), c: c}
			g.w.setup(start)
			g.w.tap = func(toClient bool, msg []byte) {
				c.msg(msg)
				if toClient {
					g.p.byte(cOpRecv).blob(msg)
				}
			}
			clientConversation(g, variant)
			// The program must replay the conversation exactly.
			r := newClientWorld(t, mode)
			r.setup(start)
			r.run(&script{b: g.p.b})
			if got, want := r.c.Stats(), g.w.c.Stats(); got != want {
				t.Fatalf("start %d %s: replay differs from the conversation:\n got %+v\nwant %+v", start, name, got, want)
			}
			c.add("FuzzClient", fmt.Sprintf("%s-start%d-%s", mode, start%nStarts, name), start, g.p.b)
		}
	}
}

// clientConversation continues from a starting state: the server sends,
// calls and broadcasts, the client answers, sends, calls, heartbeats and
// leaves its room, then the session ends (graceful close, or a kick) or
// its transport breaks and it resumes.
func clientConversation(g *clientGen, variant int) {
	w := g.w
	g.pump()
	if id := w.c.ID(); !id.IsZero() {
		w.serverCommand(session.Send{To: id, Payload: []byte("news")})
		w.serverCommand(session.Call{To: id, ID: 100, Payload: []byte("ping")})
		w.serverCommand(session.Broadcast{Room: "ok-room", Payload: []byte("all")})
	}
	g.pump()
	g.op(new(prog).byte(cOpReply).byte(0).byte(0))
	g.op(new(prog).byte(cOpSend).blob([]byte("more")))
	g.op(new(prog).byte(cOpCall).u64(50).blob([]byte("ask")).u16(0))
	g.pump()
	for range 2 {
		g.op(new(prog).byte(cOpAdvance).u16(2000))
		g.pump()
	}
	g.op(new(prog).byte(cOpRoom).byte(0).u64(60).blob([]byte("ok-room")))
	g.pump()
	switch variant {
	case 0:
		g.op(new(prog).byte(cOpClose).byte(0).blob([]byte("done")))
		g.pump()
	case 1:
		g.op(new(prog).byte(cOpDisconnect))
		g.op(new(prog).byte(cOpAdvance).u16(2500))
		g.op(new(prog).byte(cOpConnect).byte(0))
		g.pump()
		g.op(new(prog).byte(cOpSend).blob([]byte("after")))
		g.pump()
	case 2:
		if id := w.c.ID(); !id.IsZero() {
			w.serverCommand(session.Kick{Client: id, Reason: "bye"})
		}
		g.pump()
	}
}

// --- FuzzServer ---

// serverGen records a FuzzServer program while it runs it. Real client
// machines ("players") drive attacker connections: each message a player
// writes becomes an sOpRaw of exactly those bytes, so the seeds hold real
// handshakes, resumes, requests and room operations for the fuzzer to
// mutate.
type serverGen struct {
	t       testing.TB
	w       *serverWorld
	p       prog
	players map[session.ConnID]*player
	inbox   []session.Outgoing
}

type player struct {
	c    *session.Client
	conn session.ConnID
	idx  byte // the attacker index of conn
	dial bool
}

func (g *serverGen) op(p *prog) {
	g.p.b = append(g.p.b, p.b...)
	g.w.run(&script{b: p.b})
	g.deliver()
}

// deliver hands the server's messages to the players and their answers
// back, until all are quiet.
func (g *serverGen) deliver() {
	for range 100 {
		if len(g.inbox) == 0 {
			return
		}
		in := g.inbox
		g.inbox = nil
		for _, o := range in {
			if pl := g.players[o.Conn]; pl != nil && pl.conn == o.Conn {
				g.playerStep(pl, session.Recv(o))
			}
		}
	}
	g.t.Fatalf("players did not quiesce")
}

func (g *serverGen) playerStep(pl *player, in session.Input) {
	_ = pl.c.Step(g.w.now, in)
	rd := pl.c.Ready()
	for _, ev := range rd.Events {
		if _, ok := ev.(*session.Dial); ok {
			pl.dial = true
		}
	}
	for _, msg := range rd.Transmit {
		g.op(new(prog).byte(sOpRaw).byte(pl.idx).blob(msg))
	}
}

// connect brings up a new attacker connection for pl.
func (g *serverGen) connect(pl *player) {
	g.op(new(prog).byte(sOpConnect))
	pl.conn, pl.idx, pl.dial = g.w.attackers[len(g.w.attackers)-1], byte(len(g.w.attackers)-1), false
	g.players[pl.conn] = pl
	g.playerStep(pl, session.Connected{Conn: pl.conn})
}

func (g *serverGen) newPlayer(seed uint64) *player {
	return &player{c: session.NewClient(fuzzClientConfig(g.w.mode, seed))}
}

func (g *serverGen) advance(ms uint16) {
	g.op(new(prog).byte(sOpAdvance).u16(ms))
	for _, pl := range g.players {
		if pl.conn != 0 {
			g.playerStep(pl, session.Timeout{})
		}
	}
}

// hello is a crafted HELLO frame in script encoding: resume with the known
// ID at index id and the known token at index tok (or a made-up token when
// tok is 0x80).
func hello(p *prog, id, tok byte) {
	p.byte(0).u64(proto.Version).byte(1).byte(id).byte(tok)
	if tok >= 0x80 {
		p.blob(bytes.Repeat([]byte{7}, proto.TokenLen))
	}
	p.u64(0).blob(nil).u64(0).u64(0).u64(0)
}

func serverSeeds(t *testing.T, c *corpus, mode session.Mode) {
	var start byte
	if mode == session.Datagram {
		start = 8
	}
	for _, sc := range serverScenarios {
		g := &serverGen{t: t, w: newServerWorld(t, mode), players: map[session.ConnID]*player{}}
		g.w.setup()
		g.w.tap = func(conn session.ConnID, msg []byte) {
			c.msg(msg)
			if g.w.honestOf(conn) == nil {
				g.inbox = append(g.inbox, session.Outgoing{Conn: conn, Data: msg})
			}
		}
		sc.run(g)
		g.w.finish()
		r := newServerWorld(t, mode)
		r.setup()
		r.run(&script{b: g.p.b})
		r.finish()
		if got, want := r.s.Stats(), g.w.s.Stats(); got != want {
			t.Fatalf("%s: replay differs from the conversation:\n got %+v\nwant %+v", sc.name, got, want)
		}
		c.add("FuzzServer", fmt.Sprintf("%s-%s", mode, sc.name), start, g.p.b)
	}
}

var serverScenarios = []struct {
	name string
	run  func(g *serverGen)
}{
	{"player-lifecycle", func(g *serverGen) {
		pl := g.newPlayer(100)
		g.connect(pl)
		g.playerStep(pl, session.Send{Payload: []byte("x1")})
		g.playerStep(pl, session.Call{ID: 1, Payload: []byte("q")})
		g.playerStep(pl, session.JoinRoom{ID: 2, Room: "ok-x"})
		g.playerStep(pl, session.LeaveRoom{ID: 3, Room: "ok-x"})
		g.playerStep(pl, session.JoinRoom{ID: 4, Room: "no-x"})
		g.advance(2000)
		g.advance(2000)
		g.playerStep(pl, session.Close{Reason: "done"})
		g.advance(100)
	}},
	{"player-resumes", func(g *serverGen) {
		pl := g.newPlayer(101)
		g.connect(pl)
		g.playerStep(pl, session.Send{Payload: []byte("x1")})
		g.op(new(prog).byte(sOpAttackerCmd).byte(0).byte(0).blob([]byte("to-player")))
		g.op(new(prog).byte(sOpDisconnect).byte(pl.idx))
		g.playerStep(pl, session.Disconnected{Conn: pl.conn})
		g.advance(2500)
		if pl.dial {
			g.connect(pl)
		}
		g.playerStep(pl, session.Send{Payload: []byte("x2")})
		g.advance(1000)
	}},
	{"impersonate-honest", func(g *serverGen) {
		pl := g.newPlayer(102)
		g.connect(pl)
		g.op(new(prog).byte(sOpHonestSend).byte(0).blob([]byte("h0-1")))
		// Known IDs: 0 and 1 are the honest sessions, 2 the player's; known
		// token 0 is the player's.
		g.op(new(prog).byte(sOpConnect))
		a := byte(len(g.w.attackers) - 1)
		p := new(prog).byte(sOpFrames).byte(a).byte(0)
		hello(p, 0, 0)
		g.op(p)
		g.op(new(prog).byte(sOpConnect))
		p = new(prog).byte(sOpFrames).byte(a + 1).byte(0)
		hello(p, 1, 0x80)
		g.op(p)
		g.op(new(prog).byte(sOpServerSend).byte(0).blob([]byte("to-h0")))
		g.op(new(prog).byte(sOpHonestDrop).byte(0))
		g.op(new(prog).byte(sOpConnect))
		p = new(prog).byte(sOpFrames).byte(a + 2).byte(0)
		hello(p, 0, 0)
		g.op(p)
		g.advance(2000)
		g.op(new(prog).byte(sOpHonestSend).byte(0).blob([]byte("h0-2")))
	}},
	{"hello-flood", func(g *serverGen) {
		var enc codec.Encoder
		one, _ := enc.Append(nil, &proto.Hello{Version: proto.Version, Auth: []byte("a")})
		g.op(new(prog).byte(sOpConnect))
		g.op(new(prog).byte(sOpRaw).byte(0).blob(bytes.Repeat(one, 500)))
		g.op(new(prog).byte(sOpConnect))
		for range 40 {
			g.op(new(prog).byte(sOpRaw).byte(1).blob(one))
		}
		g.advance(4000)
	}},
	{"half-open", func(g *serverGen) {
		for range 20 {
			g.op(new(prog).byte(sOpConnect))
		}
		g.op(new(prog).byte(sOpHonestCall).byte(1).blob([]byte("still-there?")))
		g.advance(3500)
	}},
	{"honest-traffic", func(g *serverGen) {
		g.op(new(prog).byte(sOpHonestSend).byte(0).blob([]byte("a")))
		g.op(new(prog).byte(sOpHonestCall).byte(1).blob([]byte("b")))
		g.op(new(prog).byte(sOpServerSend).byte(1).blob([]byte("c")))
		g.op(new(prog).byte(sOpServerCall).byte(0).blob([]byte("d")))
		g.op(new(prog).byte(sOpBroadcast).byte(1).blob([]byte("e")))
		g.op(new(prog).byte(sOpHonestDrop).byte(1))
		g.op(new(prog).byte(sOpServerSend).byte(1).blob([]byte("while-away")))
		g.advance(2000)
		g.op(new(prog).byte(sOpDeadline))
	}},
	{"attacker-commands", func(g *serverGen) {
		pl := g.newPlayer(103)
		g.connect(pl)
		for what := range byte(5) {
			g.op(new(prog).byte(sOpAttackerCmd).byte((what + 1) % 5).byte(0).blob([]byte("cmd")))
		}
		g.advance(1000)
	}},
}

// --- FuzzDecode ---

// --- hostile seeds ---

// hostile are messages a misbehaving peer sends, one protocol violation or
// edge each, so that the corpus replayed by go test covers the error paths
// and not only the conversations.
func hostile() []struct {
	name string
	msg  []byte
} {
	id := proto.ClientID{0xee, 1}
	frames := func(fs ...proto.Frame) []byte {
		var enc codec.Encoder
		var b []byte
		for _, f := range fs {
			b, _ = enc.Append(b, f)
		}
		return b
	}
	welcome := func(v uint64, id proto.ClientID, resumed bool, ack uint64) *proto.Welcome {
		return &proto.Welcome{Version: v, ID: id, Token: []byte("tok"), Heartbeat: time.Second,
			IdleTimeout: 3 * time.Second, Resumed: resumed, Ack: ack, Limits: proto.Limits{MaxMessageSize: 300, MaxInflight: 2, MaxRequests: 1}}
	}
	return []struct {
		name string
		msg  []byte
	}{
		{"garbage", []byte{0xff, 0x00, 0x13}},
		{"empty", []byte{}},
		{"truncated", frames(&proto.Data{Seq: 1, Payload: []byte("abcdef")})[:6]},
		{"unknown-type", []byte{0x82, 0x0c, 0x00}},
		{"welcome-v2", frames(welcome(2, id, false, 0))},
		{"welcome-new", frames(welcome(1, id, false, 0))},
		{"welcome-resumed-other", frames(welcome(1, id, true, 0))},
		{"welcome-twice", frames(welcome(1, id, false, 0), welcome(1, id, false, 0))},
		{"ack-unsent", frames(&proto.Ack{Ack: 200})},
		{"ack-max", frames(&proto.Heartbeat{Ack: 1<<64 - 1, Echo: 1})},
		{"heartbeat-echo", frames(&proto.Heartbeat{Ack: 0, Echo: 1000})},
		{"data-beyond-window", frames(&proto.Data{Seq: 5000, Payload: []byte("far")})},
		{"data-gap-then-fill", frames(&proto.Data{Seq: 3, Payload: []byte("3")}, &proto.Data{Seq: 2, Payload: []byte("2")}, &proto.Data{Seq: 1, Payload: []byte("1")})},
		{"data-duplicate", frames(&proto.Data{Seq: 1, Payload: []byte("a")}, &proto.Data{Seq: 1, Payload: []byte("a")})},
		{"data-room", frames(&proto.Data{Seq: 1, Payload: []byte("r"), Room: "ok-room"})},
		{"request-duplicate-id", frames(&proto.Request{Seq: 1, ID: 9}, &proto.Request{Seq: 2, ID: 9})},
		{"requests-flood", frames(&proto.Request{Seq: 1, ID: 1}, &proto.Request{Seq: 2, ID: 2}, &proto.Request{Seq: 3, ID: 3},
			&proto.Request{Seq: 4, ID: 4}, &proto.Request{Seq: 5, ID: 5}, &proto.Request{Seq: 6, ID: 6}, &proto.Request{Seq: 7, ID: 7},
			&proto.Request{Seq: 8, ID: 8}, &proto.Request{Seq: 9, ID: 9}, &proto.Request{Seq: 10, ID: 10})},
		{"response-unknown", frames(&proto.Response{Seq: 1, ID: 12345, Payload: []byte("late")})},
		{"response-error", frames(&proto.Response{Seq: 1, ID: 1, Error: &proto.Error{Code: proto.ErrCodeForbidden, Message: "no"}})},
		{"hello", frames(&proto.Hello{Version: 1, Resume: &proto.Resume{ID: id, Token: []byte("x")}})},
		{"hello-v9", frames(&proto.Hello{Version: 9})},
		{"hello-deny", frames(&proto.Hello{Version: 1, Auth: []byte("deny")})},
		{"hello-tiny-limits", frames(&proto.Hello{Version: 1, Limits: proto.Limits{MaxMessageSize: 1, MaxInflight: 1, MaxRequests: 1}})},
		{"join", frames(&proto.Join{Seq: 1, ID: 1, Room: "ok-j"}, &proto.Leave{Seq: 2, ID: 2, Room: "ok-j"}, &proto.Join{Seq: 3, ID: 3, Room: "nope"})},
		{"named", frames(&proto.Data{Seq: 1, Payload: []byte("d"), Name: "ev"}, &proto.Request{Seq: 2, ID: 2, Payload: []byte("q"), Name: "m"})},
		{"publish", frames(&proto.Join{Seq: 1, ID: 1, Room: "ok-p"}, &proto.Publish{Seq: 2, ID: 2, Room: "ok-p", Payload: []byte("p"), Name: "ev"},
			&proto.Publish{Seq: 3, ID: 3, Room: "other", Payload: []byte("refused")})},
		{"close-going-away", frames(&proto.Close{Code: proto.CloseGoingAway, Reason: "restart"})},
		{"close-overloaded", frames(&proto.Close{Code: proto.CloseOverloaded})},
		{"close-policy", frames(&proto.Close{Code: proto.ClosePolicy, Reason: "banned"})},
		{"close-unknown-code", frames(&proto.Close{Code: 4999})},
		{"too-large", bytes.Repeat([]byte{0x80}, srvMaxMessage+1)},
	}
}

// hostileSeeds puts each hostile message in front of the client in its
// main states, and on an attacker connection before and after its HELLO.
func hostileSeeds(c *corpus, mode session.Mode) {
	var dgram byte
	if mode == session.Datagram {
		dgram = 8
	}
	for _, h := range hostile() {
		if mode == session.Stream {
			c.add("FuzzDecode", "hostile-"+h.name, h.msg)
		}
		for _, start := range []byte{startHandshake, startTraffic, startResuming, startClosing} {
			p := new(prog).byte(cOpRecv).blob(h.msg).byte(cOpDeadline)
			c.add("FuzzClient", fmt.Sprintf("%s-hostile-%s-start%d", mode, h.name, start), start|dgram, p.b)
		}
		hello, _ := codec.Encode(&proto.Hello{Version: proto.Version})
		p := new(prog).byte(sOpConnect).byte(sOpRaw).byte(0).blob(h.msg)
		p.byte(sOpConnect).byte(sOpRaw).byte(1).blob(hello).byte(sOpRaw).byte(1).blob(h.msg).byte(sOpDeadline)
		c.add("FuzzServer", fmt.Sprintf("%s-hostile-%s", mode, h.name), dgram, p.b)
	}
}

// decodeSeeds: every message of the conversations above, and each frame
// type on its own with fields at the edges of their encodings.
func decodeSeeds(c *corpus) {
	for i, m := range c.msgs {
		c.add("FuzzDecode", fmt.Sprintf("msg-%03d", i), m)
	}
	id := proto.ClientID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	big := uint64(1<<64 - 1)
	frames := []proto.Frame{
		&proto.Hello{Version: 1, Resume: &proto.Resume{ID: id, Token: make([]byte, proto.MaxTokenLen), Ack: big},
			Auth: []byte{}, Limits: proto.Limits{MaxMessageSize: 1<<32 - 1, MaxInflight: 24, MaxRequests: 256}},
		&proto.Welcome{Version: 1, ID: id, Token: []byte("t"), Heartbeat: time.Millisecond, IdleTimeout: proto.MaxDuration, Resumed: true, Ack: 65536},
		&proto.Ack{Ack: big},
		&proto.Heartbeat{Ack: 23, Echo: 1 << 32},
		&proto.Data{Seq: big, Ack: 0, Payload: nil, Room: strings.Repeat("é", proto.MaxRoomLen/2)},
		&proto.Request{Seq: 1, Ack: 255, ID: 256, Payload: []byte{}},
		&proto.Response{Seq: 1, Ack: 1, ID: 1, Error: &proto.Error{Code: proto.ErrCodeApplication, Message: "x"}},
		&proto.Close{Code: proto.CloseSuperseded, Reason: strings.Repeat("r", proto.MaxReasonLen)},
		&proto.Join{Seq: 24, Ack: 24, ID: 24, Room: "r"},
		&proto.Leave{Seq: 1, Ack: 0, ID: big, Room: "ok-room"},
	}
	named := []proto.Frame{
		&proto.Data{Seq: 2, Payload: []byte{}, Room: "r", Name: strings.Repeat("n", proto.MaxNameLen)},
		&proto.Request{Seq: 3, ID: 4, Payload: []byte("q"), Name: "método"},
		&proto.Publish{Seq: 5, ID: 6, Room: "r", Payload: nil, Name: "e"},
	}
	frames = append(frames, &proto.Publish{Seq: big, Ack: big, ID: big, Room: "r", Payload: []byte{0}})
	for _, f := range frames {
		b, err := codec.Encode(f)
		if err != nil {
			panic(err)
		}
		c.add("FuzzDecode", "frame-"+strings.ToLower(f.Type().String()), b)
	}
	for _, f := range named {
		b, err := codec.Encode(f)
		if err != nil {
			panic(err)
		}
		c.add("FuzzDecode", "frame-"+strings.ToLower(f.Type().String())+"-named", b)
	}
}
