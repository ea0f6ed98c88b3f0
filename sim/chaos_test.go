package sim

import (
	"strings"
	"testing"
)

// TestChaosSeeds runs seeded chaos runs (the bsim command's runs): options
// and workload drawn from the seed, oracle after every step, then the
// liveness phase. A failure names the seed: go run ./sim/cmd/bsim -seed N
// replays it exactly.
func TestChaosSeeds(t *testing.T) {
	n := chaosCount()
	var total Counters
	for seed := uint64(1); seed <= uint64(n); seed++ {
		r, err := Chaos(seed, Swarm{}, chaosSteps)
		if err != nil {
			t.Fatal(err)
		}
		total.Add(r.Counters)
		if len(r.Violations) > 0 {
			t.Fatalf("seed %d: %s\nreplay: go run ./sim/cmd/bsim -seed %d -v\nscript:\n%s",
				seed, r.Violations[0], seed, strings.Join(r.Script, "\n"))
		}
	}
	if total.Deliveries == 0 || total.Faults == 0 || total.Resumes == 0 {
		t.Fatalf("%d runs did no work: %+v", n, total)
	}
	t.Logf("%d runs: %+v", n, total)
}

// TestSameSeedSameTrace replays one chaos run twice with tracing on: the
// traces are byte-identical (and so are the counters of two Chaos runs with
// the same seed).
func TestSameSeedSameTrace(t *testing.T) {
	const seed = 7
	a, err := Chaos(seed, Swarm{MaxClients: 3}, 80)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Chaos(seed, Swarm{MaxClients: 3}, 80)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.Script, "\n") != strings.Join(b.Script, "\n") || a.Counters != b.Counters {
		t.Fatalf("two runs of seed %d differ:\n%+v\n%+v", seed, a.Counters, b.Counters)
	}
	trace := func() string {
		in := NewInterp(Options{Trace: true})
		out, err := in.Run(strings.Join(a.Script, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if out != in.Sim().Trace().String(0) {
			t.Fatal("verb outputs do not add up to the trace")
		}
		return out
	}
	x, y := trace(), trace()
	if x != y {
		t.Fatalf("same seed, different traces:\n%s\n----\n%s", x, y)
	}
	if n := strings.Count(x, "\n"); n < 100 {
		t.Fatalf("trace of %d lines: the run did too little to compare", n)
	}
	// A different seed gives a different run.
	c, err := Chaos(seed+1, Swarm{MaxClients: 3}, 80)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Script, "\n") == strings.Join(a.Script, "\n") {
		t.Fatal("seeds 7 and 8 drew the same run")
	}
}

// TestChaosSecure runs seeded chaos runs with encryption on, in every mode
// and both link modes (a quarter of TestChaosSeeds' count, split between
// them), with the same oracle and liveness phase.
func TestChaosSecure(t *testing.T) {
	n := max(6, chaosCount()/4)
	var total Counters
	per := map[string]*Counters{}
	runs := 0
	for seed := uint64(1); runs < n; seed++ {
		for _, mode := range []string{"psk", "server-key", "mutual"} {
			for _, link := range []string{"stream", "datagram"} {
				r, err := Chaos(seed, Swarm{Mode: link, Secure: mode}, chaosSteps)
				if err != nil {
					t.Fatal(err)
				}
				runs++
				total.Add(r.Counters)
				if per[mode+"/"+link] == nil {
					per[mode+"/"+link] = &Counters{}
				}
				per[mode+"/"+link].Add(r.Counters)
				if len(r.Violations) > 0 {
					t.Fatalf("seed %d: %s\nreplay: go run ./sim/cmd/bsim -seed %d -mode %s -secure %s -v\nscript:\n%s",
						seed, r.Violations[0], seed, link, mode, strings.Join(r.Script, "\n"))
				}
			}
		}
	}
	if total.Deliveries == 0 || total.Faults == 0 || total.Resumes == 0 {
		t.Fatalf("%d runs did no work: %+v", runs, total)
	}
	for _, k := range []string{"psk/stream", "psk/datagram", "server-key/stream", "server-key/datagram", "mutual/stream", "mutual/datagram"} {
		c := per[k]
		t.Logf("%-20s %d runs: %d deliveries, %d resumes, %d faults, %d lost messages, %d duplicates dropped, %d violations",
			k, runs/6, c.Deliveries, c.Resumes, c.Faults, c.Lost, c.DuplicatesDropped, c.Violations)
	}
}
