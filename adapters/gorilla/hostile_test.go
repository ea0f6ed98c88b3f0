package gorilla_test

import (
	"context"
	"os"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
)

var loadTransport = e2etest.LoadTransport{
	Transport: transport,
	DialWith: func(ctx context.Context, url string, dial e2etest.NetDial, opts adapters.ClientOptions) (*adapters.Client, error) {
		return (&gorilla.Dialer{Dialer: &websocket.Dialer{NetDialContext: dial}}).Dial(ctx, url, opts)
	},
	RawWith: e2etest.RawWebSocketWith,
}

// loadAdmitting is loadTransport served through the AdmittingListener.
var loadAdmitting = func() e2etest.LoadTransport {
	tr := loadTransport
	tr.Transport = e2etest.WebSocketAdmitting(newServer, gorilla.Dial)
	return tr
}()

func TestHostileLoad(t *testing.T) { e2etest.HostileLoad(t, loadTransport) }

func TestHostileLoadAdmitting(t *testing.T) { e2etest.HostileLoad(t, loadAdmitting) }

// TestMeasureHostile also runs the attacks of the other measurements, in
// a child process (the attacks are the same).
func TestMeasureHostile(t *testing.T) {
	e2etest.MeasureHostile(t, loadTransport, os.Getenv(e2etest.MeasureEnv))
}

func TestMeasureHostileAdmitting(t *testing.T) {
	e2etest.MeasureHostile(t, loadAdmitting, os.Getenv(e2etest.MeasureEnv))
}

func TestPeerInfo(t *testing.T) { e2etest.PeerInfo(t, loadTransport, true) }
