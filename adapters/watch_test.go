package adapters

import (
	"context"
	"errors"
	"testing"
)

// Requests whose ctxs share a Done channel share one registration with it:
// the watch of the first stays registered as the driver's spare and serves
// the next, whose ctx's end still interrupts it; a request with another
// ctx replaces the spare, and the client's end unregisters it.
func TestRequestsShareTheirCtxWatch(t *testing.T) {
	ctx := testCtx(t)
	h, c, held, release := callerReads(ctx, t, ClientOptions{})
	spare := func() *watch {
		c.d.mu.Lock()
		defer c.d.mu.Unlock()
		return c.d.spare
	}
	request := func(ctx context.Context, payload string) {
		t.Helper()
		if resp, err := c.Request(ctx, []byte(payload)); err != nil || string(resp) != payload {
			t.Fatalf("request %q: %q, %v", payload, resp, err)
		}
	}

	rctx, cancel := context.WithCancel(ctx)
	request(rctx, "one")
	first := spare()
	if first == nil || first.done != rctx.Done() || first.fired.Load() {
		t.Fatalf("after a request, the spare is %+v, want a live watch of its ctx", first)
	}
	if first.o != nil || first.r != nil || first.w != nil {
		t.Fatal("the spare still refers to the request it served")
	}
	type key struct{}
	request(context.WithValue(rctx, key{}, 1), "two") // the same Done channel
	if spare() != first {
		t.Fatal("a request whose ctx shares the Done channel registered anew")
	}

	done := echoed(rctx, c, "hold")
	<-held
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("request whose ctx ended while it read: %v, want context.Canceled", err)
	}
	if !first.fired.Load() {
		t.Fatal("the reused watch did not fire")
	}
	close(release)

	other, cancelOther := context.WithCancel(ctx)
	defer cancelOther()
	request(other, "after")
	kept := spare()
	if kept == nil || kept == first || kept.done != other.Done() {
		t.Fatalf("after a request with another ctx, the spare is %+v", kept)
	}
	if st := c.Stats(); st.Resumes != 0 {
		t.Fatalf("the connection was replaced (%d resumes)", st.Resumes)
	}
	closeAll(ctx, t, h, c)
	if spare() != nil {
		t.Fatal("the client ended with a spare watch")
	}
	if kept.stop() {
		t.Fatal("the spare was still registered with its ctx after Close")
	}
}
