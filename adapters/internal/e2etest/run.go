package e2etest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
)

// RunFunc starts a transport's server with opts and runs it on ln until
// ctx ends, as its Run method does.
type RunFunc func(ctx context.Context, ln net.Listener, opts adapters.ServerOptions) error

// GracefulRun checks a transport's Run: it serves until its ctx ends, then
// tells the clients the server is going away and returns nil; when a
// handler outlives ShutdownTimeout, Run returns the deadline it ran out
// of; when its listener fails, Run returns that error. dial is given the
// listener's address (host:port).
func GracefulRun(t *testing.T, run RunFunc, dial func(ctx context.Context, addr string, opts adapters.ClientOptions) (*adapters.Client, error)) {
	t.Run("graceful", func(t *testing.T) {
		ctx := guard(t)
		ln := listen(t)
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() {
			ran <- run(runCtx, ln, adapters.ServerOptions{OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) {
				return r.Payload, nil
			}})
		}()
		lost := make(chan error, 1)
		c, err := dial(ctx, ln.Addr().String(), adapters.ClientOptions{OnEvent: func(_ context.Context, ev adapters.Event) {
			if l, ok := ev.(*adapters.ConnectionLost); ok {
				select {
				case lost <- l.Err:
				default:
				}
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := c.Request(ctx, []byte("ping")); err != nil || string(resp) != "ping" {
			t.Fatalf("Request = %q, %v; want ping", resp, err)
		}
		stop()
		if err := wait(ctx, t, ran, "Run did not return after its ctx ended"); err != nil {
			t.Fatalf("Run after a graceful shutdown: %v, want nil", err)
		}
		err = wait(ctx, t, lost, "the client was not told the server went away")
		var ce *adapters.CloseError
		if !errors.As(err, &ce) || ce.Code != adapters.CloseGoingAway || !ce.Remote {
			t.Fatalf("the client lost its connection with %v, want the server's CLOSE going-away", err)
		}
		closeClient(ctx, c, 5*time.Second)
	})

	t.Run("handler-outlives-the-timeout", func(t *testing.T) {
		ctx := guard(t)
		ln := listen(t)
		runCtx, stop := context.WithCancel(ctx)
		release, entered := make(chan struct{}), make(chan struct{})
		ran := make(chan error, 1)
		go func() {
			ran <- run(runCtx, ln, adapters.ServerOptions{
				ShutdownTimeout: 50 * time.Millisecond,
				OnRequest: func(context.Context, adapters.Request) ([]byte, error) {
					close(entered)
					<-release // ignores its ctx, as a misbehaving handler would
					return nil, nil
				},
			})
		}()
		c, err := dial(ctx, ln.Addr().String(), adapters.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		go c.Request(ctx, []byte("stuck")) // its outcome is the client's Close's business
		wait(ctx, t, entered, "the handler was never called")
		stop()
		err = wait(ctx, t, ran, "Run did not return after its shutdown timeout")
		close(release)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run with a handler that outlived ShutdownTimeout: %v, want context.DeadlineExceeded", err)
		}
		closeClient(ctx, c, 200*time.Millisecond) // the server is gone: the client cannot close cleanly
	})

	t.Run("listener-fails", func(t *testing.T) {
		ctx := guard(t)
		ln := &failing{Listener: listen(t), err: errors.New("listener broke"), fail: make(chan struct{})}
		ran := make(chan error, 1)
		go func() { ran <- run(ctx, ln, adapters.ServerOptions{}) }()
		close(ln.fail)
		if err := wait(ctx, t, ran, "Run did not return when its listener failed"); !errors.Is(err, ln.err) {
			t.Fatalf("Run with a failing listener: %v, want its error", err)
		}
	})
}

func guard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard, not a verdict
	t.Cleanup(cancel)
	return ctx
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func wait[T any](ctx context.Context, t *testing.T, ch <-chan T, msg string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatal(msg)
		panic("unreachable")
	}
}

// closeClient closes c, waiting at most d: a bound, not a verdict.
func closeClient(ctx context.Context, c *adapters.Client, d time.Duration) {
	closeCtx, stop := context.WithTimeout(ctx, d)
	defer stop()
	c.Close(closeCtx) // the server is gone: whatever the session reports
}

// failing is a listener whose Accept fails with err once fail is closed.
type failing struct {
	net.Listener
	err  error
	fail chan struct{}
}

func (l *failing) Accept() (net.Conn, error) {
	<-l.fail
	l.Listener.Close()
	return nil, l.err
}
