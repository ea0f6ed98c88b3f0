package e2etest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// ChaosSecure runs SecureChaos over tr in each encryption mode: forced
// reconnects and resumes, every message exactly once and in order.
func ChaosSecure(t *testing.T, tr Transport) {
	for _, mode := range []secure.Mode{secure.PSK, secure.ServerKey, secure.Mutual} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := SecureChaos
			cfg.Secure = mode
			Chaos(t, tr, cfg)
		})
	}
}

// SecureRefusals runs a mutual-mode server over tr and dials it with a
// client of every wrong kind (plaintext, another mode, a wrong pinned key,
// an unknown client key) while an honest client is connected: each wrong
// one fails Dial with CLOSE security, the honest one carries on.
func SecureRefusals(t *testing.T, tr Transport) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	honestCfg, serverCfg := SecureConfigs(t, secure.Mutual, 7, 0)
	serverCfg.KnownClient = func(k secure.PublicKey) bool { return k == honestCfg.Static.Public }
	var sawKey atomic.Value
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, addr, stop := tr.Serve(t, ln, adapters.ServerOptions{
		Session: session.ServerConfig{Authorize: func(r session.AuthRequest) error {
			sawKey.Store(r.ClientKey)
			return nil
		}},
		Secure: serverCfg,
		OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) {
			return append([]byte("re:"), r.Payload...), nil
		},
	})
	honest, err := tr.Dial(ctx, addr, adapters.ClientOptions{Secure: honestCfg})
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := sawKey.Load().(secure.PublicKey); k != honestCfg.Static.Public {
		t.Fatalf("Authorize saw key %s, want the client's %s", k, honestCfg.Static.Public)
	}
	stranger, _ := SecureConfigs(t, secure.Mutual, 7, 5) // a key the server does not know
	wrongPin := honestCfg
	wrongPin.ServerKey = stranger.Static.Public
	psk, _ := SecureConfigs(t, secure.PSK, 7, 0)
	serverKey, _ := SecureConfigs(t, secure.ServerKey, 7, 0)
	for name, cfg := range map[string]secure.Config{
		"plaintext":          {},
		"psk mode":           psk,
		"server-key mode":    serverKey,
		"wrong pinned key":   wrongPin,
		"unknown client key": stranger,
	} {
		cl, err := tr.Dial(ctx, addr, adapters.ClientOptions{Secure: cfg})
		var ce *session.CloseError
		if err == nil || !errors.As(err, &ce) || ce.Code != proto.CloseSecurity {
			if cl != nil {
				cl.Close(ctx)
			}
			t.Errorf("%s: Dial = %v, want CLOSE security", name, err)
		}
		resp, err := honest.Request(ctx, []byte(name))
		if err != nil || !bytes.Equal(resp, []byte("re:"+name)) {
			t.Fatalf("honest client after %s: %q, %v", name, resp, err)
		}
	}
	if st := srv.Stats(); st.SessionsStarted != 1 || st.ProtocolErrors < 5 {
		t.Errorf("server stats: %d sessions started, %d protocol errors; want 1, at least 5", st.SessionsStarted, st.ProtocolErrors)
	}
	if err := honest.Close(ctx); err != nil {
		t.Error(err)
	}
	if err := stop(ctx); err != nil {
		t.Error(err)
	}
}
