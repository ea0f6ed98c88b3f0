package sim

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/diagrams and docs/scenarios.md from the spec scenarios")

// TestSpecScenariosReplay plays the embedded spec scenarios with the
// scenario runner the bsim command uses: every step must produce exactly its
// transcript, with no violation.
func TestSpecScenariosReplay(t *testing.T) {
	scs, err := SpecScenarios()
	if err != nil {
		t.Fatal(err)
	}
	if len(scs) != 7 {
		t.Fatalf("%d spec scenarios, want 7", len(scs))
	}
	for _, sc := range scs {
		in, bad, err := sc.Run(Options{})
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		for _, m := range bad {
			t.Errorf("%s: got\n%s\nwant\n%s", m.Step.Pos, m.Actual, m.Expected)
		}
		if err := in.Err(); err != nil {
			t.Errorf("%s: %v", sc.Name, err)
		}
	}
}

// TestDiagrams compares the PlantUML and Mermaid renderings of the spec
// scenarios with testdata/diagrams (go test -run TestDiagrams -update
// regenerates them; bsim -diagram writes the same files).
func TestDiagrams(t *testing.T) {
	scs, err := SpecScenarios()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scs {
		in, _, err := sc.Run(Options{})
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		files := map[string]string{
			sc.Name + ".puml": PlantUML(sc.Name, in.Sim().Trace()),
			sc.Name + ".mmd":  Mermaid(sc.Name, in.Sim().Trace()),
		}
		for name, got := range files {
			golden(t, filepath.Join("testdata", "diagrams", name), got, "TestDiagrams")
		}
	}
}

// TestScenarioDocs compares docs/scenarios.md, the spec scenarios as
// Mermaid sequence diagrams that render on a code host, with what the
// scenarios produce now (go test ./sim -run TestScenarioDocs -update
// regenerates it).
func TestScenarioDocs(t *testing.T) {
	scs, err := SpecScenarios()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`# The specification's scenarios, as the simulator plays them

The original specification drew two scenarios and listed five more to add.
Each is a transcript under [sim/testdata/scenarios](../sim/testdata/scenarios),
played by the deterministic simulator against the real client and server
machines; ` + "`go run ./sim/cmd/bsim`" + ` checks every one (` + "`-v`" + ` prints the traces) and
` + "`go test ./sim`" + ` does too. The diagrams below are generated from those runs
(` + "`go test ./sim -run TestScenarioDocs -update`" + `), so they show exactly the frames
the machines exchange: solid arrows are reliable frames and the handshake,
dashed ones acknowledgements and heartbeats, crossed ones frames the network
lost, and notes are what each side's application is told.
`)
	for i, sc := range scs {
		in, _, err := sc.Run(Options{})
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		title, rest := sc.splitDoc()
		fmt.Fprintf(&b, "\n## %d. %s\n\n%s\n\nTranscript: [%s.txt](../sim/testdata/scenarios/%s.txt)\n\n```mermaid\n%s```\n",
			i+1, strings.ToUpper(title[:1])+title[1:], rest, sc.Name, sc.Name, Mermaid(sc.Name, in.Sim().Trace()))
	}
	golden(t, filepath.Join("..", "docs", "scenarios.md"), b.String(), "TestScenarioDocs")
}

// golden compares got with the file at path, or writes it there with
// -update; test names the test that regenerates it.
func golden(t *testing.T, path, got, test string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./sim -run %s -update)", err, test)
	}
	if got != string(want) {
		t.Errorf("%s differs from what the scenarios render now (run go test ./sim -run %s -update):\n%s", path, test, got)
	}
}

// TestPlantUMLShape checks the rendering rules on a small hand-made trace.
func TestPlantUMLShape(t *testing.T) {
	tr := &Trace{Entries: []Entry{
		{Kind: GroupStart, Text: "Connection"},
		{At: 0, Kind: Arrow, From: "c1", To: "s", Text: "HELLO v=1"},
		{At: 0, Kind: Event, From: "s", Text: "session-started x"},
		{Kind: GroupEnd},
		{At: 30e9, Kind: Arrow, From: "c1", To: "s", Text: "HEARTBEAT ack=0", Dashed: true},
		{At: 30e9, Kind: Arrow, From: "s", To: "c1", Text: "DATA seq=1 #1;", Lost: true},
		{At: 30e9, Kind: Note, From: "c1", To: "s", Text: "partition c1"},
	}}
	wantPUML := strings.Join([]string{
		"@startuml",
		"title t",
		"participant c1",
		"participant s",
		"group Connection",
		"c1 -> s: HELLO v=1",
		"rnote over s: session-started x",
		"end",
		"...30s later...",
		"c1 --> s: HEARTBEAT ack=0",
		"s ->x c1: DATA seq=1 #1;",
		"note over c1, s: partition c1",
		"@enduml",
		"",
	}, "\n")
	if got := PlantUML("t", tr); got != wantPUML {
		t.Errorf("PlantUML:\n%s\nwant\n%s", got, wantPUML)
	}
	wantMMD := strings.Join([]string{
		"sequenceDiagram",
		"    title t",
		"    participant c1",
		"    participant s",
		"    rect rgb(240, 240, 250)",
		"    Note over c1,s: Connection",
		"    c1->>s: HELLO v=1",
		"    Note over s: session-started x",
		"    end",
		"    Note over c1,s: 30s later",
		"    c1-->>s: HEARTBEAT ack=0",
		"    s-xc1: DATA seq=1 #35;1#59;",
		"    Note over c1,s: partition c1",
		"",
	}, "\n")
	if got := Mermaid("t", tr); got != wantMMD {
		t.Errorf("Mermaid:\n%s\nwant\n%s", got, wantMMD)
	}
}
