package gorilla_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

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
