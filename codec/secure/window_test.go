package secure

import (
	"testing"

	"pgregory.net/rapid"
)

// TestWindowModel checks the replay window against a plain set: a nonce is
// accepted iff it was never accepted and is less than WindowSize behind the
// highest accepted one.
func TestWindowModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var w window
		seen := map[uint64]bool{}
		var top uint64
		var any bool
		base := rapid.Uint64Range(0, 1<<40).Draw(t, "base")
		for i := range rapid.IntRange(1, 400).Draw(t, "steps") {
			// Mostly near the top, sometimes far ahead or far behind.
			var n uint64
			switch rapid.IntRange(0, 9).Draw(t, "kind") {
			case 0:
				n = top + rapid.Uint64Range(0, 3*windowBits).Draw(t, "jump")
			case 1:
				n = top - min(top, rapid.Uint64Range(0, 3*windowBits).Draw(t, "back"))
			default:
				n = base + uint64(i) - min(base+uint64(i), rapid.Uint64Range(0, 80).Draw(t, "near"))
			}
			want := !seen[n] && (!any || n > top || top-n < WindowSize)
			if got := w.fresh(n); got != want {
				t.Fatalf("fresh(%d) with top %d = %v, want %v", n, top, got, want)
			}
			if want {
				w.mark(n)
				seen[n] = true
				if !any || n > top {
					top, any = n, true
				}
			}
		}
	})
}
