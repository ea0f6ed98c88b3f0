package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// The oracle checks DESIGN.md's guarantees from outside the machines. It
// sees every application command the machines accepted and every event they
// reported, and models each session as two flows (client→server and
// server→client) of the reliable frames the applications queued, in the
// order the machines number them.
//
// G1: each observable delivery (Delivered, RequestReceived, a Response that
// carries the peer's answer) must be the next frame of its flow; frames the
// receiving application never sees (JOIN and LEAVE at the server, a
// response to a request that already had its outcome) may be passed over
// silently. A duplicate, a reordering, a gap or a delivery to another
// session shows up as a mismatch.
//
// G2: when a side reports its session over (SessionLost, Closed,
// SessionClosed), its list of unacknowledged frames must be a run of
// consecutive sequence numbers whose frames are exactly the tail of what it
// sent, and that tail must start no later than the first frame the peer did
// not get: nothing may vanish unreported. Every request must end in exactly
// one Response outcome, and the lost requests listed must be exactly those
// that failed with ErrSessionLost.
//
// G3 is covered by the flows (a frame delivered to the wrong session does
// not match) and by checking that client events name the client's session.
// Names are part of each frame in a flow: a message or request that arrives
// without its name, or with another, does not match.
//
// Room publishes: a client's PUBLISH is in its flow to the server; when
// the server application sees it accepted (Delivered with Room set), it
// must be that next frame, and exactly one DATA tagged with the room and
// name is then expected in the flow of every other member (as the server's
// membership had it, less the members the event lists as skipped). A
// refused publish reaches nobody: a stray copy anywhere is a G1 mismatch.
// A generated publish payload names its publisher, which must not get its
// own message back.
//
// G4: flows never hold more unacknowledged frames than the window allows,
// pending requests stay within their limit, transport messages within the
// receiver's size (a single frame may exceed it; the receiver closes), and
// the server's session and detached counts within their limits.

// Violation is one broken guarantee.
type Violation struct {
	At   time.Duration // virtual time since Epoch
	Rule string        // "G1" .. "G4", "liveness" or "sim"
	Text string
}

// String renders the violation as "G1 at +1.5s: ...".
func (v Violation) String() string {
	return fmt.Sprintf("%s at +%s: %s", v.Rule, v.At, v.Text)
}

// ErrViolation is wrapped by the error [Oracle.Err] returns.
var ErrViolation = errors.New("sim: guarantee violated")

// Oracle checks the guarantees of one simulation.
type Oracle struct {
	sim        *Sim
	recs       map[proto.ClientID]*record
	violations []Violation
	// rooms are the room names any session was ever asked to join;
	// members is their membership as it was before the server's current
	// Recv step: a publish fans out to the members of that moment (a
	// member the same step closes as a slow consumer got the earlier
	// publishes of the step).
	rooms   map[string]bool
	members map[string][]proto.ClientID
	// publisher maps a publish payload to the session that published it,
	// which must not get it back.
	publisher map[string]proto.ClientID
}

type side uint8

const (
	sideClient side = 0
	sideServer side = 1
)

// outDir is the flow a side sends on.
func (sd side) outDir() int {
	if sd == sideClient {
		return toServer
	}
	return toClient
}

// record is the oracle's model of one session.
type record struct {
	id      proto.ClientID
	name    string
	flows   [2]flow // [toServer], [toClient]
	alive   [2]bool // the side's machine has the session
	ended   [2]bool // the side reported it over (or died)
	pending [2]map[uint64]bool
	lostReq [2][]uint64     // requests that failed with ErrSessionLost
	roomOps map[uint64]bool // the client's JOIN/LEAVE request IDs
	asked   []uint64        // requests the client received and has not answered
}

// oldestReceived returns the oldest request the client received and has
// not answered.
func (r *record) oldestReceived() (uint64, bool) {
	if len(r.asked) == 0 {
		return 0, false
	}
	return r.asked[0], true
}

// flow is one direction of a session: the reliable frames queued, and how
// far the receiver's application has seen them.
type flow struct {
	sent []sent
	base int // sent[0] is frame base+1 (older frames are trimmed)
	next int // frames before next (absolute index) were delivered
}

type sent struct {
	typ     proto.FrameType
	id      uint64
	payload []byte
	room    string
	name    string
	errCode proto.ErrorCode
	isErr   bool
}

func (f *flow) len() int         { return f.base + len(f.sent) }
func (f *flow) at(i int) *sent   { return &f.sent[i-f.base] }
func (f *flow) push(x sent)      { f.sent = append(f.sent, x) }
func (f *flow) outstanding() int { return f.len() - f.next }

// String renders the frame for violation messages.
func (x *sent) String() string {
	s := x.text()
	if x.name != "" {
		s += fmt.Sprintf(" name=%q", x.name)
	}
	return s
}

func (x *sent) text() string {
	switch x.typ {
	case proto.TypeData:
		if x.room != "" {
			return fmt.Sprintf("DATA %s room=%q", proto.Preview(x.payload), x.room)
		}
		return "DATA " + proto.Preview(x.payload)
	case proto.TypePublish:
		return fmt.Sprintf("PUBLISH id=%d room=%q %s", x.id, x.room, proto.Preview(x.payload))
	case proto.TypeResponse:
		if x.isErr {
			return fmt.Sprintf("RESPONSE id=%d error=%s", x.id, x.errCode)
		}
		return fmt.Sprintf("RESPONSE id=%d %s", x.id, proto.Preview(x.payload))
	case proto.TypeJoin, proto.TypeLeave:
		return fmt.Sprintf("%s id=%d room=%q", x.typ, x.id, x.room)
	}
	return fmt.Sprintf("%s id=%d %s", x.typ, x.id, proto.Preview(x.payload))
}

// trim forgets delivered frames that can no longer appear in a loss
// report: at most keep frames before next are kept.
func (f *flow) trim(keep int) {
	if drop := f.next - keep - f.base; drop > 4096 {
		n := copy(f.sent, f.sent[drop:])
		clear(f.sent[n:])
		f.sent = f.sent[:n]
		f.base += drop
	}
}

func (o *Oracle) init(s *Sim) {
	o.sim = s
	o.recs = make(map[proto.ClientID]*record)
	o.rooms = make(map[string]bool)
	o.members = make(map[string][]proto.ClientID)
	o.publisher = make(map[string]proto.ClientID)
}

// beforeRecv snapshots room membership before the server steps a
// transport message (which may hold publishes).
func (o *Oracle) beforeRecv() {
	for room := range o.rooms {
		o.members[room] = o.sim.server.m.Members(room)
	}
}

func (o *Oracle) newRecord(name string) *record {
	r := &record{name: name, roomOps: map[uint64]bool{}}
	r.pending[0], r.pending[1] = map[uint64]bool{}, map[uint64]bool{}
	return r
}

// Violations returns every violation found so far.
func (o *Oracle) Violations() []Violation { return o.violations }

// Err returns the first violation as an error wrapping [ErrViolation], or
// nil.
func (o *Oracle) Err() error {
	if len(o.violations) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrViolation, o.violations[0])
}

func (o *Oracle) violate(rule, format string, args ...any) {
	v := Violation{At: o.sim.now, Rule: rule, Text: fmt.Sprintf(format, args...)}
	o.violations = append(o.violations, v)
	o.sim.count.Violations++
	if o.sim.opts.Trace {
		o.sim.record(Entry{Kind: Note, From: "s", Text: "VIOLATION " + v.Rule + ": " + v.Text})
	}
}

// window is the most frames a flow may have unacknowledged.
func (o *Oracle) window() int {
	w := o.sim.opts.Window
	if w <= 0 {
		w = session.DefaultMaxInflight
	}
	return w
}

func (o *Oracle) maxRequests() int {
	m := o.sim.opts.MaxRequests
	if m <= 0 {
		m = session.DefaultMaxRequests
	}
	return m
}

// --- commands ---

// command records an application command the machine of side sd accepted
// on session r.
func (o *Oracle) command(r *record, sd side, in session.Input) {
	if r == nil {
		return
	}
	f := &r.flows[sd.outDir()]
	count := &o.sim.count
	switch in := in.(type) {
	case session.Send:
		f.push(sent{typ: proto.TypeData, payload: in.Payload, name: in.Name})
		count.AppMessages++
	case session.Call:
		f.push(sent{typ: proto.TypeRequest, id: in.ID, payload: in.Payload, name: in.Name})
		o.request(r, sd, in.ID)
		count.Requests++
	case session.Publish:
		f.push(sent{typ: proto.TypePublish, id: in.ID, room: in.Room, name: in.Name, payload: in.Payload})
		o.request(r, sd, in.ID)
		r.roomOps[in.ID] = true
		count.Requests++
	case session.JoinRoom:
		o.rooms[in.Room] = true
		f.push(sent{typ: proto.TypeJoin, id: in.ID, room: in.Room})
		o.request(r, sd, in.ID)
		r.roomOps[in.ID] = true
		count.Requests++
	case session.LeaveRoom:
		f.push(sent{typ: proto.TypeLeave, id: in.ID, room: in.Room})
		o.request(r, sd, in.ID)
		r.roomOps[in.ID] = true
		count.Requests++
	case session.Reply:
		if sd == sideClient {
			r.asked = slices.DeleteFunc(r.asked, func(id uint64) bool { return id == in.ID })
		}
		x := sent{typ: proto.TypeResponse, id: in.ID, payload: in.Payload}
		if in.Err != nil {
			x.payload, x.isErr, x.errCode = nil, true, in.Err.Code
		}
		f.push(x)
	default:
		return
	}
	o.checkWindow(r, sd.outDir())
}

// broadcast records a broadcast or published DATA queued for member
// session r.
func (o *Oracle) broadcast(r *record, payload []byte, room, name string) {
	if r == nil {
		return
	}
	r.flows[toClient].push(sent{typ: proto.TypeData, payload: payload, room: room, name: name})
	o.sim.count.AppMessages++
	o.checkWindow(r, toClient)
}

func (o *Oracle) request(r *record, sd side, id uint64) {
	if r.pending[sd][id] {
		o.violate("G2", "%s: request id=%d accepted while one with that id is pending", o.sideName(r, sd), id)
	}
	r.pending[sd][id] = true
	if n := len(r.pending[sd]); n > o.maxRequests() {
		o.violate("G4", "%s: %d requests pending, limit %d", o.sideName(r, sd), n, o.maxRequests())
	}
}

func (o *Oracle) checkWindow(r *record, d int) {
	f := &r.flows[d]
	if n, max := f.outstanding(), o.window()+o.maxRequests(); n > max {
		o.violate("G4", "%s: %d frames queued beyond what %s delivered, window %d", o.flowName(r, d), n, o.flowName(r, 1-d), o.window())
	}
}

func (o *Oracle) sideName(r *record, sd side) string {
	if sd == sideClient {
		return r.name
	}
	return "s[" + r.name + "]"
}

func (o *Oracle) flowName(r *record, d int) string {
	if d == toServer {
		return r.name + "->s"
	}
	return "s->" + r.name
}

// --- events ---

func (o *Oracle) clientEvent(c *clientNode, ev session.Event) {
	r := c.rec
	switch ev := ev.(type) {
	case *session.SessionStarted:
		o.clientStarted(c, ev.Client)
	case *session.Resumed:
		if ev.Client != r.id {
			o.violate("G3", "%s resumed session %s, its session is %s", c.name, ev.Client, r.id)
		}
	case *session.Delivered:
		if o.own(c, ev.Client) {
			if ev.Room != "" && o.publisher[string(ev.Payload)] == ev.Client {
				o.violate("G3", "%s got its own publish %q back", c.name, ev.Payload)
			}
			o.addressed("s", c.name, ev.Payload, ev.Room)
			o.deliver(r, toClient, sent{typ: proto.TypeData, payload: ev.Payload, room: ev.Room, name: ev.Name})
		}
	case *session.RequestReceived:
		if o.own(c, ev.Client) {
			o.deliver(r, toClient, sent{typ: proto.TypeRequest, id: ev.ID, payload: ev.Payload, name: ev.Name})
			r.asked = append(r.asked, ev.ID)
		}
	case *session.Response:
		o.outcome(r, sideClient, ev)
	case *session.SessionLost:
		o.honest(c.name, ev.Err)
		o.ended(r, sideClient, ev.Client, ev.Lost)
		c.rec = o.newRecord(c.name)
	case *session.Closed:
		o.honest(c.name, ev.Err)
		o.ended(r, sideClient, ev.Client, ev.Lost)
		c.rec = o.newRecord(c.name)
	}
}

// honest checks that a session did not end in a protocol error while only
// correct machines talked over the network (hand-made frames taint a run).
func (o *Oracle) honest(who string, err error) {
	if !o.sim.tainted && errors.Is(err, session.ErrProtocol) {
		o.violate("protocol", "%s: protocol error between correct machines: %v", who, err)
	}
}

// addressed checks a generated payload ("from>to#N", "s>room:R#N")
// against who sent it and who got it: a message must reach only the
// client it was addressed to (or a member of the room it was broadcast to).
// Payloads written by hand are not checked here (the flows check them).
func (o *Oracle) addressed(from, to string, payload []byte, room string) {
	head, _, ok := bytes.Cut(payload, []byte("#"))
	if !ok {
		return
	}
	src, dst, ok := bytes.Cut(head, []byte(">"))
	if !ok || !validName(string(src), 'c') && string(src) != "s" {
		return
	}
	var good bool
	if room != "" {
		good = string(dst) == "room:"+room
	} else {
		good = string(dst) == to
	}
	// A room message comes from the server's Broadcast or from a member's
	// publish (the publishing session never gets its own back: see
	// clientEvent; a later session of the same client may).
	fromOK := string(src) == from || room != "" && from == "s"
	if !good || !fromOK {
		o.violate("G3", "%s got %q from %s: it was addressed to %s by %s", to, payload, from, dst, src)
	}
}

// own checks that a client event names the client's current session.
func (o *Oracle) own(c *clientNode, id proto.ClientID) bool {
	if id != c.rec.id || id.IsZero() {
		o.violate("G3", "%s got a delivery for session %s, its session is %s", c.name, id, c.rec.id)
		return false
	}
	return true
}

func (o *Oracle) clientStarted(c *clientNode, id proto.ClientID) {
	r := c.rec
	if !r.id.IsZero() {
		o.violate("G2", "%s started session %s without reporting the end of %s", c.name, id, r.id)
		return
	}
	if srv := o.recs[id]; srv != nil {
		// The server side was recorded first: move what the client queued
		// before it knew its ID into that record.
		if srv.flows[toServer].len() > 0 || srv.ended[sideClient] || srv.alive[sideClient] {
			o.violate("G3", "%s was given session %s, which another client had", c.name, id)
			return
		}
		srv.flows[toServer] = r.flows[toServer]
		srv.pending[sideClient] = r.pending[sideClient]
		srv.roomOps = r.roomOps
		srv.name = c.name
		r = srv
		c.rec = r
	} else {
		r.id = id
		o.recs[id] = r
	}
	r.id = id
	r.alive[sideClient] = true
}

func (o *Oracle) serverEvent(ev session.Event) {
	switch ev := ev.(type) {
	case *session.SessionStarted:
		r := o.recs[ev.Client]
		if r != nil {
			o.violate("G3", "server started session %s twice", ev.Client)
			return
		}
		r = o.newRecord(o.sim.name(ev.Client))
		r.id = ev.Client
		r.alive[sideServer] = true
		o.recs[ev.Client] = r
	case *session.Resumed:
		r := o.recs[ev.Client]
		if r == nil || !r.alive[sideServer] {
			o.violate("G3", "server resumed session %s that it does not have", ev.Client)
			return
		}
		if c := o.sim.connByID(ev.Conn); c != nil && c.peer != r.name {
			o.violate("G3", "server resumed %s's session %s on a connection of %s", r.name, r.id, c.peer)
		}
	case *session.Delivered:
		if r := o.serverRec(ev.Client); r != nil {
			if ev.Room != "" {
				o.published(r, ev)
				return
			}
			o.addressed(r.name, "s", ev.Payload, "")
			o.deliver(r, toServer, sent{typ: proto.TypeData, payload: ev.Payload, name: ev.Name})
		}
	case *session.RequestReceived:
		if r := o.serverRec(ev.Client); r != nil {
			o.deliver(r, toServer, sent{typ: proto.TypeRequest, id: ev.ID, payload: ev.Payload, name: ev.Name})
		}
	case *session.Response:
		if r := o.serverRec(ev.Client); r != nil {
			o.outcome(r, sideServer, ev)
		}
	case *session.SessionClosed:
		o.honest("s", ev.Err)
		if r := o.serverRec(ev.Client); r != nil {
			o.ended(r, sideServer, ev.Client, ev.Lost)
		}
	case *session.ConnRejected:
		o.honest("s", ev.Err)
	}
}

// published checks a publish the server accepted from r's client, and
// records the DATA it queued for each other member.
func (o *Oracle) published(r *record, ev *session.Delivered) {
	o.addressed(r.name, "s", ev.Payload, ev.Room)
	// The flow holds the PUBLISH with its request ID, which the event does
	// not carry: match it by everything else.
	f := &r.flows[toServer]
	got := sent{typ: proto.TypePublish, payload: ev.Payload, room: ev.Room, name: ev.Name}
	for i := f.next; i < f.len(); i++ {
		if x := f.at(i); x.typ == proto.TypePublish && x.room == got.room && x.name == got.name && bytes.Equal(x.payload, got.payload) {
			got.id = x.id
			break
		}
	}
	o.deliver(r, toServer, got)
	if !o.mayPublish(r, ev.Room) {
		o.violate("G3", "server accepted %s's publish to %q, which it is not a member of", r.name, ev.Room)
	}
	o.sim.count.Publishes++
	o.publisher[string(ev.Payload)] = r.id
	for _, id := range o.members[ev.Room] {
		m := o.recs[id]
		if id == r.id || contains(ev.Skipped, id) || m == nil || !m.alive[sideServer] {
			continue // the publisher, skipped, or closed as a slow consumer
		}
		o.broadcast(m, ev.Payload, ev.Room, ev.Name)
	}
}

// mayPublish reports whether r's client may have been a member of room when
// the server took its publish (the one just delivered): a member before or
// after the step, or one whose last JOIN or LEAVE of room before the
// publish, in its own sequence, was a JOIN (the same transport message may
// have carried a JOIN, the publish and a LEAVE).
func (o *Oracle) mayPublish(r *record, room string) bool {
	if contains(o.members[room], r.id) || contains(o.sim.server.m.Members(room), r.id) {
		return true
	}
	f := &r.flows[toServer]
	for j := f.next - 2; j >= f.base; j-- {
		if x := f.at(j); (x.typ == proto.TypeJoin || x.typ == proto.TypeLeave) && x.room == room {
			return x.typ == proto.TypeJoin
		}
	}
	return false
}

func (o *Oracle) serverRec(id proto.ClientID) *record {
	r := o.recs[id]
	if r == nil || !r.alive[sideServer] {
		o.violate("G3", "server event for session %s that it does not have", id)
		return nil
	}
	return r
}

// skippable reports whether the receiver's application never sees frame x
// of flow d: JOIN and LEAVE are handled inside the server, and a response
// to a request that already has its outcome is dropped.
func (o *Oracle) skippable(r *record, d int, x *sent) bool {
	switch x.typ {
	case proto.TypeJoin, proto.TypeLeave, proto.TypePublish:
		// A refused PUBLISH never reaches the server application.
		return d == toServer
	case proto.TypeResponse:
		requester := sideClient
		if d == toServer {
			requester = sideServer
		}
		return !r.pending[requester][x.id]
	}
	return false
}

// deliver matches an observable delivery against flow d of r.
func (o *Oracle) deliver(r *record, d int, got sent) {
	f := &r.flows[d]
	for f.next < f.len() {
		want := f.at(f.next)
		if want.matches(&got) {
			f.next++
			f.trim(o.window() + o.maxRequests() + 1)
			return
		}
		if !o.skippable(r, d, want) {
			o.violate("G1", "%s delivered %s, expected frame %d: %s", o.flowName(r, d), got.String(), f.next+1, want)
			return
		}
		f.next++
	}
	o.violate("G1", "%s delivered %s after all %d frames sent (a duplicate or a misrouted frame)", o.flowName(r, d), got.String(), f.len())
}

func (x *sent) matches(y *sent) bool {
	return x.typ == y.typ && x.id == y.id && x.room == y.room && x.name == y.name && x.isErr == y.isErr &&
		x.errCode == y.errCode && bytes.Equal(x.payload, y.payload)
}

// outcome checks a request's outcome at side sd.
func (o *Oracle) outcome(r *record, sd side, ev *session.Response) {
	who := o.sideName(r, sd)
	if !r.pending[sd][ev.ID] {
		o.violate("G2", "%s: outcome for request id=%d that is not pending (%s)", who, ev.ID, ev)
		return
	}
	var remote *session.RemoteError
	switch {
	case errors.Is(ev.Err, session.ErrSessionLost):
		r.lostReq[sd] = append(r.lostReq[sd], ev.ID)
	case errors.Is(ev.Err, session.ErrRequestTimeout):
	case ev.Err == nil || errors.As(ev.Err, &remote):
		if sd == sideClient && r.roomOps[ev.ID] {
			break // the server answers JOIN, LEAVE and PUBLISH itself
		}
		got := sent{typ: proto.TypeResponse, id: ev.ID, payload: ev.Payload}
		if remote != nil {
			got.payload, got.isErr, got.errCode = nil, true, remote.Code
		}
		in := toClient
		if sd == sideServer {
			in = toServer
		}
		o.deliver(r, in, got)
	default:
		o.violate("G2", "%s: request id=%d ended with unexpected error %v", who, ev.ID, ev.Err)
	}
	delete(r.pending[sd], ev.ID)
}

// ended checks side sd's report that session r is over.
func (o *Oracle) ended(r *record, sd side, id proto.ClientID, lost session.Lost) {
	who := o.sideName(r, sd)
	if id != r.id {
		o.violate("G2", "%s reported session %s over, its session is %s", who, id, r.id)
	}
	if r.ended[sd] {
		o.violate("G2", "%s reported session %s over twice", who, r.id)
	}
	r.alive[sd], r.ended[sd] = false, true
	// Requests: each pending one failed with ErrSessionLost just before,
	// and the report lists exactly those.
	if len(r.pending[sd]) > 0 {
		o.violate("G2", "%s: session over with requests %v still without an outcome", who, sortedKeys(r.pending[sd]))
	}
	want := slices.Clone(r.lostReq[sd])
	slices.Sort(want)
	if !slices.Equal(want, lost.Requests) {
		o.violate("G2", "%s: report lists lost requests %v, the requests that failed with session lost are %v", who, lost.Requests, want)
	}
	r.lostReq[sd] = nil
	clear(r.pending[sd])
	o.checkLost(r, sd.outDir(), lost.Unacked)
}

// checkLost checks a loss report against flow d.
func (o *Oracle) checkLost(r *record, d int, unacked []session.LostFrame) {
	f := &r.flows[d]
	name := o.flowName(r, d)
	for i := 1; i < len(unacked); i++ {
		if unacked[i].Seq != unacked[i-1].Seq+1 {
			o.violate("G2", "%s: loss report seqs are not consecutive: %d then %d", name, unacked[i-1].Seq, unacked[i].Seq)
			return
		}
	}
	// The server answers the client's JOIN and LEAVE itself: those
	// responses are in its sequence but not in the flow.
	items := unacked
	if d == toClient {
		items = nil
		for _, u := range unacked {
			if !(u.Type == proto.TypeResponse && r.roomOps[u.ID]) {
				items = append(items, u)
			}
		}
	}
	k := f.len() - len(items)
	if k < f.base {
		o.violate("G2", "%s: loss report lists %d frames, only %d were sent and not acknowledged", name, len(items), f.len()-f.base)
		return
	}
	for i, u := range items {
		want := f.at(k + i)
		got := sent{typ: u.Type, id: u.ID, payload: u.Payload, room: u.Room, name: u.Name}
		if u.Type == proto.TypeResponse && want.isErr {
			got.isErr, got.errCode = true, want.errCode
		}
		if !want.matches(&got) {
			o.violate("G2", "%s: loss report entry seq=%d is %s, frame %d sent was %s", name, u.Seq, got.String(), k+i+1, want)
			return
		}
	}
	// Everything the receiver's application has not seen must be listed.
	seen := f.next
	for seen < k && o.skippable(r, d, f.at(seen)) {
		seen++
	}
	if k > seen {
		o.violate("G2", "%s: frames %d..%d (%s ...) were neither delivered nor reported lost", name, f.next+1, k, f.at(f.next))
	}
}

// --- crashes ---

// clientCrashed: the client application died with its session; nothing can
// be reported to it.
func (o *Oracle) clientCrashed(c *clientNode) {
	r := c.rec
	r.alive[sideClient], r.ended[sideClient] = false, true
	clear(r.pending[sideClient])
	r.lostReq[sideClient] = nil
	c.rec = o.newRecord(c.name)
}

// serverRestarted: every server-side session died with the process.
func (o *Oracle) serverRestarted() {
	for _, r := range o.recs {
		if r.alive[sideServer] {
			r.alive[sideServer], r.ended[sideServer] = false, true
			clear(r.pending[sideServer])
			r.lostReq[sideServer] = nil
		}
	}
}

// --- bounds ---

func (o *Oracle) serverBounds(m *session.Server) {
	st := m.Stats()
	if st.Connections != o.sim.srvOpen {
		o.violate("G4", "server holds %d connections, %d are open", st.Connections, o.sim.srvOpen)
	}
	// The simulator leaves MaxSessions and MaxDetached at their defaults.
	if st.Detached > 10_000 || st.Sessions > 100_000 || st.Detached > st.Sessions {
		o.violate("G4", "server holds %d sessions, %d detached", st.Sessions, st.Detached)
	}
}

// messageSize checks that a transport message fits its receiver's limit,
// unless it is a single frame too large on its own (the receiver closes
// with too-large, which the machines report).
func (o *Oracle) messageSize(c *conn, d int, msg []byte) {
	limit := session.DefaultMaxMessageSize
	if d == toServer {
		if o.sim.opts.MaxMessageSize > 0 {
			limit = max(o.sim.opts.MaxMessageSize, 256)
		}
	} else if c.cli != nil && c.cli.opts.MaxMessageSize > 0 {
		limit = max(c.cli.opts.MaxMessageSize, 256)
	}
	if len(msg) <= limit {
		return
	}
	dec := codec.NewDecoder(codec.Limits{MaxMessageSize: len(msg)})
	if dec.Reset(msg) != nil {
		return
	}
	n := 0
	for {
		if _, err := dec.Next(); err != nil {
			if err != io.EOF {
				n++
			}
			break
		}
		n++
	}
	if n > 1 {
		o.violate("G4", "%s: message of %d bytes (%d frames) exceeds the receiver's limit of %d", dirName(c.peer, d), len(msg), n, limit)
	}
}

// --- liveness ---

// outstanding lists what keeps the run from having converged: clients not
// established, frames not delivered, requests without outcome, server
// sessions no client has.
func (o *Oracle) outstanding() []string {
	s := o.sim
	var out []string
	live := map[proto.ClientID]bool{}
	for _, c := range s.clients {
		if c.ended {
			continue
		}
		if !c.m.Established() {
			out = append(out, c.name+" is not connected")
			continue
		}
		r := c.rec
		live[r.id] = true
		if !r.alive[sideServer] {
			out = append(out, fmt.Sprintf("%s: the server no longer has session %s", c.name, r.id))
			continue
		}
		for d := range r.flows {
			f := &r.flows[d]
			seen := f.next
			for seen < f.len() && o.skippable(r, d, f.at(seen)) {
				seen++
			}
			if seen < f.len() {
				out = append(out, fmt.Sprintf("%s: %d of %d frames not delivered (next: %s)", o.flowName(r, d), f.len()-seen, f.len(), f.at(seen)))
			}
		}
		for sd := range r.pending {
			if len(r.pending[sd]) > 0 {
				out = append(out, fmt.Sprintf("%s: requests %v without outcome", o.sideName(r, side(sd)), sortedKeys(r.pending[sd])))
			}
		}
	}
	for _, id := range s.server.m.Sessions() {
		if !live[id] {
			out = append(out, fmt.Sprintf("server still has session %s (%s) that no client has", id, s.name(id)))
		}
	}
	return out
}

func sortedKeys(m map[uint64]bool) []uint64 {
	ks := make([]uint64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Summary renders the violations, one per line.
func (o *Oracle) Summary() string {
	var b strings.Builder
	for _, v := range o.violations {
		b.WriteString(v.String())
		b.WriteByte('\n')
	}
	return b.String()
}
