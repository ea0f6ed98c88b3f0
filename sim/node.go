package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// This file is the simulator's adapter for the machines: it steps them,
// drains their Ready and plays the application on top (automatic replies,
// the authorization and room hooks live in the server config).

// serverNode is the server: one machine, replaced by a fresh one on restart.
type serverNode struct {
	inc     int // incarnation: restarts so far
	m       *session.Server
	timer   timer
	replies []session.Reply
	retired session.Stats       // counters of machines lost to restarts
	rd      session.ServerReady // the last Ready, whose slices the next reuses
}

// clientNode is one client application, named c1, c2, ...
type clientNode struct {
	name    string
	idx     int32
	inc     int // incarnation: crashes so far
	opts    ClientOptions
	m       *session.Client
	conn    *conn // the connection the machine considers current
	timer   timer
	dial    timer
	faults  [2]faults
	ended   bool // the machine reported Closed
	replies []session.Reply
	retired session.Stats
	rec     *record       // the oracle's view of its current session
	rd      session.Ready // the last Ready, whose slices the next reuses
}

// rawNode is a bare connection to the server with no machine behind it
// (x1, x2, ...): frames are injected by hand, what arrives is only shown.
type rawNode struct {
	name    string
	conn    *conn
	faults  [2]faults
	greeted bool // a HELLO was injected on conn
}

// addClient returns the client named name, creating it (idle) if needed.
func (s *Sim) addClient(name string, opts ClientOptions) *clientNode {
	for _, c := range s.clients {
		if c.name == name {
			return c
		}
	}
	c := &clientNode{name: name, idx: int32(len(s.clients)), opts: opts}
	c.m = session.NewClient(s.clientConfig(c))
	c.rec = s.oracle.newRecord(name)
	s.clients = append(s.clients, c)
	return c
}

func (s *Sim) findClient(name string) *clientNode {
	for _, c := range s.clients {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (s *Sim) findRaw(name string) *rawNode {
	for _, r := range s.raws {
		if r.name == name {
			return r
		}
	}
	return nil
}

// name returns the node name of a session's client ID, or its UUID.
func (s *Sim) name(id proto.ClientID) string {
	if n, ok := s.names[id]; ok {
		return n
	}
	return id.String()
}

// --- client ---

func (s *Sim) stepClient(c *clientNode, in session.Input) error {
	s.count.Steps++
	err := c.m.Step(s.Now(), in)
	if s.opts.tap != nil {
		s.opts.tap.step(c, s.Now(), in, err)
	}
	s.drainClient(c)
	return err
}

func (s *Sim) drainClient(c *clientNode) {
	for {
		// As the adapters do: the drain is done with the last Ready (a
		// nested drain for the replies below comes after it), so the
		// machine reuses its slices.
		rd := &c.rd
		c.m.ReadyInto(rd)
		if s.opts.tap != nil {
			s.opts.tap.ready(c, rd)
		}
		for _, msg := range rd.Transmit {
			if c.conn == nil {
				s.oracle.violate("sim", "%s transmitted %d bytes with no connection", c.name, len(msg))
				continue
			}
			s.send(c.conn, toServer, msg)
		}
		if rd.Hangup && c.conn != nil {
			s.hangup(c.conn, endClient)
			c.conn = nil
		}
		for _, ev := range rd.Events {
			s.clientEvent(c, ev)
		}
		c.m.Recycle(s.delivered(rd.Events))
		if len(c.replies) == 0 {
			s.deadline(&c.timer, c.idx, rd.Deadline)
			return
		}
		replies := c.replies
		c.replies = nil
		for _, r := range replies {
			s.clientCommand(c, r)
		}
	}
}

// delivered returns the Delivered events of evs, which the drains give
// back to their machine once the oracle has seen them, as the adapters do
// once the handlers have: every run then checks deliveries in reused
// memory.
func (s *Sim) delivered(evs []session.Event) []*session.Delivered {
	clear(s.done)
	s.done = s.done[:0]
	for _, ev := range evs {
		if d, ok := ev.(*session.Delivered); ok {
			s.done = append(s.done, d)
		}
	}
	return s.done
}

func (s *Sim) clientEvent(c *clientNode, ev session.Event) {
	if d, ok := ev.(*session.Dial); ok && s.opts.Trace {
		// Show the dial time relative to now rather than as a date.
		s.traceEvent(c.name, fmt.Sprintf("dial attempt=%d in %s", d.Attempt, d.At.Sub(s.Now()).Round(time.Microsecond)))
	} else if s.opts.Trace {
		s.traceEvent(c.name, ev.String())
	}
	s.count.event(ev)
	s.oracle.clientEvent(c, ev)
	switch ev := ev.(type) {
	case *session.Dial:
		s.arm(&c.dial, evDial, c.idx, ev.At.Sub(Epoch))
	case *session.SessionStarted:
		s.names[ev.Client] = c.name
	case *session.RequestReceived:
		if s.opts.AutoReply {
			c.replies = append(c.replies, session.Reply{ID: ev.ID, Payload: autoReply(ev.Payload)})
		}
	case *session.Closed:
		c.ended = true
		c.dial.disarm()
	}
}

// clientCommand steps an application command into c, tells the oracle
// when the machine accepted it, and drains c. It returns the machine's
// error.
func (s *Sim) clientCommand(c *clientNode, in session.Input) error {
	err := s.clientStep(c, in)
	s.drainClient(c)
	return err
}

// clientStep steps a command without draining: a batch of steps followed by
// one drain shares transport messages, as an application sending a burst
// would.
func (s *Sim) clientStep(c *clientNode, in session.Input) error {
	s.count.Steps++
	err := c.m.Step(s.Now(), in)
	if s.opts.tap != nil {
		s.opts.tap.step(c, s.Now(), in, err)
	}
	if err != nil {
		s.traceEvent(c.name, fmt.Sprintf("%s error: %v", commandName(in), err))
	} else {
		s.oracle.command(c.rec, sideClient, in)
	}
	return err
}

// dial opens a new connection for c, or fails it if c is partitioned.
func (s *Sim) dial(c *clientNode) {
	if c.faults[toServer].part || c.faults[toClient].part {
		s.traceArrow(c.name, "s", "(connect)", false, true)
		s.stepClient(c, session.Disconnected{Err: ErrUnreachable})
		return
	}
	s.nextConn++
	cn := &conn{id: s.nextConn, cli: c, peer: c.name, cliInc: c.inc, srvInc: s.server.inc, open: [2]bool{true, true}}
	for d := range cn.dirs {
		if c.faults[d].hold {
			cn.dirs[d].held, c.faults[d].hold = true, false
		}
	}
	s.conns = append(s.conns, cn)
	c.conn = cn
	s.count.Connections++
	s.srvOpen++
	s.traceArrow(c.name, "s", fmt.Sprintf("(connect #%d)", cn.id), false, false)
	if err := s.stepServer(session.Connected{Conn: cn.id}); err != nil {
		s.oracle.violate("sim", "server refused Connected #%d: %v", cn.id, err)
	}
	if err := s.stepClient(c, session.Connected{Conn: cn.id}); err != nil {
		s.oracle.violate("sim", "%s refused Connected #%d: %v", c.name, cn.id, err)
	}
}

// connect dials for the client now (the first connection is the driver's
// own initiative). A client whose machine ended is replaced by a fresh one
// first, as an application would start a new client.
func (s *Sim) connect(c *clientNode) error {
	if c.ended {
		s.replaceClient(c)
	}
	if c.conn != nil {
		return fmt.Errorf("sim: %s is already connected (#%d)", c.name, c.conn.id)
	}
	c.dial.disarm()
	s.dial(c)
	return nil
}

// replaceClient gives c a fresh machine (crash, or a new client after the
// old one closed).
func (s *Sim) replaceClient(c *clientNode) {
	addStats(&c.retired, c.m.Stats())
	c.inc++
	c.m = session.NewClient(s.clientConfig(c))
	c.timer.disarm()
	c.dial.disarm()
	c.ended = false
	c.replies = nil
}

// --- server ---

func (s *Sim) stepServer(in session.Input) error {
	s.count.Steps++
	err := s.server.m.Step(s.Now(), in)
	s.drainServer()
	return err
}

func (s *Sim) drainServer() {
	sv := s.server
	for {
		rd := &sv.rd // reused, as in drainClient
		sv.m.ReadyInto(rd)
		for _, o := range rd.Transmit {
			c := s.connByID(o.Conn)
			if c == nil || !c.open[endServer] {
				s.oracle.violate("sim", "server transmitted on connection #%d that it does not have", o.Conn)
				continue
			}
			s.send(c, toClient, o.Data)
		}
		for _, id := range rd.Hangup {
			if c := s.connByID(id); c != nil {
				s.hangup(c, endServer)
			}
		}
		for _, ev := range rd.Events {
			s.serverEvent(ev)
		}
		sv.m.Recycle(s.delivered(rd.Events))
		s.oracle.serverBounds(sv.m)
		if len(sv.replies) == 0 {
			s.deadline(&sv.timer, -1, rd.Deadline)
			return
		}
		replies := sv.replies
		sv.replies = nil
		for _, r := range replies {
			s.serverCommand(r)
		}
	}
}

func (s *Sim) serverEvent(ev session.Event) {
	if ev, ok := ev.(*session.SessionStarted); ok {
		if c := s.connByID(ev.Conn); c != nil {
			s.names[ev.Client] = c.peer
		}
	}
	if s.opts.Trace {
		s.traceEvent("s", s.serverEventText(ev))
	}
	s.count.event(ev)
	switch ev := ev.(type) {
	case *session.RequestReceived:
		if s.opts.AutoReply {
			s.server.replies = append(s.server.replies, session.Reply{To: ev.Client, ID: ev.ID, Payload: autoReply(ev.Payload)})
		}
	}
	s.oracle.serverEvent(ev)
}

// serverEventText renders a server event with the name of the client it is
// about, since one server talks to many.
func (s *Sim) serverEventText(ev session.Event) string {
	switch ev := ev.(type) {
	case *session.Delivered:
		return ev.String() + " from " + s.name(ev.Client)
	case *session.RequestReceived:
		return ev.String() + " from " + s.name(ev.Client)
	case *session.Response:
		return ev.String() + " from " + s.name(ev.Client)
	case *session.SessionStarted:
		return ev.String() + " (" + s.name(ev.Client) + ")"
	case *session.Resumed:
		return ev.String() + " (" + s.name(ev.Client) + ")"
	case *session.Detached:
		return ev.String() + " (" + s.name(ev.Client) + ")"
	case *session.SessionClosed:
		return ev.String() + " (" + s.name(ev.Client) + ")"
	}
	return ev.String()
}

// serverCommand steps an application command into the server, tells the
// oracle when the machine accepted it, and drains the server.
func (s *Sim) serverCommand(in session.Input) error {
	err := s.serverStep(in)
	s.drainServer()
	return err
}

// serverStep steps a command without draining (see clientStep).
func (s *Sim) serverStep(in session.Input) error {
	var rec *record
	var members, skipped []proto.ClientID
	var except proto.ClientID
	switch in := in.(type) {
	case session.Send:
		rec = s.oracle.recs[in.To]
	case session.Call:
		rec = s.oracle.recs[in.To]
	case session.Reply:
		rec = s.oracle.recs[in.To]
	case session.Broadcast:
		members = s.server.m.Members(in.Room)
		except = in.Except
	case session.Join:
		s.oracle.rooms[in.Room] = true
	}
	err := s.server.m.Step(s.Now(), in)
	s.count.Steps++
	if b, ok := in.(session.Broadcast); ok {
		var berr *session.BroadcastError
		if errors.As(err, &berr) {
			skipped = berr.Skipped
		}
		after := s.server.m.Members(b.Room)
		for _, id := range members {
			if id == except || contains(skipped, id) || !contains(after, id) {
				continue
			}
			s.oracle.broadcast(s.oracle.recs[id], b.Payload, b.Room, b.Name)
		}
	} else if err == nil && rec != nil {
		s.oracle.command(rec, sideServer, in)
	}
	if err != nil {
		s.traceEvent("s", fmt.Sprintf("%s error: %v", commandName(in), err))
	}
	return err
}

// Restart replaces the server with a fresh machine: every session and
// connection is gone, and clients learn it when the close notices arrive.
func (s *Sim) Restart() {
	sv := s.server
	addStats(&sv.retired, sv.m.Stats())
	s.traceNote("s", "", "restart")
	s.count.Faults++
	for _, c := range s.conns {
		if c.open[endServer] && c.srvInc == sv.inc {
			s.hangup(c, endServer)
		}
	}
	sv.inc++
	sv.m = session.NewServer(s.serverConfig())
	sv.timer.disarm()
	sv.replies = nil
	s.oracle.serverRestarted()
}

// crash replaces c's machine with a fresh one, as when the client process
// dies: its connection closes (the server hears of it), its state is gone.
func (s *Sim) crash(c *clientNode) {
	s.traceNote(c.name, "", "crash")
	s.count.Faults++
	if c.conn != nil {
		s.hangup(c.conn, endClient)
		c.conn = nil
	}
	s.oracle.clientCrashed(c)
	s.replaceClient(c)
}

func contains(ids []proto.ClientID, id proto.ClientID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// commandName names an application command in error lines.
func commandName(in session.Input) string {
	switch in.(type) {
	case session.Send:
		return "send"
	case session.Call:
		return "call"
	case session.Reply:
		return "reply"
	case session.JoinRoom, session.Join:
		return "join"
	case session.LeaveRoom, session.Leave:
		return "leave"
	case session.Broadcast:
		return "broadcast"
	case session.Publish:
		return "publish"
	case session.Close:
		return "close"
	case session.Abort:
		return "abort"
	case session.Kick:
		return "kick"
	case session.Shutdown:
		return "shutdown"
	}
	return fmt.Sprintf("%T", in)
}

// autoReply is the automatic answer to a request.
func autoReply(p []byte) []byte { return append([]byte("re:"), p...) }
