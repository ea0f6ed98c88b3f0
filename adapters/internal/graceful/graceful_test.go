package graceful

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errClosed = errors.New("closed")

func isClosed(err error) bool { return errors.Is(err, errClosed) }

// When ctx ends, Run shuts down with a context that ctx's end does not
// cancel, and the error serve returns because of the shutdown is no error.
func TestRunShutsDownWhenCtxEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	var stopErr error
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, func() error { <-stopped; return errClosed }, func(stop context.Context) error {
			stopErr = stop.Err()
			if _, ok := stop.Deadline(); !ok {
				t.Error("the shutdown's context has no deadline")
			}
			close(stopped)
			return nil
		}, isClosed, time.Hour)
	}()
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if stopErr != nil {
		t.Fatalf("the shutdown's context had ended (%v) when shutdown began", stopErr)
	}
}

// When serve fails on its own, Run still shuts down, and returns serve's
// error joined with the shutdown's.
func TestRunReportsServeAndShutdownErrors(t *testing.T) {
	errServe, errStop := errors.New("listener broke"), errors.New("stop failed")
	shut := false
	err := Run(context.Background(), func() error { return errServe }, func(context.Context) error {
		shut = true
		return errStop
	}, isClosed, time.Hour)
	if !shut {
		t.Fatal("Run did not shut down after serve failed")
	}
	if !errors.Is(err, errServe) || !errors.Is(err, errStop) {
		t.Fatalf("Run = %v, want both the serve and the shutdown error", err)
	}
}

// A shutdown that outlives grace sees its context end with
// context.DeadlineExceeded, which Run returns.
func TestRunBoundsTheShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopped := make(chan struct{})
	err := Run(ctx, func() error { <-stopped; return errClosed }, func(stop context.Context) error {
		defer close(stopped)
		<-stop.Done()
		return stop.Err()
	}, isClosed, time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want context.DeadlineExceeded", err)
	}
}
