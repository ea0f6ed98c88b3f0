package gorilla_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(idleServerEnv); mode != "" {
		idleServer(mode)
	}
	goleak.VerifyTestMain(m)
}

var transport = e2etest.Transport{
	Serve: func(t *testing.T, ln net.Listener, opts adapters.ServerOptions) (*adapters.Server, string, func(context.Context) error) {
		srv := gorilla.NewServer(opts)
		hs := &http.Server{Handler: srv}
		done := make(chan error, 1)
		go func() { done <- hs.Serve(ln) }()
		return srv.Server, "ws://" + ln.Addr().String() + "/", func(ctx context.Context) error {
			hs.Close()
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("http.Server.Serve returned %v", err)
			}
			return srv.Close(ctx)
		}
	},
	Dial: gorilla.Dial,
	Raw:  e2etest.DialWebSocket,
}

func TestChaos(t *testing.T) { e2etest.Chaos(t, transport, e2etest.DefaultChaos) }

func TestHostile(t *testing.T) { e2etest.Hostile(t, transport, true) }
