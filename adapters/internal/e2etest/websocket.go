package e2etest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/session"
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

// RefusedUpgrade checks what a WebSocket server does with an upgrade
// request that its admission refuses (its source already has
// MaxPendingPerSource connections awaiting HELLO): it answers 503 with
// Retry-After and closes the connection, rather than keeping it alive
// for another request, where it would hold the http.Server's goroutine
// and buffers outside every limit for as long as the client liked.
func RefusedUpgrade(t *testing.T, tr Transport) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, addr, stop := tr.Serve(t, ln, adapters.ServerOptions{Session: session.ServerConfig{
		MaxPendingPerSource: 1,
		HandshakeTimeout:    time.Hour, // the first connection stays pending
	}})
	defer func() {
		// Its own context: a failure may have used up ctx.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	pending, err := tr.Raw(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Close()
	// The upgrade is answered before the server attaches the connection.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for srv.Stats().Connections < 1 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the first connection was never attached")
		}
	}

	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: "+ln.Addr().String()+"\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Errorf("refused upgrade answered %s, Retry-After %q, Connection: close %t; want 503, a Retry-After, close",
			resp.Status, resp.Header.Get("Retry-After"), resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the 503, reading the connection returned %v, want EOF: the server kept it open", err)
	}
}
