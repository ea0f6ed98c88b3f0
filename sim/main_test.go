package sim

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
)

// Generated runs per property test. go test ./sim/... runs the two rapid
// properties (stream, datagram) and the seeded chaos runs: 2000 + 2000 +
// 1000 = 5,000 runs. Under -race (about ten times slower) they are cut by
// raceDivisor; with -short rapid divides its checks by 5 and the chaos runs
// are cut the same way. BSIM_SOAK=N multiplies them all by N.
const (
	propertyChecks = 2000
	propertySteps  = 200 // average actions per rapid run (rapid's default is 30)
	chaosRuns      = 1000
	chaosSteps     = 300 // actions per chaos run
	raceDivisor    = 4
)

// soak is the BSIM_SOAK multiplier (1 when unset).
var soak = 1

func TestMain(m *testing.M) {
	flag.Parse()
	if v := os.Getenv("BSIM_SOAK"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "BSIM_SOAK=%q: want a positive integer\n", v)
			os.Exit(2)
		}
		soak = n
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["rapid.checks"] && os.Getenv("RAPID_CHECKS") == "" {
		n := propertyChecks * soak
		if raceEnabled {
			n /= raceDivisor
		}
		if err := flag.Set("rapid.checks", strconv.Itoa(n)); err != nil {
			panic(err)
		}
	}
	if !set["rapid.steps"] && os.Getenv("RAPID_STEPS") == "" {
		if err := flag.Set("rapid.steps", strconv.Itoa(propertySteps)); err != nil {
			panic(err)
		}
	}
	if !set["rapid.shrinktime"] && os.Getenv("RAPID_SHRINKTIME") == "" {
		if err := flag.Set("rapid.shrinktime", "10s"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// chaosCount is the number of seeded chaos runs of this test run.
func chaosCount() int {
	n := chaosRuns * soak
	if raceEnabled {
		n /= raceDivisor
	}
	if testing.Short() {
		n /= 5
	}
	return n
}
