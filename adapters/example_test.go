package adapters_test

import (
	"bytes"
	"context"
	"fmt"
	"net"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/netconn"
	"github.com/bettersocket/bettersocket/session"
)

// A server that answers requests and a client that sends a message and
// makes a request. The transport here is TCP (package netconn); gorilla and
// coder work the same way over WebSocket.
func Example() {
	ctx := context.Background()
	got := make(chan string, 1)
	srv := netconn.NewServer(adapters.ServerOptions{
		OnMessage: func(ctx context.Context, m adapters.Message) { got <- string(m.Payload) },
		OnRequest: func(ctx context.Context, r adapters.Request) ([]byte, error) {
			return bytes.ToUpper(r.Payload), nil
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	c, err := netconn.Dial(ctx, "tcp", ln.Addr().String(), adapters.ClientOptions{})
	if err != nil {
		panic(err)
	}
	if err := c.Send(ctx, []byte("hello, server")); err != nil {
		panic(err)
	}
	fmt.Println("server got:", <-got)
	resp, err := c.Request(ctx, []byte("shout this"))
	fmt.Printf("response: %s %v\n", resp, err)

	fmt.Println("client close:", c.Close(ctx))
	fmt.Println("server close:", srv.Close(ctx))
	// Output:
	// server got: hello, server
	// response: SHOUT THIS <nil>
	// client close: <nil>
	// server close: <nil>
}

type Quote struct{ Symbol string }

type Price struct {
	Symbol string
	Cents  int64
}

// Typed requests: the server registers a handler for its own types, the
// client calls it with them. Payloads are CBOR unless a codec says
// otherwise.
func ExampleCall() {
	ctx := context.Background()
	srv := netconn.NewServer(adapters.ServerOptions{
		OnRequest: adapters.HandleRequest(nil, nil, func(ctx context.Context, r adapters.Request, q Quote) (Price, error) {
			return Price{Symbol: q.Symbol, Cents: 4200}, nil
		}),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close(ctx)

	c, err := netconn.Dial(ctx, "tcp", ln.Addr().String(), adapters.ClientOptions{})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	p, err := adapters.Call[Quote, Price](ctx, c, Quote{Symbol: "GOPHER"})
	fmt.Println(p.Symbol, p.Cents, err)
	// Output: GOPHER 4200 <nil>
}

// Rooms: clients ask to join (the server's AllowRoom hook decides), the
// server broadcasts into each member's own sequence.
func ExampleServer_Broadcast() {
	ctx := context.Background()
	srv := netconn.NewServer(adapters.ServerOptions{
		Session: session.ServerConfig{
			AllowRoom: func(r session.RoomRequest) bool { return r.Room == "news" },
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close(ctx)

	got := make(chan string, 1)
	c, err := netconn.Dial(ctx, "tcp", ln.Addr().String(), adapters.ClientOptions{
		OnMessage: func(ctx context.Context, m adapters.Message) { got <- m.Room + ": " + string(m.Payload) },
	})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	fmt.Println("join news:", c.Join(ctx, "news"))
	fmt.Println("join secret:", c.Join(ctx, "secret"))
	if err := srv.Broadcast(ctx, "news", []byte("extra, extra")); err != nil {
		panic(err)
	}
	fmt.Println(<-got)
	// Output:
	// join news: <nil>
	// join secret: session: remote error forbidden: room request refused
	// news: extra, extra
}
