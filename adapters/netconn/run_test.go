package netconn_test

import (
	"context"
	"net"
	"testing"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
	"github.com/bettersocket/bettersocket/adapters/netconn"
)

func TestRun(t *testing.T) {
	e2etest.GracefulRun(t, func(ctx context.Context, ln net.Listener, opts adapters.ServerOptions) error {
		return netconn.NewServer(opts).Run(ctx, ln)
	}, func(ctx context.Context, addr string, opts adapters.ClientOptions) (*adapters.Client, error) {
		return netconn.Dial(ctx, "tcp", addr, opts)
	})
}
