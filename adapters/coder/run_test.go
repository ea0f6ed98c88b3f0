package coder_test

import (
	"context"
	"net"
	"testing"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/coder"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
)

func TestRun(t *testing.T) {
	e2etest.GracefulRun(t, func(ctx context.Context, ln net.Listener, opts adapters.ServerOptions) error {
		return coder.NewServer(opts).Run(ctx, ln)
	}, func(ctx context.Context, addr string, opts adapters.ClientOptions) (*adapters.Client, error) {
		return coder.Dial(ctx, "ws://"+addr, opts)
	})
}
