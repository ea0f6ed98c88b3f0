package e2etest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
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
	return webSocket(newServer, dial, false)
}

// WebSocketAdmitting is WebSocket with the http.Server serving the
// server's AdmittingListener.
func WebSocketAdmitting(
	newServer func(adapters.ServerOptions) (*adapters.Server, http.Handler),
	dial func(ctx context.Context, url string, opts adapters.ClientOptions) (*adapters.Client, error),
) Transport {
	return webSocket(newServer, dial, true)
}

func webSocket(
	newServer func(adapters.ServerOptions) (*adapters.Server, http.Handler),
	dial func(ctx context.Context, url string, opts adapters.ClientOptions) (*adapters.Client, error),
	admitting bool,
) Transport {
	return Transport{
		Serve: func(t *testing.T, ln net.Listener, opts adapters.ServerOptions) (*adapters.Server, string, func(context.Context) error) {
			srv, h := newServer(opts)
			hs := &http.Server{Handler: h}
			l := ln
			if admitting {
				l = srv.AdmittingListener(ln)
			}
			done := make(chan error, 1)
			go func() { done <- hs.Serve(l) }()
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
	Refused(t, tr, func(ctx context.Context, nc net.Conn, br *bufio.Reader) {
		writeUpgrade(t, nc)
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
	})
}

// RefusedAtAccept checks a WebSocket server served through its
// AdmittingListener (tr from WebSocketAdmitting): a connection from a
// source with MaxPendingPerSource connections awaiting HELLO is closed
// before any HTTP response, the refusal counts in Throttled, and once the
// pending connection is gone the source is admitted again.
func RefusedAtAccept(t *testing.T, tr Transport) {
	Refused(t, tr, func(ctx context.Context, nc net.Conn, br *bufio.Reader) {
		b, err := br.ReadByte()
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a refused connection read %q, %v; want it closed at once", b, err)
		}
	})
}

// Refused runs check on a connection (and a reader of it) from a source
// whose one allowed connection awaiting HELLO is taken; then it checks
// that the refusal was counted and that the source is admitted again once
// that connection is gone.
func Refused(t *testing.T, tr Transport, check func(ctx context.Context, nc net.Conn, br *bufio.Reader)) {
	ctx, srv, addr, lnAddr, connections := onePerSource(t, tr)
	pending, err := tr.Raw(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Close()
	// The upgrade is answered before the server attaches the connection.
	connections(1)

	nc, br := dialTCP(ctx, t, lnAddr)
	check(ctx, nc, br)
	if th := srv.Stats().Throttled; th != 1 {
		t.Errorf("Throttled %d, want 1", th)
	}

	pending.Close()
	connections(0)
	again, err := tr.Raw(ctx, addr)
	if err != nil {
		t.Fatalf("the source is not admitted again: %v", err)
	}
	again.Close()
}

// SilentCountsAtAccept checks that a server served through its
// AdmittingListener counts a connection that has sent nothing yet as
// awaiting HELLO: with one allowed per source, the next connection of the
// source is closed at once; once the silent one sends its upgrade request,
// it is upgraded.
func SilentCountsAtAccept(t *testing.T, tr Transport) {
	ctx, srv, _, lnAddr, connections := onePerSource(t, tr)
	silent, sbr := dialTCP(ctx, t, lnAddr)
	// The listener accepts in order: the silent connection first.
	next, br := dialTCP(ctx, t, lnAddr)
	if b, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the connection after a silent one read %q, %v; want it closed at once", b, err)
	}
	next.Close()
	if th := srv.Stats().Throttled; th != 1 {
		t.Errorf("Throttled %d, want 1", th)
	}
	writeUpgrade(t, silent)
	resp, err := http.ReadResponse(sbr, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("the silent connection's upgrade answered %s, want 101", resp.Status)
	}
	connections(1)
}

// onePerSource serves tr with one connection awaiting HELLO allowed per
// source, which waits an hour for its HELLO, until the test ends. It
// returns a context for the test, the server, its URL, its listener's
// address and a function that waits until n connections are attached.
func onePerSource(t *testing.T, tr Transport) (context.Context, *adapters.Server, string, string, func(n int)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, addr, stop := tr.Serve(t, ln, adapters.ServerOptions{Session: session.ServerConfig{
		MaxPendingPerSource: 1,
		HandshakeTimeout:    time.Hour,
	}})
	t.Cleanup(func() {
		// Its own context: a failure may have used up ctx.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := stop(ctx); err != nil {
			t.Error(err)
		}
	})
	connections := func(n int) {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for srv.Stats().Connections != n {
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("%d connections attached, want %d", srv.Stats().Connections, n)
			}
		}
	}
	return ctx, srv, addr, ln.Addr().String(), connections
}

// dialTCP opens a TCP connection to addr, closed when the test ends, with
// ctx's deadline, and a reader of it.
func dialTCP(ctx context.Context, t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	return nc, bufio.NewReader(nc)
}

// writeUpgrade writes a WebSocket upgrade request to nc.
func writeUpgrade(t *testing.T, nc net.Conn) {
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: "+nc.RemoteAddr().String()+"\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}
