package sim

import (
	"fmt"
	"time"
)

// ChaosResult is the outcome of one chaos run.
type ChaosResult struct {
	Seed       uint64
	Script     []string // every verb executed: a replayable scenario
	Counters   Counters
	Violations []Violation
	Elapsed    time.Duration // virtual time the run covered
}

// Chaos runs one randomized run: the options (swarm) and the workload are
// drawn from seed, steps actions run with the oracle checking after each,
// then the liveness phase (converge). The same seed and arguments replay
// the same run exactly.
func Chaos(seed uint64, sw Swarm, steps int) (*ChaosResult, error) {
	ch := NewStreamChooser(seed)
	var w Workload
	in := NewInterp(Options{})
	exec := func(line string) error {
		if _, err := in.Exec(line); err != nil {
			return fmt.Errorf("sim: chaos seed %d: %q: %w", seed, line, err)
		}
		return nil
	}
	for _, l := range w.Config(ch, seed, sw) {
		if err := exec(l); err != nil {
			return nil, err
		}
	}
	for i := 0; i < steps && in.Err() == nil; i++ {
		line := w.Line(ch, w.Pick(ch), in.Sim())
		if line == "" {
			continue
		}
		if err := exec(line); err != nil {
			return nil, err
		}
	}
	if in.Err() == nil {
		if err := exec("converge"); err != nil {
			return nil, err
		}
	}
	s := in.Sim()
	return &ChaosResult{
		Seed:       seed,
		Script:     in.Script(),
		Counters:   s.Counters(),
		Violations: s.oracle.Violations(),
		Elapsed:    s.Elapsed(),
	}, nil
}
