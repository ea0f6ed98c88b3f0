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

type Chat struct{ Text string }

// Named handlers: a Mux routes each method and event to its handler, with
// the application's own types; a client publishes to a room it is in.
func ExampleMux() {
	ctx := context.Background()
	got := make(chan string, 2)
	mux := adapters.NewMux()
	adapters.HandleMethod(mux, "quote", func(ctx context.Context, r adapters.Request, q Quote) (Price, error) {
		return Price{Symbol: q.Symbol, Cents: 4200}, nil
	})
	adapters.HandleEvent(mux, "chat", func(ctx context.Context, m adapters.Message, c Chat, err error) {
		got <- fmt.Sprintf("server: %q in room %q", c.Text, m.Room)
	})
	srv := netconn.NewServer(adapters.ServerOptions{
		Session: session.ServerConfig{AllowRoom: func(session.RoomRequest) bool { return true }},
		Mux:     mux,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	member := func() *adapters.Client {
		cmux := adapters.NewMux()
		adapters.HandleEvent(cmux, "chat", func(ctx context.Context, m adapters.Message, c Chat, err error) {
			got <- fmt.Sprintf("member: %q in room %q", c.Text, m.Room)
		})
		c, err := netconn.Dial(ctx, "tcp", ln.Addr().String(), adapters.ClientOptions{Mux: cmux})
		if err != nil {
			panic(err)
		}
		return c
	}
	c1, c2 := member(), member()

	price, err := adapters.Invoke[Quote, Price](ctx, c1, "quote", Quote{Symbol: "BTC"})
	fmt.Println(price, err)
	_, err = adapters.Invoke[Quote, Price](ctx, c1, "buy", Quote{Symbol: "BTC"})
	fmt.Println(err)
	err = adapters.Publish(ctx, c1, "lobby", "chat", Chat{Text: "hi"})
	fmt.Println(err)

	_ = c1.Join(ctx, "lobby")
	_ = c2.Join(ctx, "lobby")
	if err := adapters.Publish(ctx, c1, "lobby", "chat", Chat{Text: "hi all"}); err != nil {
		panic(err)
	}
	a, b := <-got, <-got
	if a > b {
		a, b = b, a
	}
	fmt.Println(a)
	fmt.Println(b)

	c1.Close(ctx)
	c2.Close(ctx)
	srv.Close(ctx)
	// Output:
	// {BTC 4200} <nil>
	// session: remote error not-found: unknown method
	// session: remote error forbidden: not a member of the room
	// member: "hi all" in room "lobby"
	// server: "hi all" in room "lobby"
}
