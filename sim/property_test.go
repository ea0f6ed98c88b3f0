package sim

import (
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// rapidChooser draws a workload's choices from rapid, so that a failing run
// shrinks to a short list of actions with small parameters.
type rapidChooser struct{ t *rapid.T }

func (c rapidChooser) Intn(n int, label string) int { return rapid.IntRange(0, n-1).Draw(c.t, label) }

// TestPropertyStream and TestPropertyDatagram are the property tests:
// rapid draws the swarm options (client count, delays, loss and duplication
// rates, window, heartbeat, resume window, policies) and a list of actions
// (the scenario verbs: send, call, reply, join, broadcast, advance, drop,
// dup, hold, release, partition, heal, disconnect, crash, restart, close,
// kick ...); the oracle checks G1-G4 after every step, and the liveness phase
// (converge) must finish everything once the network heals. A failure prints
// the violation and the verb script that reproduces it.
func TestPropertyStream(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { property(t, Swarm{Mode: "stream"}) })
}

func TestPropertyDatagram(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { property(t, Swarm{Mode: "datagram"}) })
}

// property is one generated run.
func property(t *rapid.T, sw Swarm) {
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
	for _, l := range w.Config(rapidChooser{t}, seed, sw) {
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
			if line == "" {
				t.Skip("does not apply now")
			}
			run(line)
		}
		// rapid picks actions uniformly: register each kind as often as
		// its weight asks, at a third of the chaos weights.
		for i := 0; i < max(1, k.Weight/3); i++ {
			actions[fmt.Sprintf("%s#%d", kind, i)] = act
		}
	}
	t.Repeat(actions)
	run("converge")
	if err := in.Err(); err != nil {
		fail("%v", err)
	}
}
