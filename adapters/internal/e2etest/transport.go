package e2etest

import (
	"context"
	"net"
	"testing"

	"github.com/bettersocket/bettersocket/adapters"
)

// Transport is what a transport package gives the shared tests.
type Transport struct {
	// Serve starts a server with opts on ln and returns it, the address
	// clients dial, and a function that stops it and everything Serve
	// started.
	Serve func(t *testing.T, ln net.Listener, opts adapters.ServerOptions) (srv *adapters.Server, addr string, stop func(context.Context) error)
	// Dial connects a client to addr.
	Dial func(ctx context.Context, addr string, opts adapters.ClientOptions) (*adapters.Client, error)
	// Raw opens a raw connection to addr (see RawConn).
	Raw func(ctx context.Context, addr string) (RawConn, error)
}
