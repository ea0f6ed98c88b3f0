package session

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// readyPair is an established client and server over connection 1, driven
// either by Ready or by ReadyInto with one reused Ready each.
type readyPair struct {
	t    tester
	c    *Client
	s    *Server
	into bool
	crd  Ready
	srd  ServerReady
	log  []string // every message and event, in order
}

func newReadyPair(t tester, into bool) *readyPair {
	p := &readyPair{t: t, into: into,
		c: NewClient(ClientConfig{Rand: seeded(2)}),
		s: NewServer(ServerConfig{Rand: seeded(1)}),
	}
	must(t, p.c.Step(t0, Connected{Conn: 1}))
	must(t, p.s.Step(t0, Connected{Conn: 1}))
	for range 3 {
		p.exchange()
	}
	if !p.c.Established() {
		t.Fatal("handshake did not complete")
	}
	return p
}

// exchange drains the client, steps its messages into the server, drains
// the server and steps its messages into the client, answering each
// request the server receives.
func (p *readyPair) exchange() {
	crd := p.clientReady()
	for _, m := range crd.Transmit {
		p.log = append(p.log, fmt.Sprintf("c>s %x", m))
		must(p.t, p.s.Step(t0, Recv{Conn: 1, Data: m}))
	}
	p.logEvents("client", crd.Events)
	srd := p.serverReady()
	for _, ev := range srd.Events {
		if r, ok := ev.(*RequestReceived); ok {
			must(p.t, p.s.Step(t0, Reply{To: r.Client, ID: r.ID, Payload: r.Payload}))
		}
	}
	p.logEvents("server", srd.Events)
	srd = p.serverReadyAppend(srd)
	for _, o := range srd.Transmit {
		p.log = append(p.log, fmt.Sprintf("s>c %x", o.Data))
		must(p.t, p.c.Step(t0, Recv{Conn: 1, Data: o.Data}))
	}
	p.logEvents("client", p.clientReady().Events)
}

func (p *readyPair) clientReady() Ready {
	if p.into {
		p.c.ReadyInto(&p.crd)
		return p.crd
	}
	return p.c.Ready()
}

func (p *readyPair) serverReady() ServerReady {
	if p.into {
		p.s.ReadyInto(&p.srd)
		return p.srd
	}
	return p.s.Ready()
}

// serverReadyAppend drains the server again (the replies) and returns what
// both drains transmitted, in order.
func (p *readyPair) serverReadyAppend(first ServerReady) ServerReady {
	out := slices.Clone(first.Transmit)
	next := p.serverReady()
	p.logEvents("server", next.Events)
	return ServerReady{Transmit: append(out, next.Transmit...)}
}

func (p *readyPair) logEvents(side string, evs []Event) {
	for _, s := range eventStrings(evs) {
		p.log = append(p.log, side+" "+s)
	}
}

// ReadyInto produces exactly what Ready does, and reuses the memory of the
// Ready it is given: a request and its response, driven the way the
// adapters drive the machines, allocate only the payloads' copies.
func TestReadyIntoIsReadyWithoutAllocating(t *testing.T) {
	plain, into := newReadyPair(t, false), newReadyPair(t, true)
	for i := range 50 {
		for _, p := range []*readyPair{plain, into} {
			must(t, p.c.Step(t0, Call{ID: uint64(i + 1), Payload: []byte(fmt.Sprint("request ", i))}))
			must(t, p.c.Step(t0, Send{Payload: bytes.Repeat([]byte{byte(i)}, i)}))
			p.exchange()
		}
	}
	if !slices.Equal(plain.log, into.log) {
		for i := range min(len(plain.log), len(into.log)) {
			if plain.log[i] != into.log[i] {
				t.Fatalf("entry %d: Ready gave %q, ReadyInto %q", i, plain.log[i], into.log[i])
			}
		}
		t.Fatalf("Ready gave %d entries, ReadyInto %d", len(plain.log), len(into.log))
	}

	p := into
	p.log = nil
	payload := []byte("ping")
	id := uint64(1000)
	var crd Ready
	var srd ServerReady
	roundTrip := func() {
		id++
		must(t, p.c.Step(t0, Call{ID: id, Payload: payload}))
		p.c.ReadyInto(&crd)
		for _, m := range crd.Transmit {
			must(t, p.s.Step(t0, Recv{Conn: 1, Data: m}))
		}
		p.s.ReadyInto(&srd)
		r := srd.Events[0].(*RequestReceived)
		must(t, p.s.Step(t0, Reply{To: r.Client, ID: r.ID, Payload: r.Payload}))
		p.s.ReadyInto(&srd)
		for _, o := range srd.Transmit {
			must(t, p.c.Step(t0, Recv{Conn: 1, Data: o.Data}))
		}
		p.c.ReadyInto(&crd)
		if len(crd.Events) != 1 {
			t.Fatalf("client events %q, want the response", eventStrings(crd.Events))
		}
	}
	for range 100 { // past the first arena and slab chunks
		roundTrip()
	}
	// Per round trip: the request's and the response's payload copies,
	// plus a share of the writers' arenas and the events' slabs.
	allocs := testing.AllocsPerRun(200, roundTrip)
	t.Logf("%.2f allocations per round trip", allocs)
	if allocs > 2 {
		t.Errorf("%.2f allocations per round trip, want at most 2", allocs)
	}
}

// FramesOnlyFor names the connections that the frames stepped since the
// last Ready are for, and only while frames are all that Ready would hand
// over: a driver leaves Ready to those connections' writers then.
func TestFramesOnlyFor(t *testing.T) {
	allow := func(RoomRequest) bool { return true }
	s, ids := hub(t, ServerConfig{AllowRoom: allow}, 3)
	waiting := func() ([]ConnID, bool) {
		var conns []ConnID
		ok := s.FramesOnlyFor(func(c ConnID) bool { conns = append(conns, c); return true })
		return conns, ok
	}
	if conns, ok := waiting(); ok || len(conns) > 0 {
		t.Fatalf("nothing stepped: FramesOnlyFor = %v, %v", conns, ok)
	}
	must(t, s.Step(t0, Send{To: ids[1], Payload: []byte("m")}))
	if conns, ok := waiting(); !ok || !slices.Equal(conns, []ConnID{2}) {
		t.Fatalf("after a Send to the session on connection 2: %v, %v", conns, ok)
	}
	if s.FramesOnlyFor(func(ConnID) bool { return false }) {
		t.Fatal("FramesOnlyFor holds although its function refused a connection")
	}
	for _, id := range ids {
		must(t, s.Step(t0, Join{Client: id, Room: "r"}))
	}
	must(t, s.Step(t0, Broadcast{Room: "r", Payload: []byte("b")}))
	if conns, ok := waiting(); !ok || !slices.Equal(conns, []ConnID{2, 1, 3}) {
		t.Fatalf("after a Broadcast to all three: %v, %v", conns, ok)
	}
	s.Ready()
	must(t, s.Step(t0, Kick{Client: ids[0], Reason: "bye"}))
	if conns, ok := waiting(); ok {
		t.Fatalf("after a Kick (an event and a hangup are due): %v, %v", conns, ok)
	}
}

// ReadyConnAppend hands over one connection's messages and leaves the
// rest: a server whose driver takes some connections' messages early,
// between its ReadyIntos, into new memory or into a buffer of its own that
// it overwrites once they are taken (written), writes exactly the bytes,
// hangups and events of a twin server stepped alike that only ever calls
// ReadyInto, per connection and in order.
func TestReadyConnAppendKeepsEachConnectionsBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const members = 4
		allow := func(RoomRequest) bool { return true }
		cfg := func() ServerConfig {
			return ServerConfig{AllowRoom: allow, LinkConfig: LinkConfig{MaxInflight: 64, MaxMessageSize: rapid.IntRange(256, 512).Draw(t, "maxMessage")}}
		}
		c := cfg()
		a, ids := hub(t, c, members)
		b, _ := hub(t, c, members)
		for _, id := range ids {
			must(t, a.Step(t0, Join{Client: id, Room: "r"}))
			must(t, b.Step(t0, Join{Client: id, Room: "r"}))
		}
		type record struct {
			bytes   map[ConnID][]byte
			hangups []ConnID
			events  []string
		}
		gotA := record{bytes: map[ConnID][]byte{}}
		gotB := record{bytes: map[ConnID][]byte{}}
		var machines [][]byte // messages in the machine's memory, which stay valid
		keep := func(r *record, rd *ServerReady) {
			for _, o := range rd.Transmit {
				r.bytes[o.Conn] = append(r.bytes[o.Conn], o.Data...)
				if r == &gotA {
					machines = append(machines, o.Data, bytes.Clone(o.Data))
				}
			}
			r.hangups = append(r.hangups, rd.Hangup...)
			for _, ev := range rd.Events {
				r.events = append(r.events, fmt.Sprintf("%T %+v", ev, ev))
			}
		}
		var rdA, rdB ServerReady
		var buf []byte // the writer's own
		a.ReadyInto(&rdA)
		b.ReadyInto(&rdB)
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for i := range steps {
			var in Input
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0, 1:
				in = Broadcast{Room: "r", Payload: fmt.Appendf(nil, "b%d", i)}
			case 2:
				in = Send{To: ids[rapid.IntRange(0, members-1).Draw(t, "to")], Payload: fmt.Appendf(nil, "s%d", i)}
			case 3:
				conn := ConnID(rapid.IntRange(1, members).Draw(t, "conn"))
				own := rapid.Bool().Draw(t, "own")
				if own {
					buf = a.ReadyConnAppend(conn, &rdA, buf[:0])
				} else {
					a.ReadyConnAppend(conn, &rdA, nil) // new memory, which the caller keeps
				}
				if len(rdA.Events) > 0 {
					t.Fatalf("ReadyConnAppend handed over events: %v", rdA.Events)
				}
				for _, o := range rdA.Transmit {
					if o.Conn != conn {
						t.Fatalf("ReadyConnAppend(%d) handed over a message for connection %d", conn, o.Conn)
					}
				}
				if own {
					for _, o := range rdA.Transmit {
						gotA.bytes[o.Conn] = append(gotA.bytes[o.Conn], o.Data...)
					}
					gotA.hangups = append(gotA.hangups, rdA.Hangup...)
					for i := range buf[:cap(buf)] {
						buf[:cap(buf)][i] = 0xee // written: the caller reuses it
					}
				} else {
					keep(&gotA, &rdA)
				}
				continue
			case 4:
				a.ReadyInto(&rdA)
				keep(&gotA, &rdA)
				b.ReadyInto(&rdB)
				keep(&gotB, &rdB)
				continue
			}
			errA, errB := a.Step(t0, in), b.Step(t0, in)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("step %T: %v against %v", in, errA, errB)
			}
		}
		a.ReadyInto(&rdA)
		keep(&gotA, &rdA)
		b.ReadyInto(&rdB)
		keep(&gotB, &rdB)
		// A kicked member's connection: its CLOSE and its hangup come with
		// its own messages.
		kicked := rapid.IntRange(0, members-1).Draw(t, "kick")
		must(t, a.Step(t0, Kick{Client: ids[kicked], Reason: "k"}))
		must(t, b.Step(t0, Kick{Client: ids[kicked], Reason: "k"}))
		a.ReadyConnAppend(ConnID(kicked+1), &rdA, nil)
		if !slices.Equal(rdA.Hangup, []ConnID{ConnID(kicked + 1)}) || len(rdA.Transmit) == 0 || len(rdA.Events) > 0 {
			t.Fatalf("ReadyConnAppend of the kicked member's connection %d: hangups %v, %d messages, events %v (the session's end is the next ReadyInto's)", kicked+1, rdA.Hangup, len(rdA.Transmit), rdA.Events)
		}
		keep(&gotA, &rdA)
		a.ReadyInto(&rdA)
		keep(&gotA, &rdA)
		b.ReadyInto(&rdB)
		keep(&gotB, &rdB)
		for i := 0; i < len(machines); i += 2 {
			if !bytes.Equal(machines[i], machines[i+1]) {
				t.Fatalf("a message in the machine's memory changed: %x, was %x", machines[i], machines[i+1])
			}
		}
		for conn := ConnID(1); conn <= members; conn++ {
			if !bytes.Equal(gotA.bytes[conn], gotB.bytes[conn]) {
				t.Fatalf("connection %d: %x, want %x", conn, gotA.bytes[conn], gotB.bytes[conn])
			}
		}
		slices.Sort(gotA.hangups)
		slices.Sort(gotB.hangups)
		if !slices.Equal(gotA.hangups, gotB.hangups) {
			t.Fatalf("hangups %v, want %v", gotA.hangups, gotB.hangups)
		}
		if !slices.Equal(gotA.events, gotB.events) {
			t.Fatalf("events %v, want %v", gotA.events, gotB.events)
		}
	})
}
