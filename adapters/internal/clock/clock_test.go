package clock

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// A fake timer fires when Advance reaches its deadline, not before; Reset
// and Stop take back a time nobody received; Armed shows what is pending.
func TestFakeTimer(t *testing.T) {
	f := NewFake(start)
	tm := f.NewTimer()
	if got := f.Armed(); len(got) != 0 {
		t.Fatalf("a new timer is armed at %v", got)
	}
	tm.Reset(start.Add(time.Second), f.Now())
	if got := f.Armed(); !slices.Equal(got, []time.Time{start.Add(time.Second)}) {
		t.Fatalf("armed %v, want start+1s", got)
	}
	<-f.Advance(time.Second - 1)
	select {
	case <-tm.C():
		t.Fatal("fired before its deadline")
	default:
	}
	<-f.Advance(1)
	select {
	case at := <-tm.C():
		if !at.Equal(start.Add(time.Second)) {
			t.Fatalf("fired with %v", at)
		}
	default:
		t.Fatal("did not fire at its deadline")
	}
	if got := f.Armed(); len(got) != 0 {
		t.Fatalf("armed %v after firing", got)
	}
	tm.Reset(f.Now().Add(time.Second), f.Now())
	<-f.Advance(time.Second)
	tm.Reset(f.Now().Add(time.Hour), f.Now()) // the fired time is dropped
	select {
	case <-tm.C():
		t.Fatal("a stale time survived Reset")
	default:
	}
	tm.Stop()
	if got := f.Armed(); len(got) != 0 {
		t.Fatalf("armed %v after Stop", got)
	}
}

// AfterFunc callbacks run when their deadline is reached; Advance's
// channel is closed once they have returned. WaitArmed sees arming done
// by another goroutine.
func TestFakeAfterFuncAndWaitArmed(t *testing.T) {
	f := NewFake(start)
	var ran atomic.Int32
	f.AfterFunc(10*time.Millisecond, func() { ran.Add(1) })
	<-f.Advance(9 * time.Millisecond)
	if ran.Load() != 0 {
		t.Fatal("ran early")
	}
	<-f.Advance(time.Millisecond)
	if ran.Load() != 1 {
		t.Fatal("did not run at its deadline")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tm := f.NewTimer()
	go tm.Reset(f.Now().Add(time.Minute), f.Now())
	armed, err := f.WaitArmed(ctx, func(a []time.Time) bool { return len(a) == 1 })
	if err != nil || !armed[0].Equal(start.Add(10*time.Millisecond+time.Minute)) {
		t.Fatalf("armed %v, %v", armed, err)
	}
	tm.Stop()
}
