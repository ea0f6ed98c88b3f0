package gorilla_test

import (
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(e2etest.IdleEnv); mode != "" {
		e2etest.IdleServe(func() (string, func() int64) { return idleServer(mode) })
	}
	goleak.VerifyTestMain(m)
}

func newServer(opts adapters.ServerOptions) (*adapters.Server, http.Handler) {
	s := gorilla.NewServer(opts)
	return s.Server, s
}

var transport = e2etest.WebSocket(newServer, gorilla.Dial)

func TestChaos(t *testing.T) { e2etest.Chaos(t, transport, e2etest.DefaultChaos) }

func TestChaosSecure(t *testing.T) { e2etest.ChaosSecure(t, transport) }

func TestSecureRefusals(t *testing.T) { e2etest.SecureRefusals(t, transport) }

func TestHostile(t *testing.T) { e2etest.Hostile(t, transport, true) }

func TestConnectionEvents(t *testing.T) { e2etest.ConnectionEvents(t, transport) }

func TestFirstDialRetries(t *testing.T) { e2etest.FirstDialRetries(t, transport) }

func TestBroadcastBurst(t *testing.T) { e2etest.BroadcastBurst(t, transport) }

func TestRefusedUpgrade(t *testing.T) { e2etest.RefusedUpgrade(t, transport) }

func TestRefusedAtAccept(t *testing.T) {
	e2etest.RefusedAtAccept(t, e2etest.WebSocketAdmitting(newServer, gorilla.Dial))
}

func TestSilentCountsAtAccept(t *testing.T) {
	e2etest.SilentCountsAtAccept(t, e2etest.WebSocketAdmitting(newServer, gorilla.Dial))
}
