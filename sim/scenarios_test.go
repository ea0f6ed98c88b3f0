package sim

import (
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios plays every file under testdata/scenarios and compares each
// directive's trace with the expected output (go test -rewrite regenerates
// them). The oracle must find nothing wrong in any of them.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		in := NewInterp(Options{Trace: true})
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			lines := []string{td.FullCmd()}
			if td.Input != "" {
				lines = append(lines, strings.Split(td.Input, "\n")...)
			}
			var out strings.Builder
			for _, l := range lines {
				o, err := in.Exec(l)
				if err != nil {
					t.Fatalf("%s: %v", td.Pos, err)
				}
				out.WriteString(o)
			}
			if err := in.Err(); err != nil {
				t.Fatalf("%s: %v\n%s", td.Pos, err, out.String())
			}
			return out.String()
		})
	})
}
