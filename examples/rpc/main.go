// Command rpc is a request/response service over TCP (package netconn):
// typed requests with CBOR payloads, error responses, and a request from
// the server back to its client.
//
//	go run ./examples/rpc                          # in-process server and client
//	go run ./examples/rpc -serve 127.0.0.1:9090    # a server only
//	go run ./examples/rpc -connect 127.0.0.1:9090  # a client only
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/netconn"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Convert asks for an amount in one currency to be converted to another.
type Convert struct {
	Amount   int64 // in cents
	From, To string
}

// Converted is the answer to Convert.
type Converted struct {
	Amount int64 // in cents
	Rate   float64
}

// Version is what the server asks its clients.
type Version struct{}

// ErrCodeUnknownCurrency is this service's own error code.
const ErrCodeUnknownCurrency = proto.ErrCodeApplication + 1

var ratesToEUR = map[string]float64{"EUR": 1, "USD": 0.92, "GBP": 1.17, "JPY": 0.0061}

func convert(_ context.Context, _ adapters.Request, c Convert) (Converted, error) {
	from, ok1 := ratesToEUR[c.From]
	to, ok2 := ratesToEUR[c.To]
	if !ok1 || !ok2 {
		return Converted{}, &session.RemoteError{Code: ErrCodeUnknownCurrency, Message: "unknown currency"}
	}
	rate := from / to
	return Converted{Amount: int64(float64(c.Amount)*rate + 0.5), Rate: rate}, nil
}

func main() {
	serve := flag.String("serve", "", "run a server only, listening on this address")
	connect := flag.String("connect", "", "run a client only, connecting to this address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var err error
	switch {
	case *serve != "":
		var ln net.Listener
		if ln, err = net.Listen("tcp", *serve); err == nil {
			log.Printf("rpc server on %s", ln.Addr())
			err = runServer(ctx, ln)
		}
	case *connect != "":
		err = runClient(ctx, *connect)
	default:
		var ln net.Listener
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			break
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- runServer(sctx, ln) }()
		err = runClient(ctx, ln.Addr().String())
		cancel()
		if serr := <-done; err == nil {
			err = serr
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

func runServer(ctx context.Context, ln net.Listener) error {
	var srv *netconn.Server
	srv = netconn.NewServer(adapters.ServerOptions{
		OnRequest: adapters.HandleRequest(nil, nil, convert),
		OnEvent: func(ctx context.Context, ev session.Event) {
			if st, ok := ev.(*session.SessionStarted); ok {
				// Ask the new client what it runs: requests go both ways.
				v, err := adapters.Call[Version, string](ctx, srv.Peer(st.Client), Version{})
				if err != nil {
					log.Printf("version of %s: %v", st.Client, err)
					return
				}
				log.Printf("client %s runs %s", st.Client, v)
			}
		},
	})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	<-ctx.Done()
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Close(closeCtx)
	if serr := <-done; !errors.Is(serr, adapters.ErrServerClosed) {
		return serr
	}
	return err
}

func runClient(ctx context.Context, addr string) error {
	c, err := netconn.Dial(ctx, "tcp", addr, adapters.ClientOptions{
		OnRequest: adapters.HandleRequest(nil, nil, func(context.Context, adapters.Request, Version) (string, error) {
			return "rpc-example/1.0", nil
		}),
	})
	if err != nil {
		return err
	}
	asks := []Convert{
		{Amount: 10000, From: "USD", To: "EUR"},
		{Amount: 2500, From: "GBP", To: "USD"},
		{Amount: 100, From: "EUR", To: "XXX"},
	}
	for _, a := range asks {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		got, err := adapters.Call[Convert, Converted](callCtx, c, a)
		cancel()
		var re *session.RemoteError
		switch {
		case errors.As(err, &re) && re.Code == ErrCodeUnknownCurrency:
			fmt.Printf("%s %s -> %s: %s\n", cents(a.Amount), a.From, a.To, re.Message)
		case err != nil:
			return err
		default:
			fmt.Printf("%s %s -> %s %s (rate %.4f)\n", cents(a.Amount), a.From, cents(got.Amount), a.To, got.Rate)
		}
	}
	return c.Close(ctx)
}

func cents(v int64) string {
	s := fmt.Sprintf("%d.%02d", v/100, v%100)
	return strings.TrimSuffix(s, ".00")
}
