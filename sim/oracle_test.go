package sim

import (
	"testing"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// oracleFixture is an oracle with one session (c1) alive on both sides.
func oracleFixture(opts Options) (*Oracle, *record) {
	s := New(opts)
	o := &s.oracle
	r := o.newRecord("c1")
	r.id = proto.ClientID{1}
	r.alive = [2]bool{true, true}
	o.recs[r.id] = r
	return o, r
}

func data(p string) sent { return sent{typ: proto.TypeData, payload: []byte(p)} }

// wantViolations checks the exact violation texts found so far.
func wantViolations(t *testing.T, o *Oracle, want ...string) {
	t.Helper()
	got := o.Violations()
	if len(got) != len(want) {
		t.Fatalf("%d violations, want %d:\n%s", len(got), len(want), o.Summary())
	}
	for i, v := range got {
		if s := v.Rule + ": " + v.Text; s != want[i] {
			t.Errorf("violation %d:\n got %s\nwant %s", i, s, want[i])
		}
	}
}

func TestOracleDeliveries(t *testing.T) {
	o, r := oracleFixture(Options{})
	o.command(r, sideClient, session.Send{Payload: []byte("a")})
	o.command(r, sideClient, session.Send{Payload: []byte("b")})
	o.deliver(r, toServer, data("a"))
	o.deliver(r, toServer, data("b"))
	wantViolations(t, o)
	o.deliver(r, toServer, data("b")) // a duplicate
	wantViolations(t, o, `G1: c1->s delivered DATA "b" after all 2 frames sent (a duplicate or a misrouted frame)`)

	o, r = oracleFixture(Options{})
	o.command(r, sideServer, session.Send{Payload: []byte("a")})
	o.command(r, sideServer, session.Send{Payload: []byte("b")})
	o.deliver(r, toClient, data("b")) // overtakes a
	wantViolations(t, o, `G1: s->c1 delivered DATA "b", expected frame 1: DATA "a"`)
}

func TestOracleSkipsWhatApplicationsNeverSee(t *testing.T) {
	o, r := oracleFixture(Options{})
	// The server handles JOIN itself; the client's Response to it is not
	// in the server's flow.
	o.command(r, sideClient, session.JoinRoom{ID: 1, Room: "r"})
	o.command(r, sideClient, session.Send{Payload: []byte("x")})
	o.deliver(r, toServer, data("x"))
	o.outcome(r, sideClient, &session.Response{Client: r.id, ID: 1})
	// A response to a request that timed out is dropped by the requester.
	o.command(r, sideClient, session.Call{ID: 2, Payload: []byte("q")})
	o.outcome(r, sideClient, &session.Response{Client: r.id, ID: 2, Err: session.ErrRequestTimeout})
	o.command(r, sideServer, session.Reply{ID: 2, Payload: []byte("late")})
	o.command(r, sideServer, session.Send{Payload: []byte("after")})
	o.deliver(r, toClient, data("after"))
	wantViolations(t, o)
}

func TestOracleLossReports(t *testing.T) {
	lost := func(seqs ...uint64) []session.LostFrame {
		var out []session.LostFrame
		for _, s := range seqs {
			out = append(out, session.LostFrame{Seq: s, Type: proto.TypeData, Payload: []byte{'a' + byte(s) - 1}})
		}
		return out
	}
	setup := func() (*Oracle, *record) {
		o, r := oracleFixture(Options{})
		for _, p := range []string{"a", "b", "c"} {
			o.command(r, sideClient, session.Send{Payload: []byte(p)})
		}
		o.deliver(r, toServer, data("a"))
		return o, r
	}

	o, r := setup() // exact: b and c were never acknowledged
	o.ended(r, sideClient, r.id, session.Lost{Unacked: lost(2, 3)})
	wantViolations(t, o)

	o, r = setup() // a was delivered but not acknowledged: listing it is right
	o.ended(r, sideClient, r.id, session.Lost{Unacked: lost(1, 2, 3)})
	wantViolations(t, o)

	o, r = setup() // b vanished
	o.ended(r, sideClient, r.id, session.Lost{Unacked: lost(3)})
	wantViolations(t, o, `G2: c1->s: frames 2..2 (DATA "b" ...) were neither delivered nor reported lost`)

	o, r = setup()
	o.ended(r, sideClient, r.id, session.Lost{Unacked: lost(2, 4)})
	wantViolations(t, o, `G2: c1->s: loss report seqs are not consecutive: 2 then 4`)

	o, r = setup()
	l := lost(2, 3)
	l[1].Payload = []byte("z")
	o.ended(r, sideClient, r.id, session.Lost{Unacked: l})
	wantViolations(t, o, `G2: c1->s: loss report entry seq=3 is DATA "z", frame 3 sent was DATA "c"`)

	o, r = setup()
	o.ended(r, sideClient, r.id, session.Lost{Unacked: lost(1, 2, 3, 4)})
	wantViolations(t, o, `G2: c1->s: loss report lists 4 frames, only 3 were sent and not acknowledged`)
}

func TestOracleRequestOutcomes(t *testing.T) {
	o, r := oracleFixture(Options{})
	o.command(r, sideServer, session.Call{ID: 5, Payload: []byte("q")})
	o.command(r, sideClient, session.Reply{ID: 5, Payload: []byte("a")})
	o.deliver(r, toClient, sent{typ: proto.TypeRequest, id: 5, payload: []byte("q")})
	o.outcome(r, sideServer, &session.Response{Client: r.id, ID: 5, Payload: []byte("a")})
	wantViolations(t, o)
	o.outcome(r, sideServer, &session.Response{Client: r.id, ID: 5, Err: session.ErrRequestTimeout})
	wantViolations(t, o, `G2: s[c1]: outcome for request id=5 that is not pending (response id=5 error: session: request timed out)`)

	o, r = oracleFixture(Options{})
	o.command(r, sideClient, session.Call{ID: 1, Payload: []byte("x")})
	o.command(r, sideClient, session.Call{ID: 2, Payload: []byte("y")})
	o.outcome(r, sideClient, &session.Response{Client: r.id, ID: 1, Err: session.ErrSessionLost})
	o.ended(r, sideClient, r.id, session.Lost{
		Unacked:  []session.LostFrame{{Seq: 1, Type: proto.TypeRequest, ID: 1, Payload: []byte("x")}, {Seq: 2, Type: proto.TypeRequest, ID: 2, Payload: []byte("y")}},
		Requests: []uint64{1, 2},
	})
	wantViolations(t, o,
		`G2: c1: session over with requests [2] still without an outcome`,
		`G2: c1: report lists lost requests [1 2], the requests that failed with session lost are [1]`)
}

func TestOracleBounds(t *testing.T) {
	o, r := oracleFixture(Options{Window: 2, MaxRequests: 1})
	for _, p := range []string{"a", "b", "c"} {
		o.command(r, sideServer, session.Send{Payload: []byte(p)})
	}
	wantViolations(t, o)
	o.command(r, sideServer, session.Send{Payload: []byte("d")})
	wantViolations(t, o, `G4: s->c1: 4 frames queued beyond what c1->s delivered, window 2`)

	o, r = oracleFixture(Options{MaxRequests: 1})
	o.command(r, sideClient, session.Call{ID: 1})
	o.command(r, sideClient, session.Call{ID: 2})
	wantViolations(t, o, `G4: c1: 2 requests pending, limit 1`)
}

func TestOracleWrongSession(t *testing.T) {
	s := New(Options{Trace: true})
	c := s.addClient("c1", ClientOptions{})
	s.connect(c)
	s.Settle()
	other := proto.ClientID{9}
	s.oracle.clientEvent(c, &session.Delivered{Client: other, Seq: 1, Payload: []byte("x")})
	wantViolations(t, &s.oracle, "G3: c1 got a delivery for session 09000000-0000-0000-0000-000000000000, its session is "+c.m.ID().String())
}
