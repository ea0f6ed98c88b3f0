package sim

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Scenario is a scenario file in the datadriven format of
// testdata/scenarios: directives (verb lines, optionally followed by more
// verb lines), each with the trace it must produce after a "----" line.
type Scenario struct {
	Name string
	// Doc is the comment at the top of the scenario file, without its #
	// marks: what the scenario shows. Its first sentence is its title.
	Doc   string
	Steps []Step
}

// Title is the first sentence of the scenario's Doc, without a leading
// "Spec Scenario N:" or "Spec TODO:" label: what it shows, in one line.
func (sc *Scenario) Title() string {
	t, _ := sc.splitDoc()
	return t
}

// splitDoc splits Doc after its first sentence (a period followed by a
// space, a line break or the end) into the title and the rest.
func (sc *Scenario) splitDoc() (title, rest string) {
	end := len(sc.Doc)
	for i := 0; i < len(sc.Doc); i++ {
		if sc.Doc[i] == '.' && (i+1 == len(sc.Doc) || sc.Doc[i+1] == ' ' || sc.Doc[i+1] == '\n') {
			end = i
			break
		}
	}
	title = strings.Join(strings.Fields(sc.Doc[:end]), " ")
	if label, t, ok := strings.Cut(title, ": "); ok && strings.HasPrefix(label, "Spec ") {
		title = t
	}
	return title, strings.TrimSpace(sc.Doc[min(end+1, len(sc.Doc)):])
}

// Step is one directive of a scenario.
type Step struct {
	Pos      string   // file:line
	Lines    []string // the directive line and its input lines
	Expected string   // the expected output
}

// Mismatch is a step whose output differs from the expected one.
type Mismatch struct {
	Step     Step
	Actual   string
	Expected string
}

//go:embed testdata/scenarios/spec-*.txt
var specFS embed.FS

// SpecScenarios returns the scenarios of the original specification (its two
// diagrams and five TODOs), embedded from testdata/scenarios/spec-*.txt,
// in file name order.
func SpecScenarios() ([]*Scenario, error) {
	names, err := fs.Glob(specFS, "testdata/scenarios/spec-*.txt")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var out []*Scenario
	for _, n := range names {
		b, err := specFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		sc, err := ParseScenario(strings.TrimSuffix(path.Base(n), ".txt"), string(b))
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// ParseScenario parses a scenario file in the datadriven format: comment
// lines start with #, a directive is a line (continued by a trailing \)
// plus input lines up to "----", and the expected output follows up to a
// blank line, or between "----" "----" pairs when it has blank lines.
func ParseScenario(name, text string) (*Scenario, error) {
	sc := &Scenario{Name: name}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	i := 0
	var doc []string
	for ; i < len(lines) && strings.HasPrefix(lines[i], "#"); i++ {
		doc = append(doc, strings.TrimPrefix(strings.TrimPrefix(lines[i], "#"), " "))
	}
	sc.Doc = strings.TrimSpace(strings.Join(doc, "\n"))
	for i < len(lines) {
		line := strings.TrimSpace(lines[i])
		i++
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		st := Step{Pos: fmt.Sprintf("%s:%d", name, i)}
		for strings.HasSuffix(line, `\`) && i < len(lines) {
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
			i++
		}
		st.Lines = append(st.Lines, line)
		sep := false
		for i < len(lines) {
			l := lines[i]
			i++
			if l == "----" {
				sep = true
				break
			}
			if t := strings.TrimSpace(l); t != "" {
				st.Lines = append(st.Lines, t)
			}
		}
		if !sep {
			return nil, fmt.Errorf("%w: %s: directive without ----", ErrSyntax, st.Pos)
		}
		var exp strings.Builder
		if i < len(lines) && lines[i] == "----" {
			i++
			for i < len(lines) {
				if lines[i] == "----" && i+1 < len(lines) && lines[i+1] == "----" {
					i += 2
					break
				}
				exp.WriteString(lines[i] + "\n")
				i++
			}
		} else {
			for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
				exp.WriteString(lines[i] + "\n")
				i++
			}
		}
		st.Expected = exp.String()
		sc.Steps = append(sc.Steps, st)
	}
	return sc, nil
}

// Run plays the scenario on a fresh simulation with opts (tracing on) and
// returns the interpreter (its trace and oracle) and the steps whose output
// differed from the expected one.
func (sc *Scenario) Run(opts Options) (*Interp, []Mismatch, error) {
	opts.Trace = true
	in := NewInterp(opts)
	var bad []Mismatch
	for _, st := range sc.Steps {
		out, err := in.Exec(st.Lines[0])
		if err != nil {
			return in, bad, fmt.Errorf("%s: %w", st.Pos, err)
		}
		for _, l := range st.Lines[1:] {
			o, err := in.Exec(l)
			if err != nil {
				return in, bad, fmt.Errorf("%s: %w", st.Pos, err)
			}
			out += o
		}
		if out != st.Expected {
			bad = append(bad, Mismatch{Step: st, Actual: out, Expected: st.Expected})
		}
	}
	return in, bad, nil
}
