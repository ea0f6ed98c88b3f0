// Package clock is where the adapters' driver reads the time and arms its
// timers: the monotonic clock in production ([Real]), and a clock that
// tests move by hand ([Fake]), which shows the deadlines armed on it, so
// that the driver's timing is tested exactly instead of by waiting.
package clock

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Clock is a source of time and timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a stopped timer.
	NewTimer() Timer
	// AfterFunc calls f on its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func())
}

// Timer is one timer, as a time.Timer: its channel receives the time
// when it fires, and Reset and Stop leave no stale value in it.
type Timer interface {
	// C is the channel the time is sent on when the timer fires.
	C() <-chan time.Time
	// Reset makes the timer fire at at; now is the caller's reading of
	// the clock, from which the wait is counted.
	Reset(at, now time.Time)
	// Stop stops the timer.
	Stop()
}

// Real returns the monotonic clock. Its times are counted from the call:
// time.Since of a time with a monotonic reading reads the monotonic clock
// alone, which costs half of time.Now. (The wall time of such a time
// misses any step of the wall clock since the call.)
func Real() Clock { return RealClock{epoch: time.Now()} }

// RealClock is the clock Real returns, a type of its own so that a hot
// path can read it with a direct call rather than through Clock.
type RealClock struct{ epoch time.Time }

func (r RealClock) Now() time.Time { return r.epoch.Add(time.Since(r.epoch)) }

func (RealClock) NewTimer() Timer { return &realTimer{c: make(chan time.Time, 1)} }

func (RealClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// realTimer arms a new runtime timer on every Reset instead of moving the
// one armed before, because under js/wasm a runtime timer moved earlier
// can wait for another timer (#12). Go's scheduler there has no sysmon: it
// hands JavaScript one wake-up time, taken from its timer heap. When more
// than a quarter of the heap are stopped timers, it takes that time from
// the first entry before it updates the entries of timers Reset earlier
// (Go 1.26, runtime.timers.check), so a timer moved from an older deadline
// to a nearer one fires only when the next other timer does. A browser
// client's redial after a refused handshake then waited for the request's
// deadline: the failed dial moves the driver's timer to the backoff and
// cancels its context (a stopped timer). A new runtime timer goes into the
// heap at its place. The cost is an allocation per Reset, which the driver
// makes only to move its timer earlier or to rearm it after it fired.
type realTimer struct {
	c   chan time.Time
	mu  sync.Mutex
	gen uint64      // counts Resets and Stops: a callback of an older arming sends nothing
	t   *time.Timer // the armed runtime timer; nil when stopped or fired
}

func (r *realTimer) C() <-chan time.Time { return r.c }

func (r *realTimer) Reset(at, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked()
	gen := r.gen
	r.t = time.AfterFunc(at.Sub(now), func() { r.fire(gen) })
}

func (r *realTimer) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked()
}

// stopLocked disarms r and drops a time nobody received; r.mu held.
func (r *realTimer) stopLocked() {
	r.gen++
	if r.t != nil {
		r.t.Stop()
		r.t = nil
	}
	select {
	case <-r.c:
	default:
	}
}

// fire sends the time, unless r was Reset or stopped since arming gen.
func (r *realTimer) fire(gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen != r.gen {
		return
	}
	r.t = nil
	select {
	case r.c <- time.Now():
	default:
	}
}

// Fake is a clock that moves only when told to. Its timers fire, and its
// AfterFunc callbacks run, when Advance reaches their deadline; Armed
// lists those deadlines. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*fakeTimer]struct{} // armed
	funcs   []fakeFunc              // pending AfterFunc callbacks
	changed chan struct{}           // closed when the armed deadlines change
}

type fakeTimer struct {
	f  *Fake
	c  chan time.Time
	at time.Time
}

type fakeFunc struct {
	at time.Time
	fn func()
}

// NewFake returns a fake clock that reads start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, timers: make(map[*fakeTimer]struct{}), changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a stopped timer of f.
func (f *Fake) NewTimer() Timer { return &fakeTimer{f: f, c: make(chan time.Time, 1)} }

// AfterFunc arranges for fn to run, on a goroutine of its own, when
// Advance reaches d from now.
func (f *Fake) AfterFunc(d time.Duration, fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.funcs = append(f.funcs, fakeFunc{at: f.now.Add(d), fn: fn})
	f.changedLocked()
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

// Reset arms t at at; a fake timer needs no reading of the clock.
func (t *fakeTimer) Reset(at, _ time.Time) {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	t.drain()
	t.at = at
	f.timers[t] = struct{}{}
	f.changedLocked()
}

func (t *fakeTimer) Stop() {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	t.drain()
	if _, ok := f.timers[t]; ok {
		delete(f.timers, t)
		f.changedLocked()
	}
}

// drain drops a fired time nobody received, as time.Timer's Reset and
// Stop do; f.mu held.
func (t *fakeTimer) drain() {
	select {
	case <-t.c:
	default:
	}
}

func (f *Fake) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Armed returns the deadlines of the armed timers and pending AfterFunc
// callbacks, earliest first.
func (f *Fake) Armed() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.armedLocked()
}

func (f *Fake) armedLocked() []time.Time {
	var at []time.Time
	for t := range f.timers {
		at = append(at, t.at)
	}
	for _, fn := range f.funcs {
		at = append(at, fn.at)
	}
	slices.SortFunc(at, time.Time.Compare)
	return at
}

// Advance moves the clock d forward, fires every timer due by then and
// starts every AfterFunc callback due by then. It returns the callbacks'
// completion: a channel closed once every one it started has returned.
func (f *Fake) Advance(d time.Duration) <-chan struct{} {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	fired := false
	for t := range f.timers {
		if !t.at.After(now) {
			delete(f.timers, t)
			select {
			case t.c <- now:
			default:
			}
			fired = true
		}
	}
	var due []func()
	live := f.funcs[:0]
	for _, fn := range f.funcs {
		if fn.at.After(now) {
			live = append(live, fn)
		} else {
			due = append(due, fn.fn)
		}
	}
	clear(f.funcs[len(live):])
	f.funcs = live
	if fired || len(due) > 0 {
		f.changedLocked()
	}
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, fn := range due {
		wg.Go(fn)
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// WaitArmed waits until ok holds for the armed deadlines (see Armed), and
// returns them; or returns ctx.Err() with the last deadlines it saw.
func (f *Fake) WaitArmed(ctx context.Context, ok func(armed []time.Time) bool) ([]time.Time, error) {
	for {
		f.mu.Lock()
		armed := f.armedLocked()
		changed := f.changed
		f.mu.Unlock()
		if ok(armed) {
			return armed, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return armed, ctx.Err()
		}
	}
}
