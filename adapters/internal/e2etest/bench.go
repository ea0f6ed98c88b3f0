package e2etest

import (
	"testing"
	"time"
)

// RoundTrips benchmarks raw and better-socket round trips as two
// sub-benchmarks; each setup connects a pair and returns one round trip.
func RoundTrips(b *testing.B, raw, bettersocket func(*testing.B) func()) {
	for _, s := range []struct {
		name  string
		setup func(*testing.B) func()
	}{{"raw", raw}, {"bettersocket", bettersocket}} {
		b.Run(s.name, func(b *testing.B) {
			rt := s.setup(b)
			b.ResetTimer()
			for range b.N {
				rt()
			}
		})
	}
}

// SideBySide alternates blocks of raw and better-socket round trips, so
// that both see the same machine whatever else it is doing (on a shared
// machine, the sub-benchmarks of RoundTrips can run seconds apart), and
// reports each one's mean and the ratio of better-socket's to raw's; ns/op
// is their sum.
func SideBySide(b *testing.B, raw, bettersocket func(*testing.B) func()) {
	Compare(b, "raw", raw, "bettersocket", bettersocket)
}

// Compare is SideBySide for any two setups, named x and y in the metrics
// (x-ns/rt, y-ns/rt, and ratio: y's over x's).
func Compare(b *testing.B, x string, setupX func(*testing.B) func(), y string, setupY func(*testing.B) func()) {
	rawRT, bsRT := setupX(b), setupY(b)
	var rawT, bsT time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(100, b.N-done)
		start := time.Now()
		for range n {
			rawRT()
		}
		mid := time.Now()
		for range n {
			bsRT()
		}
		rawT, bsT = rawT+mid.Sub(start), bsT+time.Since(mid)
		done += n
	}
	b.ReportMetric(float64(rawT.Nanoseconds())/float64(b.N), x+"-ns/rt")
	b.ReportMetric(float64(bsT.Nanoseconds())/float64(b.N), y+"-ns/rt")
	b.ReportMetric(float64(bsT)/float64(rawT), "ratio")
}
