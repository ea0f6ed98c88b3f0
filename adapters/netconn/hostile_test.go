package netconn_test

import (
	"context"
	"os"
	"testing"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
	"github.com/bettersocket/bettersocket/adapters/netconn"
)

var loadTransport = e2etest.LoadTransport{
	Transport: transport,
	DialWith: func(ctx context.Context, addr string, dial e2etest.NetDial, opts adapters.ClientOptions) (*adapters.Client, error) {
		return (&netconn.Dialer{DialContext: dial}).Dial(ctx, "tcp", addr, opts)
	},
	RawWith: e2etest.RawTCPWith,
	Stream:  true,
}

func TestHostileLoad(t *testing.T) { e2etest.HostileLoad(t, loadTransport) }

func TestMeasureHostile(t *testing.T) {
	e2etest.MeasureHostile(t, loadTransport, os.Getenv(e2etest.MeasureEnv))
}

func TestPeerInfo(t *testing.T) { e2etest.PeerInfo(t, loadTransport, false) }
