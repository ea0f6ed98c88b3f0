package netconn_test

import (
	"context"
	"net"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
	"github.com/bettersocket/bettersocket/adapters/netconn"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(e2etest.IdleEnv); mode != "" {
		e2etest.IdleServe(func() (string, func() int64) { return idleServer(mode) })
	}
	goleak.VerifyTestMain(m)
}

var transport = e2etest.Transport{
	Serve: func(t *testing.T, ln net.Listener, opts adapters.ServerOptions) (*adapters.Server, string, func(context.Context) error) {
		srv := netconn.NewServer(opts)
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		return srv.Server, ln.Addr().String(), func(ctx context.Context) error {
			err := srv.Close(ctx)
			if serr := <-done; serr != adapters.ErrServerClosed {
				t.Errorf("Serve returned %v, want ErrServerClosed", serr)
			}
			return err
		}
	},
	Dial: func(ctx context.Context, addr string, opts adapters.ClientOptions) (*adapters.Client, error) {
		return netconn.Dial(ctx, "tcp", addr, opts)
	},
	Raw: e2etest.DialTCP,
}

func TestChaos(t *testing.T) { e2etest.Chaos(t, transport, e2etest.DefaultChaos) }

func TestChaosSecure(t *testing.T) { e2etest.ChaosSecure(t, transport) }

func TestSecureRefusals(t *testing.T) { e2etest.SecureRefusals(t, transport) }

func TestHostile(t *testing.T) { e2etest.Hostile(t, transport, false) }

func TestConnectionEvents(t *testing.T) { e2etest.ConnectionEvents(t, transport) }

func TestFirstDialRetries(t *testing.T) { e2etest.FirstDialRetries(t, transport) }

func TestBroadcastBurst(t *testing.T) { e2etest.BroadcastBurst(t, transport) }
