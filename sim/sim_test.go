package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestQueueOrdersByTimeThenInsertion(t *testing.T) {
	var q queue
	r := rand.New(rand.NewPCG(1, 2))
	type key struct {
		at  time.Duration
		tag int
	}
	var want []key
	for i := range 500 {
		at := time.Duration(r.IntN(20)) * time.Millisecond
		q.push(event{at: at, gen: uint64(i)})
		want = append(want, key{at, i})
	}
	// Stable by time: equal times keep insertion order.
	for i := 1; i < len(want); i++ {
		for j := i; j > 0 && want[j].at < want[j-1].at; j-- {
			want[j], want[j-1] = want[j-1], want[j]
		}
	}
	for i, w := range want {
		e := q.pop()
		if e.at != w.at || int(e.gen) != w.tag {
			t.Fatalf("pop %d: at=%v tag=%d, want at=%v tag=%d", i, e.at, e.gen, w.at, w.tag)
		}
	}
	if q.len() != 0 || q.net != 0 {
		t.Fatalf("queue not empty: %d events, %d network", q.len(), q.net)
	}
}

// TestDatagramJitterReorders: twenty messages released at once with a 50 ms
// jitter arrive out of order, and the machine still delivers them in order,
// exactly once.
func TestDatagramJitterReorders(t *testing.T) {
	in := NewInterp(Options{Trace: true})
	out, err := in.Run("config mode=datagram jitter=50ms\nconnect c1\nhold c1->s\n" + strings.Repeat("send c1\n", 20) + "release c1->s\nadvance 2s")
	if err != nil {
		t.Fatal(err)
	}
	var arrived []int
	var delivered []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "c1 -> s: DATA ") {
			var seq int
			fmt.Sscanf(strings.Fields(l)[4], "seq=%d", &seq)
			arrived = append(arrived, seq)
		}
		if strings.HasPrefix(l, "s: delivered ") {
			delivered = append(delivered, strings.Fields(l)[2])
		}
	}
	if slices.IsSorted(arrived) {
		t.Fatalf("jitter did not reorder anything: %v", arrived)
	}
	if len(delivered) != 20 {
		t.Fatalf("%d deliveries, want 20:\n%s", len(delivered), out)
	}
	for i, d := range delivered {
		if want := fmt.Sprintf("seq=%d", i+1); d != want {
			t.Fatalf("delivery %d is %s, want %s", i, d, want)
		}
	}
	if err := in.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestPartitionFailsDials: a partitioned client cannot dial; healing lets
// its next attempt through.
func TestPartitionFailsDials(t *testing.T) {
	in := NewInterp(Options{Trace: true})
	out, err := in.Run("new c1\npartition c1\nconnect c1")
	if err != nil {
		t.Fatal(err)
	}
	want := "note over c1, s: partition c1\nc1 ->x s: (connect)\nc1: dial attempt=1 in 195.142ms\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	out, err = in.Run("heal\nadvance 1s")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "c1: session-started ") {
		t.Fatalf("no session after healing:\n%s", out)
	}
}

func TestVerbErrors(t *testing.T) {
	in := NewInterp(Options{})
	for line, want := range map[string]string{
		"frobnicate":            `sim: bad verb: unknown verb "frobnicate"`,
		"send c9":               `sim: bad verb: no client "c9"`,
		"connect bob":           `sim: bad verb: client names are c1, c2, ...: "bob"`,
		"advance soon":          `sim: bad verb: advance soon`,
		"call c1":               `sim: bad verb: call needs id=`,
		"drop c1-s":             `sim: bad verb: c1-s: want c1->s or s->c1`,
		`send c1 "a" "b"`:       `sim: bad verb: two quoted texts in "send c1 \"a\" \"b\""`,
		"connect c1 colour=red": `sim: bad verb: connect: unknown options [colour]`,
	} {
		_, err := in.Exec(line)
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %s", line, err, want)
		}
	}
	if _, err := in.Exec("connect c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Exec("config mode=datagram"); err == nil || err.Error() != "sim: bad verb: config after the simulation started" {
		t.Errorf("config after start: %v", err)
	}
	if _, err := in.Exec("dup c1->s"); err == nil || err.Error() != "sim: bad verb: a stream never duplicates a message: dup needs mode=datagram" {
		t.Errorf("dup on a stream: %v", err)
	}
}

// TestStabilizeRunsShortTimers: stabilize runs the retransmission timer
// (1 s) that resends a lost DATA, and stops before the heartbeat (30 s).
func TestStabilizeRunsShortTimers(t *testing.T) {
	in := NewInterp(Options{Trace: true})
	if _, err := in.Run("config mode=datagram\nconnect c1\ndrop c1->s\nsend c1 \"x\""); err != nil {
		t.Fatal(err)
	}
	out, err := in.Exec("stabilize bound=5s")
	if err != nil {
		t.Fatal(err)
	}
	want := "c1 -> s: DATA seq=1 ack=0 \"x\"\ns: delivered seq=1 \"x\" from c1\ns --> c1: ACK 1\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if e := in.Sim().Elapsed(); e != 1050*time.Millisecond {
		t.Fatalf("stabilized at +%s, want +1.05s (the RTO 1 s after the send at +30ms, then 2 × 10 ms)", e)
	}
}
