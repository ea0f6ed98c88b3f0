package sim

import (
	"fmt"
	"strings"

	"pgregory.net/rapid"
)

// PropertyOptions configure [Property].
type PropertyOptions struct {
	// Swarm fixes some of the options a run would otherwise draw.
	Swarm Swarm
	// Fuzzing adapts the run to a fuzzer's bit stream (rapid.MakeFuzz): an
	// action that does not apply now is a no-op instead of a skip (a fuzzed
	// stream easily draws the same inapplicable action every time, and rapid
	// fails a run in which every action skips), and every kind of action is
	// equally likely, leaving the weighting to coverage guidance.
	Fuzzing bool
}

// Property is one generated run for pgregory.net/rapid, shared by the
// property tests, the fuzz target and anyone testing their own protocol on
// top of better-socket: rapid draws the swarm options (client count, delays,
// loss and duplication rates, window, heartbeat, resume window, policies)
// and a list of actions (the scenario verbs: send, call, reply, join,
// broadcast, publish, half of the messages and requests named, advance, drop, dup, hold, release, partition, heal, disconnect,
// crash, restart, close, kick ...). The oracle checks G1–G4 after every
// step; then the liveness phase (converge) must finish everything once the
// network heals. A failure reports the violation and the verb script that
// reproduces it with `go run ./sim/cmd/bsim -script FILE`.
func Property(t *rapid.T, opts PropertyOptions) {
	var w Workload
	seed := rapid.Uint64().Draw(t, "seed")
	in := NewInterp(Options{})
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
	for _, l := range w.Config(rapidChooser{t}, seed, opts.Swarm) {
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
		act := func(t *rapid.T) {
			line := w.Line(rapidChooser{t}, kind, in.Sim())
			switch {
			case line != "":
				run(line)
			case !opts.Fuzzing:
				t.Skip("does not apply now")
			}
		}
		// rapid picks actions uniformly: outside fuzzing, register each
		// kind as often as its weight asks, at a third of the chaos weights.
		n := max(1, k.Weight/3)
		if opts.Fuzzing {
			n = 1
		}
		for i := range n {
			actions[fmt.Sprintf("%s#%d", kind, i)] = act
		}
	}
	t.Repeat(actions)
	run("converge")
	if err := in.Err(); err != nil {
		fail("%v", err)
	}
}

// rapidChooser draws a workload's choices from rapid, so that a failing run
// shrinks to a short list of actions with small parameters.
type rapidChooser struct{ t *rapid.T }

func (c rapidChooser) Intn(n int, label string) int { return rapid.IntRange(0, n-1).Draw(c.t, label) }
