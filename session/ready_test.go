package session

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
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
