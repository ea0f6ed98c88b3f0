package adapters

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters/internal/clock"
	"github.com/bettersocket/bettersocket/session"
)

// Helpers of the promise tests (promises_*_test.go): each of those files
// pins promises of the package doc (doc.go) with tests that fail, naming
// the promise, when the code stops keeping it.
//
// A broken promise must fail fast and say so, not hang until the test's
// 30-second context ends. Where a broken build would wait forever, the
// wait is bounded by promiseBound and fails with the promise's name; on a
// healthy run the awaited event comes at once, so the bound never decides
// the verdict of a passing run.

// promiseBound turns the hang of a broken promise into a failure. It is
// far above what any awaited event takes on a loaded machine.
const promiseBound = 10 * time.Second

// fakeStart is where the fake clocks of the tests start.
var fakeStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newFakeClock() *clock.Fake { return clock.NewFake(fakeStart) }

// immediateAcks makes both machines acknowledge at once: under a fake
// clock a held ACK would wait for a hand that moves time.
var immediateAcks = session.LinkConfig{AckDelay: -1}

// boundCtx returns ctx bounded by promiseBound.
func boundCtx(t *testing.T, ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(ctx, promiseBound)
	t.Cleanup(cancel)
	return ctx
}

// receive waits for a value on ch; after promiseBound it fails with
// promise, the name of what was not kept, and what.
func receive[T any](t *testing.T, ch <-chan T, promise, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(promiseBound):
		t.Fatalf("promise broken: %s: %s (nothing after %v)", promise, what, promiseBound)
		panic("unreachable")
	}
}

// eventually waits until cond holds. It fails with promise and what when
// broken yields first (an outcome that shows the promise broken), or
// after promiseBound.
func eventually[T any](t *testing.T, cond func() bool, broken <-chan T, promise, what string) {
	t.Helper()
	stop := time.After(promiseBound)
	for !cond() {
		select {
		case v := <-broken:
			t.Fatalf("promise broken: %s: %s (got %v first)", promise, what, v)
		case <-stop:
			t.Fatalf("promise broken: %s: %s (not after %v)", promise, what, promiseBound)
		default:
		}
		runtime.Gosched()
	}
}

// armed fails with promise unless the earliest deadline armed on f is at
// now: what armed it has been done already.
func armed(t *testing.T, f *clock.Fake, at time.Time, promise string) {
	t.Helper()
	if a := f.Armed(); len(a) == 0 || !a[0].Equal(at) {
		t.Fatalf("promise broken: %s: the earliest timer is not armed at +%v (armed: %v)", promise, at.Sub(fakeStart), sinceStart(a))
	}
}

// armedAt waits until the earliest deadline armed on f is at, and fails
// with promise after promiseBound otherwise.
func armedAt(t *testing.T, f *clock.Fake, at time.Time, promise string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), promiseBound)
	defer cancel()
	armed, err := f.WaitArmed(ctx, func(a []time.Time) bool { return len(a) > 0 && a[0].Equal(at) })
	if err != nil {
		t.Fatalf("promise broken: %s: no timer armed at +%v (armed: %v)", promise, at.Sub(fakeStart), sinceStart(armed))
	}
}

// sinceStart shows armed deadlines as offsets from fakeStart.
func sinceStart(at []time.Time) []time.Duration {
	var d []time.Duration
	for _, t := range at {
		d = append(d, t.Sub(fakeStart))
	}
	return d
}

// parked returns how many commands of d wait for the window.
func parked(ctx context.Context, d *driver) int {
	return probe(ctx, d, func() int { return d.nparked })
}

// waitFor returns the payloads once there are n of them; after
// promiseBound it fails with promise and what.
func (b *collector) waitFor(t *testing.T, n int, promise, what string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), promiseBound)
	defer cancel()
	got, ok := b.until(n, ctx.Done())
	if !ok {
		t.Fatalf("promise broken: %s: %s (%d of %d after %v: %q)", promise, what, len(got), n, promiseBound, got)
	}
	return got
}
