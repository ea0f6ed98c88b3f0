package netconn_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/netconn"
)

// BenchmarkRoundTrip compares one request and its response at a time over
// TCP loopback with the same exchange over raw length-prefixed TCP (the
// client writes, the server echoes, the client reads):
//
//	go test -run=NONE -bench=RoundTrip -benchmem ./adapters/netconn
func BenchmarkRoundTrip(b *testing.B) {
	msg := []byte(strings.Repeat("x", 64))
	b.Run("raw", func(b *testing.B) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
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
		r := netconn.NewReader(bufio.NewReader(c), 1<<20)
		out := netconn.AppendMessage(nil, msg)
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(out); err != nil {
				b.Fatal(err)
			}
			if _, err := r.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		c.Close()
		<-served
	})
	b.Run("bettersocket", func(b *testing.B) {
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
		b.ResetTimer()
		for range b.N {
			if _, err := c.Request(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		c.Close(ctx)
		srv.Close(ctx)
		<-served
	})
}
