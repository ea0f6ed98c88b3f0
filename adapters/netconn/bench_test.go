package netconn_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
	"github.com/bettersocket/bettersocket/adapters/netconn"
)

var msg64 = []byte(strings.Repeat("x", 64))

// BenchmarkRoundTrip compares one request and its response at a time over
// TCP loopback with the same exchange over raw length-prefixed TCP (the
// client writes, the server echoes, the client reads):
//
//	go test -run=NONE -bench=RoundTrip -benchmem ./adapters/netconn
//
// RoundTripSideBySide alternates the two and reports their ratio.
func BenchmarkRoundTrip(b *testing.B) { e2etest.RoundTrips(b, rawEcho, echo) }

// BenchmarkRoundTripSideBySide alternates blocks of raw and better-socket
// round trips and reports their ratio (see e2etest.SideBySide).
func BenchmarkRoundTripSideBySide(b *testing.B) { e2etest.SideBySide(b, rawEcho, echo) }

// rawEcho connects a client to a raw length-prefixed TCP echo server and
// returns one round trip.
func rawEcho(b *testing.B) func() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := netconn.NewReader(bufio.NewReader(c), 1<<20)
		var out []byte
		for {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			out = netconn.AppendMessage(out[:0], m)
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.Close()
		l.Close()
		<-served
	})
	r := netconn.NewReader(bufio.NewReader(c), 1<<20)
	out := netconn.AppendMessage(nil, msg64)
	return func() {
		if _, err := c.Write(out); err != nil {
			b.Fatal(err)
		}
		if _, err := r.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// echo connects a better-socket client to a server whose request handler
// echoes the payload, and returns one round trip: a 64-byte Request.
func echo(b *testing.B) func() {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := netconn.NewServer(adapters.ServerOptions{OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) {
		return r.Payload, nil
	}})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c, err := netconn.Dial(ctx, "tcp", l.Addr().String(), adapters.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.Close(ctx)
		srv.Close(ctx)
		<-served
	})
	return func() {
		if _, err := c.Request(ctx, msg64); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdleClients measures the server's heap and goroutine stacks per
// idle connected client, with 1,000 clients, in a server subprocess
// (e2etest.IdleClients), against a raw server that reads length-prefixed
// messages through a 4 KiB bufio.Reader per connection:
//
//	go test -run=NONE -bench=Idle -benchmem ./adapters/netconn
func BenchmarkIdleClients(b *testing.B) {
	e2etest.BenchmarkIdle(b, 1000, []string{"raw", "bettersocket"}, idleDial)
}

// idleServer is the idle server subprocess of BenchmarkIdleClients.
func idleServer(mode string) (addr string, clients func() int64) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	if mode != "raw" {
		srv := netconn.NewServer(e2etest.OneSource)
		go srv.Serve(l)
		return l.Addr().String(), e2etest.Sessions(srv.Server)
	}
	var conns atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				r := netconn.NewReader(bufio.NewReader(c), 1<<20)
				for {
					if _, err := r.ReadMessage(); err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String(), conns.Load
}

// idleDial connects an idle client of mode's server.
func idleDial(mode string) func(ctx context.Context, addr string) (func(), error) {
	return func(ctx context.Context, addr string) (func(), error) {
		if mode == "raw" {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return func() { c.Close() }, nil
		}
		c, err := netconn.Dial(ctx, "tcp", addr, adapters.ClientOptions{})
		if err != nil {
			return nil, err
		}
		return func() { c.Close(ctx) }, nil
	}
}
