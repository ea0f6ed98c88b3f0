package e2etest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/bettersocket/bettersocket/adapters"
)

// WebSocket is the Transport of a WebSocket adapter: newServer makes the
// server and its http.Handler, served by an http.Server on the listener;
// dial connects to its ws:// URL; raw peers are gorilla/websocket clients.
func WebSocket(
	newServer func(adapters.ServerOptions) (*adapters.Server, http.Handler),
	dial func(ctx context.Context, url string, opts adapters.ClientOptions) (*adapters.Client, error),
) Transport {
	return Transport{
		Serve: func(t *testing.T, ln net.Listener, opts adapters.ServerOptions) (*adapters.Server, string, func(context.Context) error) {
			srv, h := newServer(opts)
			hs := &http.Server{Handler: h}
			done := make(chan error, 1)
			go func() { done <- hs.Serve(ln) }()
			return srv, "ws://" + ln.Addr().String() + "/", func(ctx context.Context) error {
				hs.Close()
				if err := <-done; !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("http.Server.Serve returned %v", err)
				}
				return srv.Close(ctx)
			}
		},
		Dial: dial,
		Raw:  DialWebSocket,
	}
}
