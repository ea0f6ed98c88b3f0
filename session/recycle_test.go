package session

import (
	"bytes"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// recyclePair is an established client and server on connection 1, the
// client's session a member of room "r".
func recyclePair(t tester) (*Client, *Server, *SessionStarted) {
	c := NewClient(ClientConfig{Rand: seeded(2)})
	s := NewServer(ServerConfig{Rand: seeded(1), AllowRoom: func(RoomRequest) bool { return true }})
	must(t, c.Step(t0, Connected{Conn: 1}))
	must(t, s.Step(t0, Connected{Conn: 1}))
	var started *SessionStarted
	for range 3 {
		for _, m := range c.Ready().Transmit {
			must(t, s.Step(t0, Recv{Conn: 1, Data: m}))
		}
		rd := s.Ready()
		for _, ev := range rd.Events {
			if st, ok := ev.(*SessionStarted); ok {
				started = st
			}
		}
		for _, o := range rd.Transmit {
			must(t, c.Step(t0, Recv{Conn: 1, Data: o.Data}))
		}
	}
	if !c.Established() || started == nil {
		t.Fatal("handshake did not complete")
	}
	c.Ready()
	must(t, s.Step(t0, Join{Client: started.Client, Room: "r"}))
	return c, s, started
}

// carry steps the server's messages into the client, and the client's
// acknowledgement back, and returns the client's Delivered events.
func carry(t tester, c *Client, s *Server) []*Delivered {
	for _, o := range s.Ready().Transmit {
		must(t, c.Step(t0, Recv{Conn: 1, Data: o.Data}))
	}
	rd := c.Ready()
	for _, m := range rd.Transmit {
		must(t, s.Step(t0, Recv{Conn: 1, Data: m}))
	}
	var ds []*Delivered
	for _, ev := range rd.Events {
		if d, ok := ev.(*Delivered); ok {
			ds = append(ds, d)
		}
	}
	return ds
}

// A Delivered given back is reused for a later delivery, with nothing of
// the message it carried before: its room and name are the new message's,
// and the payload the application kept is untouched.
func TestRecycledDeliveredCarriesOnlyItsNewMessage(t *testing.T) {
	c, s, st := recyclePair(t)
	must(t, s.Step(t0, Broadcast{Room: "r", Name: "ev", Payload: []byte("first")}))
	first := carry(t, c, s)
	if len(first) != 1 || first[0].Room != "r" || first[0].Name != "ev" {
		t.Fatalf("first delivery: %+v", first)
	}
	kept := first[0].Payload
	c.Recycle(first)
	must(t, s.Step(t0, Send{To: st.Client, Payload: []byte("second")}))
	second := carry(t, c, s)
	if len(second) != 1 {
		t.Fatalf("second delivery: %+v", second)
	}
	if second[0] != first[0] {
		t.Fatal("the Delivered given back was not reused")
	}
	if d := second[0]; d.Room != "" || d.Name != "" || string(d.Payload) != "second" || d.Seq != 2 {
		t.Fatalf("reused Delivered: %+v, want only the second message", d)
	}
	if string(kept) != "first" {
		t.Fatalf("the first payload, kept by the application, became %q", kept)
	}
}

// Whatever the driver gives back, and whenever, every delivery carries
// exactly its own message, every payload the application kept stays as it
// was, and the machine keeps at most keepDelivered events for reuse.
func TestRecycleKeepsEveryMessage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c, s, st := recyclePair(t)
		type sent struct{ payload, room, name string }
		var want []sent
		var got []*Delivered  // as delivered, checked at once
		var kept [][]byte     // the payloads, as the application keeps them
		var held []*Delivered // delivered, not yet given back
		given := map[*Delivered]bool{}
		steps := rapid.IntRange(1, 20).Draw(t, "steps")
		for i := range steps {
			for range rapid.IntRange(0, 60).Draw(t, "messages") {
				m := sent{payload: fmt.Sprintf("m%d-%d", i, len(want))}
				if rapid.Bool().Draw(t, "named") {
					m.name = "n" + m.payload
				}
				if rapid.Bool().Draw(t, "broadcast") {
					m.room = "r"
					must(t, s.Step(t0, Broadcast{Room: "r", Name: m.name, Payload: []byte(m.payload)}))
				} else {
					must(t, s.Step(t0, Send{To: st.Client, Name: m.name, Payload: []byte(m.payload)}))
				}
				want = append(want, m)
			}
			free := len(c.free)
			ds := carry(t, c, s)
			reused := 0
			for _, d := range ds {
				n := len(got)
				if n >= len(want) {
					t.Fatalf("delivery %d of %d sent: %+v", n+1, len(want), d)
				}
				w := want[n]
				if string(d.Payload) != w.payload || d.Room != w.room || d.Name != w.name || d.Seq != uint64(n+1) || d.Skipped != nil {
					t.Fatalf("delivery %d: %+v, want %+v", n+1, d, w)
				}
				if given[d] {
					reused++
					delete(given, d)
				}
				got = append(got, d)
				kept = append(kept, d.Payload)
				held = append(held, d)
			}
			// Every delivery takes a given-back event while there is one.
			if want := min(free, len(ds)); reused != want {
				t.Fatalf("%d deliveries with %d events given back: %d reused them, want %d", len(ds), free, reused, want)
			}
			// The driver gives back some of what it holds, in any order.
			k := rapid.IntRange(0, len(held)).Draw(t, "giveBack")
			back := held[:k]
			if rapid.Bool().Draw(t, "reversed") {
				for i, j := 0, len(back)-1; i < j; i, j = i+1, j-1 {
					back[i], back[j] = back[j], back[i]
				}
			}
			for _, d := range back {
				given[d] = true
			}
			c.Recycle(back)
			held = append([]*Delivered(nil), held[k:]...)
			if len(c.free) > keepDelivered {
				t.Fatalf("the machine keeps %d events for reuse, more than %d", len(c.free), keepDelivered)
			}
		}
		for _, d := range carry(t, c, s) {
			t.Fatalf("delivery after the last step: %+v", d)
		}
		if len(got) != len(want) {
			t.Fatalf("%d delivered, %d sent", len(got), len(want))
		}
		for i, p := range kept {
			if !bytes.Equal(p, []byte(want[i].payload)) {
				t.Fatalf("kept payload %d became %q, want %q", i+1, p, want[i].payload)
			}
		}
	})
}

// The machine keeps at most keepDelivered events for reuse: the rest of
// what is given back is left to the garbage collector.
func TestRecycleKeepsAtMostKeepDelivered(t *testing.T) {
	c, s, st := recyclePair(t)
	var all []*Delivered
	for len(all) < keepDelivered+100 {
		for range 100 {
			must(t, s.Step(t0, Send{To: st.Client, Payload: []byte("x")}))
		}
		all = append(all, carry(t, c, s)...)
	}
	c.Recycle(all)
	if len(c.free) != keepDelivered {
		t.Fatalf("%d given back, %d kept; want %d kept", len(all), len(c.free), keepDelivered)
	}
}
