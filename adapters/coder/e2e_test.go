package coder_test

import (
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/coder"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var transport = e2etest.WebSocket(func(opts adapters.ServerOptions) (*adapters.Server, http.Handler) {
	s := coder.NewServer(opts)
	return s.Server, s
}, coder.Dial)

func TestChaos(t *testing.T) { e2etest.Chaos(t, transport, e2etest.DefaultChaos) }

func TestHostile(t *testing.T) { e2etest.Hostile(t, transport, true) }
