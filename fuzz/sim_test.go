package fuzz

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/bettersocket/bettersocket/sim"
)

// rapidChooser draws a sim workload's choices from rapid, whose bits come
// from the fuzzer: coverage guidance then steers the swarm options, the
// actions and the fault schedule.
type rapidChooser struct{ t *rapid.T }

func (c rapidChooser) Intn(n int, label string) int { return rapid.IntRange(0, n-1).Draw(c.t, label) }

// simRun is one simulated run, as the sim package's property tests do it
// with its exported API: rapid draws the swarm options (mode, clients,
// delays, loss and duplication, window, heartbeat, resume window,
// policies) and a list of verbs (send, call, reply, join, broadcast,
// advance, drop, dup, hold, release, partition, heal, disconnect, half-open,
// crash, restart, close, reconnect, kick); the oracle checks G1-G4 after
// every step; then the network heals and everything must converge.
func simRun(t *rapid.T) {
	var w sim.Workload
	seed := rapid.Uint64().Draw(t, "seed")
	in := sim.NewInterp(sim.Options{})
	fail := func(format string, args ...any) {
		script := in.Script()
		t.Fatalf("%s\nscript (%d lines), replay with go run ./sim/cmd/bsim -script FILE:\n%s",
			fmt.Sprintf(format, args...), len(script), strings.Join(script, "\n"))
	}
	run := func(line string) {
		if _, err := in.Exec(line); err != nil {
			fail("%q: %v", line, err)
		}
	}
	for _, l := range w.Config(rapidChooser{t}, seed, sim.Swarm{}) {
		run(l)
	}
	actions := map[string]func(*rapid.T){
		"": func(t *rapid.T) {
			if err := in.Err(); err != nil {
				fail("%v", err)
			}
		},
	}
	for _, k := range w.Kinds {
		kind := k.Name
		actions[kind] = func(t *rapid.T) {
			// An action that does not apply now is a no-op, not a skip: a
			// fuzzer's bit stream easily draws the same one every time, and
			// rapid fails a run in which every action skips.
			if line := w.Line(rapidChooser{t}, kind, in.Sim()); line != "" {
				run(line)
			}
		}
	}
	t.Repeat(actions)
	run("converge")
	if err := in.Err(); err != nil {
		fail("%v", err)
	}
}

// FuzzSim is the simulator's property run under coverage guidance
// (rapid.MakeFuzz): the fuzz input is rapid's bit stream, so the fuzzer
// explores swarm options and fault schedules that reach new code in the
// machines.
//
// Invariants: the oracle's G1-G4 (exactly-once in-order delivery, no
// silent loss with exact loss reports and one outcome per request, right
// client only, bounded buffers) after every step, and liveness: once the
// network heals, everything outstanding finishes in bounded virtual time.
// An input too short for a whole run is skipped.
func FuzzSim(f *testing.F) {
	f.Fuzz(rapid.MakeFuzz(simRun))
}

// simSeeds are random bit streams of a few lengths: rapid turns any bytes
// into a valid run (short runs from short streams).
func simSeeds(c *corpus) {
	for i, n := range []int{512, 2048, 4096, 8192, 16384} {
		r := rand.NewChaCha8(seedBytes(uint64(1000 + i)))
		b := make([]byte, n)
		_, _ = r.Read(b)
		c.add("FuzzSim", fmt.Sprintf("stream-%d", n), b)
	}
}
