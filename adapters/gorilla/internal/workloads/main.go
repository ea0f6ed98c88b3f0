// Command workloads measures better-socket over gorilla/websocket against
// raw gorilla/websocket on the four workloads of the performance targets,
// side by side in one run:
//
//	W1  one client, request → response round trip, p50
//	W2  server → one client, Send in a loop (1 M messages by default)
//	W3  one broadcast burst of 2,000 messages to a room of 100 clients
//	W4  server memory (RSS) per idle connected client (2,000 clients)
//
// Each workload runs three ways where they apply: raw gorilla writing one
// message per WriteMessage ("raw"), raw gorilla coalescing the messages
// queued for a connection into one WebSocket message of back-to-back 64-byte
// records, with no reliability at all ("coalesced", the ceiling of what the
// socket can carry), and better-socket at default options. The server and
// the client are separate processes, pinned to one core each with taskset
// when the machine has two cores or more; payloads are 64 bytes. Rounds are
// interleaved (each round runs every variant once) and the table shows each
// variant's median, better-socket's ratio to raw, and whether the target
// holds.
//
// W1 interleaves its variants within each round too, as the machine's
// speed drifts within seconds and a round trip is short: a round starts
// both variants' servers and clients at once, warms every client up
// (500 untimed round trips), then has the clients take turns timing blocks
// of -block round trips (1,000) until each has timed -trips (20,000); only
// one pair works at a time. A variant's p50 is over all its timed round
// trips; each round prints better-socket's ratio to raw on stderr, with the
// spread of the blocks' ratios, and W1's ratio in the table is the median
// of the rounds' ratios:
//
//	go run ./adapters/gorilla/internal/workloads              # all four, 3 rounds
//	go run ./adapters/gorilla/internal/workloads -w W2,W3 -rounds 5
//
// -variants picks the variants to run (-variants bettersocket: no
// baselines, so no ratios), and -profile DIR has every server and client
// process write its CPU and allocation profiles (and with -trace its
// execution trace) into DIR, for go tool pprof and go tool trace.
// -timeline prints, for every W3 round, when (µs of the wall clock after
// the members' "go") the server had the first and the last "go", began
// broadcasts 1, 2, 5, 10, 20, 50 ..., and the members had delivered 1, 2,
// 5, 10 ... messages in all: where a burst's time goes, in both processes.
// It costs a branch per delivery and a reading of the clock per mark, and
// changes nothing that is timed.
// -usage prints, for every W2 and W3 round, what the receiving process
// (the members, for W3) spent over the stream: CPU time, minor page
// faults, GC cycles and bytes allocated. A round that is slow with the
// same faults and cycles as the others did the same work more slowly: the
// machine, not the code.
// -phases prints, for every W1 round and variant, each process's own work
// per round trip (from a read of its socket that returned data to its next
// write, p50) and what is left of the round trip's p50: the kernel's, the
// wake-ups' and the writes' (see phases.go).
//
// The figures are this machine's, at the time of the run: quote them with
// the command and the machine.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
	"github.com/bettersocket/bettersocket/session"
)

// params are the sizes of the workloads; the parent passes them to both
// processes.
type params struct {
	W1Trips   int `json:"w1_trips"`
	W2Msgs    int `json:"w2_msgs"`
	W3Msgs    int `json:"w3_msgs"`
	W3Members int `json:"w3_members"`
	W4Clients int `json:"w4_clients"`
}

const (
	payloadSize = 64
	room        = "bench"
	// coalesceLimit bounds one coalesced WebSocket message, as
	// better-socket's own batches are bounded by the peer's size limit.
	coalesceLimit = 64 << 10
)

var variants = []string{"raw", "coalesced", "bettersocket"}

func main() {
	role := flag.String("role", "", "internal: server or client")
	variant := flag.String("variant", "", "internal: raw, coalesced or bettersocket")
	workload := flag.String("workload", "", "internal: W1..W4")
	addr := flag.String("addr", "", "internal: the server's address")
	paramJSON := flag.String("params", "", "internal: the workload sizes")
	which := flag.String("w", "W1,W2,W3,W4", "workloads to run")
	rounds := flag.Int("rounds", 3, "interleaved rounds; the table shows medians")
	only := flag.String("variants", strings.Join(variants, ","), "variants to run")
	flag.StringVar(&profDir, "profile", "", "write each server and client process's CPU and allocation profiles into this directory, as W-variant-role-pid.pprof and .allocs")
	flag.BoolVar(&traceToo, "trace", false, "with -profile: write each process's execution trace there too (.trace)")
	flag.BoolVar(&marking, "timeline", false, "W3: print each round's timeline (µs after the members' go) of the server's gos and broadcasts and the members' deliveries")
	flag.BoolVar(&phasesOn, "phases", false, "W1: print, for each round and variant, each process's own work per round trip (from a read of its socket that returned data to its next write, p50) and what is left of the round trip: the kernel's and the wake-ups'")
	flag.BoolVar(&usageOn, "usage", false, "W2, W3: print what the receiving process spent over each round's stream: CPU time, page faults, GC cycles, bytes allocated")
	var p params
	flag.IntVar(&p.W1Trips, "trips", 20000, "W1: timed round trips per variant and round")
	block := flag.Int("block", 1000, "W1: round trips per block; the variants' blocks alternate")
	flag.IntVar(&p.W2Msgs, "msgs", 1_000_000, "W2: messages")
	flag.IntVar(&p.W3Msgs, "burst", 2000, "W3: broadcast messages")
	flag.IntVar(&p.W3Members, "members", 100, "W3: room members")
	flag.IntVar(&p.W4Clients, "idle", 2000, "W4: idle clients")
	flag.Parse()
	if *paramJSON != "" {
		if err := json.Unmarshal([]byte(*paramJSON), &p); err != nil {
			fail(err)
		}
	}
	if *role != "" && profDir != "" {
		startProfile(filepath.Join(profDir, fmt.Sprintf("%s-%s-%s-%d.pprof", *workload, *variant, *role, os.Getpid())))
	}
	switch *role {
	case "server":
		serve(*variant, *workload, p)
	case "client":
		client(*variant, *workload, *addr, p)
	case "":
		if *block < 1 || p.W1Trips < 1 {
			fail(errors.New("-block and -trips must be at least 1"))
		}
		parent(strings.Split(*which, ","), strings.Split(*only, ","), *rounds, *block, p)
	default:
		fail(fmt.Errorf("unknown role %q", *role))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "workloads:", err)
	os.Exit(1)
}

// profDir is where the children write their CPU and allocation profiles
// (empty: none), and their execution traces when traceToo is set;
// profPath is this child's CPU profile.
var (
	profDir  string
	traceToo bool
	profPath string
)

// startProfile starts the CPU profile (and trace) of this child process,
// written to path (path.trace); exit stops them.
func startProfile(path string) {
	profPath = path
	f, err := os.Create(path)
	if err != nil {
		fail(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fail(err)
	}
	if traceToo {
		t, err := os.Create(strings.TrimSuffix(path, ".pprof") + ".trace")
		if err != nil {
			fail(err)
		}
		if err := trace.Start(t); err != nil {
			fail(err)
		}
	}
}

// exit ends a child process, with its profiles written out.
func exit() {
	if profPath != "" {
		pprof.StopCPUProfile()
		trace.Stop()
		if f, err := os.Create(strings.TrimSuffix(profPath, ".pprof") + ".allocs"); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	os.Exit(0)
}

// ---- the parent: runs the rounds and prints the table ----

// result is what one variant of one workload measured.
type result struct {
	Value   float64 `json:"value"`   // W1: p50 ns; W2, W3: messages/s; W4: bytes per client
	Count   int64   `json:"count"`   // messages delivered (W2, W3), round trips (W1)
	Want    int64   `json:"want"`    // messages that should have been delivered
	Skipped int64   `json:"skipped"` // W3: deliveries a better-socket Broadcast skipped
	Note    string  `json:"note,omitempty"`
	// Marks is the client's timeline, with -timeline.
	Marks []mark `json:"marks,omitempty"`
	// Usage is what the client process spent over the stream, with -usage.
	Usage *usage `json:"usage,omitempty"`
	// Trips is every round trip a W1 client process made, its warm-up's
	// included: what its and its server's CPU time is divided by.
	Trips int64 `json:"trips,omitempty"`
	// Phase is the W1 client's own work per round trip, with -phases: the
	// p50 gap in ns from a read that returned data to the next write;
	// ServerPhase is its server's, set by the parent.
	Phase       float64 `json:"phase,omitempty"`
	ServerPhase float64 `json:"-"`
	// The CPU time (user and system) of the server and client processes
	// over their whole lives, set by the parent: under load, it moves less
	// than the rate does.
	ServerCPU, ClientCPU time.Duration `json:"-"`
}

func parent(which, run []string, rounds, block int, p params) {
	pin := runtime.NumCPU() >= 2
	if _, err := exec.LookPath("taskset"); err != nil {
		pin = false
	}
	fmt.Printf("workloads: %s, %d CPUs, %s, pinned: %t, %d rounds (medians)\n", runtime.Version(), runtime.NumCPU(), cpuModel(), pin, rounds)
	type key struct{ w, v string }
	got := map[key][]result{}
	var w1Ratios []float64 // each round's better-socket p50 over raw's
	for r := 1; r <= rounds; r++ {
		for _, w := range which {
			if w == "W1" {
				res, blocks, err := runW1(run, r, block, p, pin)
				if err != nil {
					fail(fmt.Errorf("W1 round %d: %w", r, err))
				}
				for _, v := range run {
					if rv, ok := res[v]; ok {
						fmt.Fprintf(os.Stderr, "round %d %s %-12s %s%s\n", r, w, v, show(w, rv), cpu(w, rv))
						if phasesOn {
							fmt.Fprintf(os.Stderr, "round %d %s %-12s own work per round trip, a read's return to the next write (p50): server %.2f µs, client %.2f µs; the rest of the p50 (the kernel's and the wake-ups'): %.1f µs\n",
								r, w, v, rv.ServerPhase/1e3, rv.Phase/1e3, (rv.Value-rv.ServerPhase-rv.Phase)/1e3)
						}
						got[key{w, v}] = append(got[key{w, v}], rv)
					}
				}
				if raw, bs := res["raw"], res["bettersocket"]; raw.Value > 0 && bs.Value > 0 {
					w1Ratios = append(w1Ratios, bs.Value/raw.Value)
					slices.Sort(blocks)
					n := len(blocks)
					fmt.Fprintf(os.Stderr, "round %d W1 better-socket / raw p50 %.3fx (%d block pairs' ratios: median %.3fx, quartiles %.3fx %.3fx, range %.3fx %.3fx)\n",
						r, bs.Value/raw.Value, n, blocks[n/2], blocks[n/4], blocks[n*3/4], blocks[0], blocks[n-1])
				}
				continue
			}
			for _, v := range run {
				if w == "W4" && v == "coalesced" {
					continue // no messages: nothing to coalesce
				}
				res, err := runOne(w, v, p, pin)
				if err != nil {
					fail(fmt.Errorf("%s %s round %d: %w", w, v, r, err))
				}
				fmt.Fprintf(os.Stderr, "round %d %s %-12s %s%s\n", r, w, v, show(w, res), cpu(w, res))
				if len(res.Marks) > 0 {
					fmt.Fprintf(os.Stderr, "round %d %s %-12s timeline %s\n", r, w, v, showMarks(res.Marks))
				}
				if u := res.Usage; u != nil {
					fmt.Fprintf(os.Stderr, "round %d %s %-12s receiver: CPU %.1f ms in %.1f ms, %d page faults, %d GC cycles, %.1f MB allocated\n",
						r, w, v, ms(u.CPU), ms(u.Wall), u.Faults, u.GCs, float64(u.Alloc)/1e6)
				}
				got[key{w, v}] = append(got[key{w, v}], res)
			}
		}
	}
	fmt.Printf("\n%-4s %-44s %16s %16s %16s %8s  %s\n", "", "workload", "raw", "coalesced", "better-socket", "vs raw", "target")
	for _, w := range which {
		med := map[string]result{}
		for _, v := range variants {
			if rs := got[key{w, v}]; len(rs) > 0 {
				med[v] = median(rs)
			}
		}
		bs, raw := med["bettersocket"], med["raw"]
		ratio := bs.Value / raw.Value
		if w == "W1" && len(w1Ratios) > 0 {
			// Both variants ran in the same rounds, in alternating
			// blocks: each round's ratio is a paired measurement.
			ratio = medianOf(w1Ratios)
		}
		verdict := target(w, bs, ratio)
		cells := make([]string, len(variants))
		for i, v := range variants {
			cells[i] = "—"
			if r, ok := med[v]; ok {
				cells[i] = show(w, r)
			}
		}
		vs := fmt.Sprintf("%7.2fx", ratio)
		if raw.Value == 0 || bs.Value == 0 { // a variant not run
			vs = "      —"
			if w == "W1" || bs.Value == 0 {
				verdict = "—"
			}
		}
		fmt.Printf("%-4s %-44s %16s %16s %16s %s  %s\n", w, title(w, p), cells[0], cells[1], cells[2], vs, verdict)
	}
}

func title(w string, p params) string {
	switch w {
	case "W1":
		return "request → response round trip, p50"
	case "W2":
		return fmt.Sprintf("server → client Send loop, %d msgs", p.W2Msgs)
	case "W3":
		return fmt.Sprintf("broadcast burst %d msgs × %d members", p.W3Msgs, p.W3Members)
	}
	return fmt.Sprintf("server RSS per idle client (%d clients)", p.W4Clients)
}

// cpu shows the CPU time per message (W2, W3) or per round trip (W1) of
// each process. The CPU time is the process's over its whole life, so W1
// divides it by every round trip the client made, timed and warm-up alike.
func cpu(w string, r result) string {
	n := r.Count
	if w == "W1" {
		n = r.Trips
	}
	if n == 0 {
		return ""
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	what := "message"
	if w == "W1" {
		what = "round trip"
	}
	return fmt.Sprintf("  (CPU per %s: server %.0f ns, client %.0f ns)", what, per(r.ServerCPU), per(r.ClientCPU))
}

func show(w string, r result) string {
	switch w {
	case "W1":
		return fmt.Sprintf("%.1f µs", r.Value/1e3)
	case "W4":
		return fmt.Sprintf("%.1f KiB", r.Value/1024)
	}
	s := fmt.Sprintf("%.2f M/s", r.Value/1e6)
	if r.Count != r.Want {
		s += fmt.Sprintf(" (%d lost)", r.Want-r.Count)
	}
	return s
}

// target says whether better-socket's median meets the workload's target.
func target(w string, bs result, ratio float64) string {
	verdict := func(ok bool, what string) string {
		if ok {
			return "met: " + what
		}
		return "NOT MET: " + what
	}
	switch w {
	case "W1":
		return verdict(ratio <= 1.10, "≤ 1.10x raw")
	case "W2":
		return verdict(bs.Value >= 2e6 && bs.Count == bs.Want, "≥ 2 M/s, 0 lost")
	case "W3":
		return verdict(bs.Value >= 2e6 && bs.Count == bs.Want && bs.Skipped == 0, fmt.Sprintf("≥ 2 M/s, nobody skipped (skipped %d)", bs.Skipped))
	}
	return verdict(bs.Value <= 10<<10, "≤ 10 KiB")
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int {
		switch {
		case a.Value < b.Value:
			return -1
		case a.Value > b.Value:
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// proc is a child process speaking lines on stdin and stdout.
type proc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func start(core int, pin bool, args ...string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	name, argv := self, args
	if pin {
		name, argv = "taskset", append([]string{"-c", strconv.Itoa(core), self}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return &proc{cmd: cmd, in: in, out: sc}, nil
}

func (p *proc) line() (string, error) {
	if !p.out.Scan() {
		if err := p.out.Err(); err != nil {
			return "", err
		}
		return "", io.ErrUnexpectedEOF
	}
	return p.out.Text(), nil
}

// startRole starts a child on core and returns it with its first line.
func startRole(core int, pin bool, args []string) (*proc, string, error) {
	p, err := start(core, pin, args...)
	if err != nil {
		return nil, "", err
	}
	first, err := p.line()
	if err != nil {
		p.stop()
		return nil, "", fmt.Errorf("%s: %w", args[1], err)
	}
	return p, first, nil
}

// ask writes a question line and returns the answer line.
func (p *proc) ask(q string) (string, error) {
	if _, err := fmt.Fprintln(p.in, q); err != nil {
		return "", err
	}
	return p.line()
}

// stop ends the process, once, and returns the CPU time it used.
func (p *proc) stop() time.Duration {
	if p.cmd.ProcessState == nil {
		p.in.Close()
		p.cmd.Wait()
	}
	if s := p.cmd.ProcessState; s != nil {
		return s.UserTime() + s.SystemTime()
	}
	return 0
}

// runOne runs one variant of one workload: a server process on core 0, a
// client process on core 1. The server prints its address; the client
// prints a result line when done (W4: when connected, after which the
// parent asks the server for its RSS).
func runOne(w, v string, p params, pin bool) (result, error) {
	pj, _ := json.Marshal(p)
	common := []string{"-variant", v, "-workload", w, "-params", string(pj), "-profile", profDir, "-trace=" + strconv.FormatBool(traceToo), "-timeline=" + strconv.FormatBool(marking), "-usage=" + strconv.FormatBool(usageOn)}
	srv, addrLine, err := startRole(0, pin, append([]string{"-role", "server"}, common...))
	if err != nil {
		return result{}, err
	}
	defer srv.stop()
	var before string
	if w == "W4" {
		if before, err = srv.ask("rss"); err != nil {
			return result{}, err
		}
	}
	cl, out, err := startRole(1, pin, append([]string{"-role", "client", "-addr", addrLine}, common...))
	if err != nil {
		return result{}, err
	}
	defer cl.stop()
	var res result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return result{}, fmt.Errorf("client said %q: %w", out, err)
	}
	switch w {
	case "W3":
		// The server knows what its Broadcasts skipped.
		s, err := srv.ask("skipped")
		if err != nil {
			return result{}, err
		}
		res.Skipped, _ = strconv.ParseInt(s, 10, 64)
		if marking {
			s, err := srv.ask("marks")
			if err != nil {
				return result{}, err
			}
			var ms []mark
			if err := json.Unmarshal([]byte(s), &ms); err != nil {
				return result{}, fmt.Errorf("server said %q: %w", s, err)
			}
			res.Marks = append(res.Marks, ms...)
		}
	case "W4":
		after, err := srv.ask("rss")
		if err != nil {
			return result{}, err
		}
		b, _ := strconv.ParseFloat(before, 64)
		a, _ := strconv.ParseFloat(after, 64)
		res.Value = (a - b) / float64(p.W4Clients)
	}
	res.ClientCPU, res.ServerCPU = cl.stop(), srv.stop()
	return res, nil
}

// runW1 runs one round of W1 for the variants in run (raw and
// bettersocket; coalesced is ignored, as one message each way leaves
// nothing to coalesce) with all of them alive at once:
// each variant's server process on core 0 and client process on core 1,
// every client connected and warmed up before any timing. It then asks the
// clients in turn to time blocks of at most block round trips, until each
// has timed p.W1Trips, so that a change in the machine's speed over the
// round slows every variant alike: only one pair works at a time, the
// others wait in a read. The order of the blocks is raw, bs, bs, raw, raw,
// bs, ... (starting with bs in even rounds), which evens out a steady drift
// and which variant runs first. Each result's p50 is over all the client's
// timed round trips.
func runW1(run []string, round, block int, p params, pin bool) (res map[string]result, blockRatios []float64, err error) {
	pj, _ := json.Marshal(p)
	var order []string
	for _, v := range []string{"raw", "bettersocket"} {
		if slices.Contains(run, v) {
			order = append(order, v)
		}
	}
	if round%2 == 0 {
		slices.Reverse(order)
	}
	srvs, cls := map[string]*proc{}, map[string]*proc{}
	defer func() {
		for _, c := range cls {
			c.stop()
		}
		for _, s := range srvs {
			s.stop()
		}
	}()
	for _, v := range order {
		common := []string{"-variant", v, "-workload", "W1", "-params", string(pj), "-profile", profDir, "-trace=" + strconv.FormatBool(traceToo), "-phases=" + strconv.FormatBool(phasesOn)}
		srv, addrLine, err := startRole(0, pin, append([]string{"-role", "server"}, common...))
		if err != nil {
			return nil, nil, err
		}
		srvs[v] = srv
		// The client answers "ready" once connected and warmed up.
		cl, ready, err := startRole(1, pin, append([]string{"-role", "client", "-addr", addrLine}, common...))
		if err != nil {
			return nil, nil, err
		}
		cls[v] = cl
		if ready != "ready" {
			return nil, nil, fmt.Errorf("%s client said %q", v, ready)
		}
	}
	var ratios []float64 // each block pair's better-socket p50 over raw's
	for i, left := 0, p.W1Trips; left > 0; i++ {
		n := min(block, left)
		left -= n
		pair := order
		if i%2 == 1 {
			pair = slices.Clone(order)
			slices.Reverse(pair)
		}
		blockP50 := map[string]float64{}
		for _, v := range pair {
			a, err := cls[v].ask(fmt.Sprintf("block %d", n))
			ns, ok := strings.CutPrefix(a, "done ")
			if err == nil && ok {
				blockP50[v], err = strconv.ParseFloat(ns, 64)
			}
			if err != nil || !ok {
				return nil, nil, fmt.Errorf("%s client, block %d: said %q: %v", v, i, a, err)
			}
		}
		if len(blockP50) == 2 {
			ratios = append(ratios, blockP50["bettersocket"]/blockP50["raw"])
		}
	}

	res = map[string]result{}
	for _, v := range order {
		out, err := cls[v].ask("result")
		if err != nil {
			return nil, nil, err
		}
		var r result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			return nil, nil, fmt.Errorf("%s client said %q: %w", v, out, err)
		}
		res[v] = r
	}
	for _, v := range order {
		r := res[v]
		if phasesOn {
			a, err := srvs[v].ask("phase")
			if err == nil {
				r.ServerPhase, err = strconv.ParseFloat(a, 64)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s server, phase: said %q: %v", v, a, err)
			}
		}
		r.ClientCPU = cls[v].stop()
		r.ServerCPU = srvs[v].stop()
		res[v] = r
	}
	return res, ratios, nil
}

// ---- the server process ----

func serve(v, w string, p params) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	var h http.Handler
	var skipped atomic.Int64
	if v == "bettersocket" {
		h = bsServer(w, p, &skipped)
	} else {
		h = rawServer(v, w, p)
	}
	if phasesOn && w == "W1" {
		ln = phaseListener{ln}
	}
	go http.Serve(ln, h)
	fmt.Printf("%s\n", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "rss":
			runtime.GC()
			debug.FreeOSMemory()
			fmt.Println(rss())
		case "skipped":
			fmt.Println(skipped.Load())
		case "phase":
			fmt.Println(phases.p50())
		case "marks":
			b, _ := json.Marshal(marks.taken())
			fmt.Println(string(b))
		}
	}
	exit()
}

// rss is the process's resident set in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// stamp is a 64-byte payload carrying a sequence number.
func stamp(seq uint64) []byte {
	b := make([]byte, payloadSize)
	binary.BigEndian.PutUint64(b, seq)
	return b
}

// rawServer is gorilla/websocket with no protocol: W1 echoes; W2 sends
// p.W2Msgs messages once the client says go; W3 sends the burst to every
// member once all have said go; W4 reads and drops.
func rawServer(v, w string, p params) http.Handler {
	up := websocket.Upgrader{}
	if w == "W4" {
		up.WriteBufferPool = &sync.Pool{}
	}
	var mu sync.Mutex
	var members []*websocket.Conn
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		switch w {
		case "W1":
			for {
				mt, b, err := ws.ReadMessage()
				if err != nil || ws.WriteMessage(mt, b) != nil {
					return
				}
			}
		case "W2":
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
			sendAll(ws, v, p.W2Msgs)
		case "W3":
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
			mu.Lock()
			members = append(members, ws)
			all := len(members) == p.W3Members
			mu.Unlock()
			if all {
				var wg sync.WaitGroup
				for _, m := range members {
					wg.Go(func() { sendAll(m, v, p.W3Msgs) })
				}
				wg.Wait()
			}
		}
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})
}

// sendAll writes n stamped messages to ws, one per WriteMessage or
// coalesced into messages of at most coalesceLimit bytes.
func sendAll(ws *websocket.Conn, v string, n int) {
	if v == "raw" {
		for i := 1; i <= n; i++ {
			if ws.WriteMessage(websocket.BinaryMessage, stamp(uint64(i))) != nil {
				return
			}
		}
		return
	}
	buf := make([]byte, 0, coalesceLimit)
	for i := 1; i <= n; i++ {
		buf = append(buf, stamp(uint64(i))...)
		if len(buf)+payloadSize > coalesceLimit || i == n {
			if ws.WriteMessage(websocket.BinaryMessage, buf) != nil {
				return
			}
			buf = buf[:0]
		}
	}
}

// bsServer is a better-socket server at default options (rooms allowed).
// For W4 only, the per-source admission limits are off: its 2,000 clients
// all come from one loopback address, which those limits would throttle
// as one client opening sessions in a hurry (it made each run take a
// minute); they hold no memory of an admitted client.
func bsServer(w string, p params, skipped *atomic.Int64) http.Handler {
	var srv *gorilla.Server
	var ready atomic.Int64
	ctx := context.Background()
	cfg := session.ServerConfig{AllowRoom: func(session.RoomRequest) bool { return true }}
	if w == "W4" {
		cfg.MaxPendingPerSource, cfg.SourceSessionBurst = -1, -1
	}
	srv = gorilla.NewServer(adapters.ServerOptions{
		Session: cfg,
		OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) {
			return r.Payload, nil
		},
		OnMessage: func(_ context.Context, m adapters.Message) {
			switch w {
			case "W2":
				go func() {
					for i := 1; i <= p.W2Msgs; i++ {
						if err := srv.Send(ctx, m.Client, stamp(uint64(i))); err != nil {
							fmt.Fprintln(os.Stderr, "send:", err)
							return
						}
					}
				}()
			case "W3":
				n := ready.Add(1)
				if marking && (n == 1 || n == int64(p.W3Members)) {
					marks.mark(fmt.Sprintf("server go %d", n))
				}
				if n != int64(p.W3Members) {
					return
				}
				go func() {
					for i := 1; i <= p.W3Msgs; i++ {
						if marking && (i <= 2 || i == p.W3Msgs || milestone(i)) {
							marks.mark(fmt.Sprintf("server broadcast %d", i))
						}
						err := srv.Broadcast(ctx, room, stamp(uint64(i)))
						var be *session.BroadcastError
						if errors.As(err, &be) {
							skipped.Add(int64(len(be.Skipped)))
						} else if err != nil {
							fmt.Fprintln(os.Stderr, "broadcast:", err)
							return
						}
					}
				}()
			}
		},
	})
	return srv
}

// ---- the client process ----

// clock measures from the client's "go" to the last expected delivery;
// W2 and W3 end when every message arrived or when nothing arrived for
// quiet (what a Broadcast skipped never comes).
//
// It reads the time at the last expected delivery and every stampEvery
// deliveries, not at each: a reading per delivery was 8% of the W3
// members' process's CPU, the process that bounds W3, for every variant
// alike. When messages are missing, the rate is that of the last
// reading (deliveries counted then, over its time).
type clock struct {
	start  time.Time
	used   usage // at start, with -usage
	count  atomic.Int64
	want   int64
	done   chan struct{}
	closed atomic.Bool

	mu      sync.Mutex
	stamped int64         // deliveries counted at the latest reading
	at      time.Duration // since start, at that reading
}

// begin starts the clock (and, with -usage, the process's account).
func (c *clock) begin() {
	if usageOn {
		c.used = usageNow()
	}
	c.start = time.Now()
}

// stampEvery is how many deliveries pass between the clock's readings.
const stampEvery = 256

const quiet = 2 * time.Second

// streams returns how many connections W2 or W3 reads, and the clock that
// waits for all of their messages.
func streams(w string, p params) (conns int, c *clock) {
	n, conns := p.W2Msgs, 1
	if w == "W3" {
		n, conns = p.W3Msgs, p.W3Members
	}
	return conns, &clock{want: int64(n * conns), done: make(chan struct{})}
}

func (c *clock) arrived() {
	n := c.count.Add(1)
	if marking && (n == 1 || n == c.want || milestone(int(n))) {
		marks.mark(fmt.Sprintf("members delivered %d", n))
	}
	if n%stampEvery != 0 && n != c.want {
		return
	}
	at := time.Since(c.start)
	c.mu.Lock()
	if n > c.stamped {
		c.stamped, c.at = n, at
	}
	c.mu.Unlock()
	if n == c.want && c.closed.CompareAndSwap(false, true) {
		close(c.done)
	}
}

func (c *clock) wait() result {
	for {
		n := c.count.Load()
		select {
		case <-c.done:
		case <-time.After(quiet):
			if c.count.Load() != n {
				continue
			}
		}
		break
	}
	var used *usage
	if usageOn {
		u := usageNow().since(c.used)
		u.Wall = time.Since(c.start)
		used = &u
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := result{Count: c.count.Load(), Want: c.want, Usage: used}
	if c.stamped > 0 {
		r.Value = float64(c.stamped) / c.at.Seconds()
	}
	return r
}

func client(v, w, addr string, p params) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	url := "ws://" + addr + "/"
	var res result
	var err error
	if v == "bettersocket" {
		res, err = bsClient(ctx, w, url, p)
	} else {
		res, err = rawClient(ctx, v, w, url, p)
	}
	if err != nil {
		fail(err)
	}
	if phasesOn && w == "W1" {
		res.Phase = phases.p50()
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	// Stay connected until the parent has read the server's figures.
	io.Copy(io.Discard, os.Stdin)
	exit()
}

// w1Warmup is how many untimed round trips a W1 client makes once
// connected, before it answers "ready".
const w1Warmup = 500

// w1Blocks drives a W1 client's round trips (trip makes one): it warms up,
// says "ready", then for each "block N" line on its stdin times N round
// trips and says "done", keeping every latency, until "result" ends it
// with the p50 over all of them. Each "done" carries the block's own p50
// in ns. Between blocks it waits for the parent's next line.
func w1Blocks(trip func() error, p params) (result, error) {
	for range w1Warmup {
		if err := trip(); err != nil {
			return result{}, err
		}
	}
	fmt.Println("ready")
	lat := make([]time.Duration, 0, p.W1Trips)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd := in.Text()
		if cmd == "result" {
			if len(lat) == 0 {
				return result{}, errors.New("W1: no round trip timed")
			}
			n := int64(len(lat))
			return result{Value: p50(lat), Count: n, Want: n, Trips: n + w1Warmup}, nil
		}
		arg, ok := strings.CutPrefix(cmd, "block ")
		n, err := strconv.Atoi(arg)
		if !ok || err != nil || n < 1 {
			return result{}, fmt.Errorf("W1: unknown command %q", cmd)
		}
		for range n {
			t := time.Now()
			if err := trip(); err != nil {
				return result{}, err
			}
			lat = append(lat, time.Since(t))
		}
		fmt.Println("done", p50(slices.Clone(lat[len(lat)-n:])))
	}
	return result{}, errors.New("W1: stdin closed before result")
}

func p50(lat []time.Duration) float64 {
	slices.Sort(lat)
	return float64(lat[len(lat)/2])
}

// idle holds W4's clients: they stay connected until the parent, having
// read the server's memory, stops this process.
var idle []any

func rawClient(ctx context.Context, v, w, url string, p params) (result, error) {
	dial := func() (*websocket.Conn, error) {
		ws, _, err := dialer(w).DialContext(ctx, url, nil)
		return ws, err
	}
	switch w {
	case "W1":
		ws, err := dial()
		if err != nil {
			return result{}, err
		}
		msg := stamp(1)
		return w1Blocks(func() error {
			if err := ws.WriteMessage(websocket.BinaryMessage, msg); err != nil {
				return err
			}
			_, _, err := ws.ReadMessage()
			return err
		}, p)
	case "W4":
		for range p.W4Clients {
			ws, err := dial()
			if err != nil {
				return result{}, err
			}
			idle = append(idle, ws)
		}
		return result{}, nil
	}
	conns, c := streams(w, p)
	wss := make([]*websocket.Conn, conns)
	for i := range wss {
		ws, err := dial()
		if err != nil {
			return result{}, err
		}
		wss[i] = ws
	}
	c.begin()
	for _, ws := range wss {
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte("go")); err != nil {
			return result{}, err
		}
		go func() {
			var next uint64 = 1
			for {
				_, b, err := ws.ReadMessage()
				if err != nil {
					return
				}
				for ; len(b) >= payloadSize; b = b[payloadSize:] {
					if binary.BigEndian.Uint64(b) == next {
						next++
						c.arrived()
					}
				}
			}
		}()
	}
	return c.wait(), nil
}

func bsClient(ctx context.Context, w, url string, p params) (result, error) {
	switch w {
	case "W1":
		cl, err := (&gorilla.Dialer{Dialer: dialer(w)}).Dial(ctx, url, adapters.ClientOptions{})
		if err != nil {
			return result{}, err
		}
		msg := stamp(1)
		return w1Blocks(func() error {
			_, err := cl.Request(ctx, msg)
			return err
		}, p)
	case "W4":
		for range p.W4Clients {
			cl, err := gorilla.Dial(ctx, url, adapters.ClientOptions{})
			if err != nil {
				return result{}, err
			}
			idle = append(idle, cl)
		}
		return result{}, nil
	}
	conns, c := streams(w, p)
	cls := make([]*adapters.Client, conns)
	for i := range cls {
		var next atomic.Uint64
		next.Store(1)
		cl, err := gorilla.Dial(ctx, url, adapters.ClientOptions{
			OnMessage: func(_ context.Context, m adapters.Message) {
				// Handlers of one session run one at a time, in order.
				if binary.BigEndian.Uint64(m.Payload) == next.Load() {
					next.Add(1)
					c.arrived()
				}
			},
		})
		if err != nil {
			return result{}, err
		}
		if w == "W3" {
			if err := cl.Join(ctx, room); err != nil {
				return result{}, err
			}
		}
		cls[i] = cl
	}
	c.begin()
	if marking {
		marks.markAt("members go", c.start)
	}
	for _, cl := range cls {
		if err := cl.Send(ctx, []byte("go")); err != nil {
			return result{}, err
		}
	}
	if marking {
		marks.mark("members sent go")
	}
	res := c.wait()
	res.Marks = marks.taken()
	return res, nil
}

// The timeline (-timeline): moments of a W3 burst in both processes, in
// µs of the wall clock, which both share.
var (
	marking bool
	marks   timeline
)

type mark struct {
	What string `json:"what"`
	At   int64  `json:"at"` // Unix µs
}

type timeline struct {
	mu sync.Mutex
	ms []mark
}

func (t *timeline) mark(what string) { t.markAt(what, time.Now()) }

func (t *timeline) markAt(what string, at time.Time) {
	t.mu.Lock()
	t.ms = append(t.ms, mark{what, at.UnixMicro()})
	t.mu.Unlock()
}

func (t *timeline) taken() []mark {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.ms)
}

// milestone says whether the timeline marks the n-th broadcast or
// delivery: 10, 20, 50, 100, 200, 500, 1,000 and so on.
func milestone(n int) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1 || n == 2 || n == 5
}

// showMarks shows a timeline in order, in µs after the members' go.
func showMarks(ms []mark) string {
	var zero int64
	for _, m := range ms {
		if m.What == "members go" {
			zero = m.At
		}
	}
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b mark) int { return int(a.At - b.At) })
	var b strings.Builder
	fmt.Fprintf(&b, "(0 µs: Unix µs %d)", zero)
	for _, m := range ms {
		fmt.Fprintf(&b, "\n    %+8d µs  %s", m.At-zero, m.What)
	}
	return b.String()
}

// usageOn (-usage) has the client process account for what it spent over
// each stream: whether a slow round did more work (page faults of a
// growing heap, garbage collections) or the same work more slowly (the
// machine).
var usageOn bool

// usage is what this process spent: CPU time (user and system), minor
// page faults, completed GC cycles and heap bytes allocated; Wall is the
// time it covers.
type usage struct {
	CPU    time.Duration `json:"cpu"`
	Wall   time.Duration `json:"wall"`
	Faults int64         `json:"faults"`
	GCs    uint64        `json:"gcs"`
	Alloc  uint64        `json:"alloc"`
}

func usageNow() usage {
	cpu, faults := procUsage()
	m := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(m)
	return usage{CPU: cpu, Faults: faults, GCs: m[0].Value.Uint64(), Alloc: m[1].Value.Uint64()}
}

func (u usage) since(v usage) usage {
	return usage{CPU: u.CPU - v.CPU, Faults: u.Faults - v.Faults, GCs: u.GCs - v.GCs, Alloc: u.Alloc - v.Alloc}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
