package fuzz

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"

	"github.com/bettersocket/bettersocket/sim"
)

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
	f.Fuzz(rapid.MakeFuzz(func(t *rapid.T) { sim.Property(t, sim.PropertyOptions{Fuzzing: true}) }))
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
