// Command bsim is better-socket's network simulator on the command line:
// the project's main demonstration.
//
// With no flags it plays every spec scenario (the two diagrams of the
// original specification and its five TODO scenarios, drawn in
// docs/scenarios.md), checking each transcript, then
// a randomized chaos run: many seeded runs, each drawing its options and
// workload from its seed, with the oracle checking the guarantees after every
// step and a liveness phase at the end. It prints a summary table and exits
// non-zero on any violation or transcript mismatch.
//
//	go run ./sim/cmd/bsim                        # spec scenarios + 1000 chaos runs
//	go run ./sim/cmd/bsim -seed 42 -v            # replay one chaos run, with its trace
//	go run ./sim/cmd/bsim -runs 10000 -mode datagram -loss 0.2
//	go run ./sim/cmd/bsim -secure mutual         # every run encrypted (psk, server-key, mutual, any)
//	go run ./sim/cmd/bsim -script FILE           # run a verb script or scenario file
//	go run ./sim/cmd/bsim -diagram DIR           # write the spec scenarios as .puml and .mmd
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bettersocket/bettersocket/sim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	seed      uint64
	seedSet   bool
	runs      int
	steps     int
	clients   int
	mode      string
	secure    string
	loss, dup float64
	diagram   string
	script    string
	verbose   bool
	noSpec    bool
}

func run(args []string, stdout, stderr io.Writer) int {
	var c config
	fs := flag.NewFlagSet("bsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&c.seed, "seed", 0, "replay the chaos run with this seed exactly (prints its trace with -v)")
	fs.IntVar(&c.runs, "runs", 1000, "chaos runs (seeds 1..runs)")
	fs.IntVar(&c.steps, "steps", 300, "actions per chaos run")
	fs.IntVar(&c.clients, "clients", 4, "most clients per run (each run draws 1..clients)")
	fs.StringVar(&c.mode, "mode", "", "force the transport mode: stream or datagram (default: drawn per run)")
	fs.StringVar(&c.secure, "secure", "", "encryption: off, psk, server-key, mutual, or any (drawn per run); default off")
	fs.Float64Var(&c.loss, "loss", 0, "datagram loss probability (default: drawn per run)")
	fs.Float64Var(&c.dup, "dup", 0, "datagram duplication probability (default: drawn per run)")
	fs.StringVar(&c.diagram, "diagram", "", "write each spec scenario's trace as DIR/NAME.puml and DIR/NAME.mmd")
	fs.StringVar(&c.script, "script", "", "run a verb script (one verb per line) or a scenario file, printing its trace")
	fs.BoolVar(&c.verbose, "v", false, "print the trace of each spec scenario and of a replayed seed")
	fs.BoolVar(&c.noSpec, "nospec", false, "skip the spec scenarios")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fs.Visit(func(f *flag.Flag) { c.seedSet = c.seedSet || f.Name == "seed" })
	if c.mode != "" && c.mode != "stream" && c.mode != "datagram" {
		fmt.Fprintf(stderr, "bsim: -mode %q: want stream or datagram\n", c.mode)
		return 2
	}
	switch c.secure {
	case "", "off", "psk", "server-key", "mutual", "any":
	default:
		fmt.Fprintf(stderr, "bsim: -secure %q: want off, psk, server-key, mutual or any\n", c.secure)
		return 2
	}
	if c.loss < 0 || c.loss >= 1 || c.dup < 0 || c.dup >= 1 || c.runs < 0 || c.steps < 0 || c.clients < 1 {
		fmt.Fprintln(stderr, "bsim: -loss and -dup are probabilities below 1, -runs and -steps not negative, -clients at least 1")
		return 2
	}
	sw := sim.Swarm{Mode: c.mode, MaxClients: c.clients, Loss: c.loss, Dup: c.dup, Secure: c.secure}

	switch {
	case c.script != "":
		return runScript(c, stdout, stderr)
	case c.seedSet:
		return replaySeed(c, sw, stdout, stderr)
	}
	failed := false
	if !c.noSpec || c.diagram != "" {
		if !playSpec(c, stdout, stderr) {
			failed = true
		}
	}
	if c.runs > 0 && !chaos(c, sw, stdout, stderr) {
		failed = true
	}
	if failed {
		return 1
	}
	return 0
}

// playSpec plays the spec scenarios, checking their transcripts, and writes
// their diagrams when asked.
func playSpec(c config, stdout, stderr io.Writer) bool {
	scs, err := sim.SpecScenarios()
	if err != nil {
		fmt.Fprintf(stderr, "bsim: %v\n", err)
		return false
	}
	ok := true
	fmt.Fprintf(stdout, "The seven scenarios of the original specification, each checked against its transcript\n")
	fmt.Fprintf(stdout, "(-v prints each trace; docs/scenarios.md shows them as sequence diagrams):\n")
	for i, sc := range scs {
		in, bad, err := sc.Run(sim.Options{})
		status := "transcript matches"
		switch {
		case err != nil:
			status, ok = "error: "+err.Error(), false
		case in.Err() != nil:
			status, ok = "VIOLATION: "+in.Err().Error(), false
		case len(bad) > 0:
			status, ok = fmt.Sprintf("TRANSCRIPT DIFFERS at %s", bad[0].Step.Pos), false
		}
		tr := in.Sim().Trace()
		fmt.Fprintf(stdout, "  %d. %s\n     %s: %s (%d trace lines, %s virtual)\n", i+1, sc.Title(), sc.Name, status, len(tr.Entries), in.Sim().Elapsed())
		if c.verbose {
			fmt.Fprintf(stdout, "\n%s\n", indent(tr.String(0)))
		}
		for _, m := range bad {
			fmt.Fprintf(stderr, "%s: got\n%s\nwant\n%s\n", m.Step.Pos, indent(m.Actual), indent(m.Expected))
		}
		if c.diagram != "" && err == nil {
			if err := writeDiagrams(c.diagram, sc.Name, tr); err != nil {
				fmt.Fprintf(stderr, "bsim: %v\n", err)
				ok = false
			}
		}
	}
	if c.diagram != "" {
		fmt.Fprintf(stdout, "  diagrams written to %s\n", c.diagram)
	}
	fmt.Fprintln(stdout)
	return ok
}

func writeDiagrams(dir, name string, tr *sim.Trace) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".puml"), []byte(sim.PlantUML(name, tr)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".mmd"), []byte(sim.Mermaid(name, tr)), 0o644)
}

// chaos runs seeds 1..runs with a progress bar on stderr, then prints the
// summary table.
func chaos(c config, sw sim.Swarm, stdout, stderr io.Writer) bool {
	start := time.Now()
	var total sim.Counters
	var virtual time.Duration
	var failures []string
	bar := newProgress(stderr, c.runs)
	for seed := uint64(1); seed <= uint64(c.runs); seed++ {
		r, err := sim.Chaos(seed, sw, c.steps)
		if err != nil {
			bar.done()
			fmt.Fprintf(stderr, "bsim: %v\n", err)
			return false
		}
		total.Add(r.Counters)
		virtual += r.Elapsed
		if len(r.Violations) > 0 {
			failures = append(failures, fmt.Sprintf("seed %d: %s (replay: go run ./sim/cmd/bsim -seed %d%s -v)", seed, r.Violations[0], seed, replayFlags(c)))
		}
		bar.set(int(seed), len(failures))
	}
	bar.done()
	wall := time.Since(start)
	mode := sw.Mode
	if mode == "" {
		mode = "drawn per run"
	}
	enc := c.secure
	if enc == "" {
		enc = "off"
	}
	fmt.Fprintf(stdout, "chaos: seeds 1..%d, %d actions each, 1..%d clients, mode %s, encryption %s\n", c.runs, c.steps, c.clients, mode, enc)
	rows := []struct {
		name string
		v    any
	}{
		{"runs", c.runs},
		{"messages", total.AppMessages},
		{"requests", total.Requests},
		{"deliveries", total.Deliveries},
		{"named deliveries", total.Named},
		{"room publishes fanned out", total.Publishes},
		{"faults injected", total.Faults},
		{"transport messages lost", total.Lost},
		{"retransmissions", total.Retransmits},
		{"duplicates suppressed", total.DuplicatesDropped},
		{"resumes", total.Resumes},
		{"sessions lost", total.SessionsLost},
		{"invariant violations", len(failures)},
		{"virtual time", virtual.Round(time.Second)},
		{"wall time", wall.Round(time.Millisecond)},
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "  %-26s %12v\n", r.name, r.v)
	}
	for _, f := range failures {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	return len(failures) == 0
}

// replayFlags are the flags besides -seed that a replay needs.
func replayFlags(c config) string {
	var s string
	if c.mode != "" {
		s += " -mode " + c.mode
	}
	if c.secure != "" {
		s += " -secure " + c.secure
	}
	return s
}

// replaySeed replays one chaos run; with -v it prints the trace.
func replaySeed(c config, sw sim.Swarm, stdout, stderr io.Writer) int {
	r, err := sim.Chaos(c.seed, sw, c.steps)
	if err != nil {
		fmt.Fprintf(stderr, "bsim: %v\n", err)
		return 1
	}
	if c.verbose {
		in := sim.NewInterp(sim.Options{Trace: true})
		for _, line := range r.Script {
			out, err := in.Exec(line)
			fmt.Fprintf(stdout, "> %s\n%s", line, indent(out))
			if err != nil {
				fmt.Fprintf(stderr, "bsim: %v\n", err)
				return 1
			}
		}
	} else {
		fmt.Fprintf(stdout, "%s\n", strings.Join(r.Script, "\n"))
	}
	fmt.Fprintf(stdout, "\nseed %d: %d actions, %d messages, %d faults, %s virtual\n",
		c.seed, len(r.Script), r.Counters.AppMessages, r.Counters.Faults, r.Elapsed)
	for _, v := range r.Violations {
		fmt.Fprintf(stdout, "VIOLATION %s\n", v)
	}
	if len(r.Violations) > 0 {
		return 1
	}
	return 0
}

// runScript runs a verb script or a scenario file and prints its trace.
func runScript(c config, stdout, stderr io.Writer) int {
	b, err := os.ReadFile(c.script)
	if err != nil {
		fmt.Fprintf(stderr, "bsim: %v\n", err)
		return 1
	}
	text := string(b)
	var in *sim.Interp
	if strings.Contains(text, "\n----\n") {
		sc, err := sim.ParseScenario(filepath.Base(c.script), text)
		if err != nil {
			fmt.Fprintf(stderr, "bsim: %v\n", err)
			return 1
		}
		var bad []sim.Mismatch
		in, bad, err = sc.Run(sim.Options{})
		if err != nil {
			fmt.Fprintf(stderr, "bsim: %v\n", err)
			return 1
		}
		fmt.Fprint(stdout, in.Sim().Trace().String(0))
		for _, m := range bad {
			fmt.Fprintf(stderr, "%s: transcript differs: got\n%s\nwant\n%s\n", m.Step.Pos, indent(m.Actual), indent(m.Expected))
		}
		if len(bad) > 0 {
			return 1
		}
	} else {
		in = sim.NewInterp(sim.Options{Trace: true})
		for _, line := range strings.Split(text, "\n") {
			out, err := in.Exec(line)
			if err != nil {
				fmt.Fprintf(stderr, "bsim: %v\n", err)
				return 1
			}
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				fmt.Fprintf(stdout, "> %s\n%s", l, indent(out))
			}
		}
	}
	if c.diagram != "" {
		name := strings.TrimSuffix(filepath.Base(c.script), filepath.Ext(c.script))
		if err := writeDiagrams(c.diagram, name, in.Sim().Trace()); err != nil {
			fmt.Fprintf(stderr, "bsim: %v\n", err)
			return 1
		}
	}
	if in.Err() != nil {
		fmt.Fprintf(stdout, "%s", in.Sim().Oracle().Summary())
		return 1
	}
	return 0
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n    ") + "\n"
}
