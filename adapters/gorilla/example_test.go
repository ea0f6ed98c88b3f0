package gorilla_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
)

// The server is an http.Handler; the client dials its ws:// URL.
func Example() {
	ctx := context.Background()
	srv := gorilla.NewServer(adapters.ServerOptions{
		OnRequest: func(ctx context.Context, r adapters.Request) ([]byte, error) {
			return bytes.ToUpper(r.Payload), nil
		},
	})
	hs := httptest.NewServer(srv) // or http.Handle("/ws", srv)
	defer hs.Close()
	defer srv.Close(ctx)

	c, err := gorilla.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), adapters.ClientOptions{})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	resp, err := c.Request(ctx, []byte("over gorilla/websocket"))
	fmt.Printf("%s %v\n", resp, err)
	// Output: OVER GORILLA/WEBSOCKET <nil>
}

// A server that faces its clients directly: the http.Server serves the
// AdmittingListener, which closes the connections of a source over its
// limits as soon as they are accepted, and bounds how long a request may
// take to arrive.
func Example_admittingListener() {
	ctx := context.Background()
	srv := gorilla.NewServer(adapters.ServerOptions{
		OnRequest: func(ctx context.Context, r adapters.Request) ([]byte, error) {
			return bytes.ToUpper(r.Payload), nil
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(srv.AdmittingListener(ln))
	defer hs.Close()
	defer srv.Close(ctx)

	c, err := gorilla.Dial(ctx, "ws://"+ln.Addr().String()+"/", adapters.ClientOptions{})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	resp, err := c.Request(ctx, []byte("admitted"))
	fmt.Printf("%s %v\n", resp, err)
	// Output: ADMITTED <nil>
}
