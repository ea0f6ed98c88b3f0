package sim

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/diagrams from the spec scenarios")

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
			path := filepath.Join("testdata", "diagrams", name)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./sim -run TestDiagrams -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendering (run go test ./sim -run TestDiagrams -update):\n%s", path, got)
			}
		}
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
