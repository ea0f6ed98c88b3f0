package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultRunShape runs the command as with no flags, on fewer chaos
// runs: the spec scenarios all match and the summary table is printed.
func TestDefaultRunShape(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-runs", "20"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	s := out.String()
	if n := strings.Count(s, "transcript matches"); n != 7 {
		t.Errorf("%d spec scenarios match, want 7:\n%s", n, s)
	}
	// Each scenario says in one line what it shows.
	for _, title := range []string{"1. basic connection and heartbeat\n", "3. a packet is lost, and the heartbeats get it resent\n",
		"7. a client disconnects, misses messages, and gets them re-sent after it reconnects with its client ID\n"} {
		if !strings.Contains(s, "  "+title) {
			t.Errorf("no line %q:\n%s", title, s)
		}
	}
	if !strings.Contains(s, "docs/scenarios.md") {
		t.Errorf("the output does not say where the diagrams are:\n%s", s)
	}
	for _, row := range []string{"runs", "messages", "requests", "faults injected", "retransmissions",
		"duplicates suppressed", "resumes", "sessions lost", "invariant violations"} {
		if !strings.Contains(s, "\n  "+row+" ") {
			t.Errorf("summary has no %q row:\n%s", row, s)
		}
	}
	if !strings.Contains(s, "  invariant violations                  0\n") {
		t.Errorf("violations reported:\n%s", s)
	}
	if !strings.Contains(errb.String(), "chaos: 100% 20/20 runs, 0 violations\n") {
		t.Errorf("no progress on stderr:\n%s", errb.String())
	}
}

// TestDiagramFlagWritesTheGoldenFiles: -diagram writes exactly the files
// checked in under sim/testdata/diagrams.
func TestDiagramFlagWritesTheGoldenFiles(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"-diagram", dir, "-runs", "0"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	golden, err := filepath.Glob("../../testdata/diagrams/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(golden) != 14 {
		t.Fatalf("%d golden diagrams, want 14 (7 scenarios × .puml, .mmd)", len(golden))
	}
	for _, g := range golden {
		want, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(g)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", filepath.Base(g), g)
		}
	}
}

// TestSeedReplays: -seed prints the run's script, the same each time.
func TestSeedReplays(t *testing.T) {
	var a, b, errb bytes.Buffer
	if code := run([]string{"-seed", "3", "-steps", "50"}, &a, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	run([]string{"-seed", "3", "-steps", "50"}, &b, &errb)
	if a.String() != b.String() || !strings.HasPrefix(a.String(), "config seed=3 ") {
		t.Fatalf("replays differ or do not start with the config:\n%s\n----\n%s", a.String(), b.String())
	}
}

// TestScriptFlag runs a scenario file (checking its transcript) and a
// plain verb script.
func TestScriptFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-script", "../../testdata/scenarios/spec-2-basic-messages.txt"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), `c1: delivered seq=1 "restart in 5 minutes"`) {
		t.Fatalf("trace lacks the delivery:\n%s", out.String())
	}
	path := filepath.Join(t.TempDir(), "s.txt")
	if err := os.WriteFile(path, []byte("connect c1\nsend c1 \"hi\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"-script", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	want := "> send c1 \"hi\"\n    c1 -> s: DATA seq=1 ack=0 \"hi\"\n    s: delivered seq=1 \"hi\" from c1\n    s --> c1: ACK 1\n"
	if !strings.HasSuffix(out.String(), want) {
		t.Fatalf("got\n%s\nwant suffix\n%s", out.String(), want)
	}
}

func TestBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-mode", "carrier-pigeon"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), `-mode "carrier-pigeon": want stream or datagram`) {
		t.Fatalf("stderr: %s", errb.String())
	}
}

// TestSecureFlag: -secure runs the chaos runs encrypted; a replayed seed's
// script says so in its config line, and the trace shows only records.
func TestSecureFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-nospec", "-runs", "6", "-steps", "60", "-secure", "mutual"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "encryption mutual") || !strings.Contains(out.String(), "invariant violations                  0") {
		t.Fatalf("summary:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"-seed", "2", "-steps", "20", "-secure", "psk", "-v"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), " secure=psk") || !strings.Contains(out.String(), "<handshake, ") || strings.Contains(out.String(), "HELLO") {
		t.Fatalf("replay:\n%s", out.String())
	}
	errb.Reset()
	if code := run([]string{"-secure", "rot13"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `-secure "rot13"`) {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
