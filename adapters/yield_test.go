package adapters

import (
	"testing"
	"time"
)

// A burst that starts after burstGap with nothing queued yields to its
// writer after firstYield bytes, then after twice as many each time up to
// yieldAt; bytes that keep coming (a stream) keep yielding at yieldAt,
// and a pause longer than burstGap starts small again.
func TestYieldsStartSmallAfterAPause(t *testing.T) {
	d := newDriver(&recorder{}, handlers{}, withSide(nil, "test"), 1<<20, 0, nil)
	c := &conn{d: d}
	d.now = time.Unix(1000, 0)
	const msg = 100
	// next queues messages of msg bytes, msg apart in time by step, until
	// the holder is asked to yield, and returns the bytes then unsent; the
	// writer then takes them, as it would.
	next := func(step time.Duration) int {
		t.Helper()
		for range 1000 {
			d.now = d.now.Add(step)
			c.noteUnsent(msg)
			if d.yield {
				n := int(c.unsent.Load())
				d.yield = false
				c.unsent.Store(0)
				return n
			}
		}
		t.Fatal("no yield in 1,000 messages")
		return 0
	}
	want := func(got, at int) {
		t.Helper()
		if got < at || got >= at+msg {
			t.Fatalf("yielded at %d bytes unsent, want %d", got, at)
		}
	}
	for _, at := range []int{firstYield, 2 * firstYield, 4 * firstYield, yieldAt, yieldAt, yieldAt} {
		want(next(time.Microsecond), at)
	}
	// A stream with gaps shorter than burstGap keeps its batches large.
	want(next(burstGap), yieldAt)
	// A pause: the next burst starts small.
	d.now = d.now.Add(burstGap + time.Nanosecond)
	want(next(0), firstYield)
	want(next(0), 2*firstYield)
}
