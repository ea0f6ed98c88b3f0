package gorilla_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
)

// The benchmarks compare better-socket over gorilla/websocket with raw
// gorilla/websocket in the same run:
//
//	go test -run=NONE -bench=. -benchmem ./adapters/gorilla
//
// Throughput: one client pipelines 64-byte messages to the server (raw: one
// WriteMessage per message; better-socket: Send, which the driver batches).
// Latency: one request and its response at a time (raw: write, server
// echoes, read). Idle: the server's heap per idle connected client, measured
// in a server subprocess with 1,000 clients.

var msg64 = []byte(strings.Repeat("x", 64))

func wsURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// rawServer upgrades and runs serve on each connection.
func rawServer(serve func(ws *websocket.Conn)) *httptest.Server {
	up := websocket.Upgrader{}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		serve(ws)
	}))
}

func BenchmarkThroughput(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		done := make(chan struct{})
		n := b.N
		s := rawServer(func(ws *websocket.Conn) {
			for i := 0; i < n; i++ {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
			close(done)
		})
		defer s.Close()
		ws, _, err := websocket.DefaultDialer.Dial(wsURL(s), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.Close()
		b.SetBytes(int64(len(msg64)))
		b.ResetTimer()
		for range b.N {
			if err := ws.WriteMessage(websocket.BinaryMessage, msg64); err != nil {
				b.Fatal(err)
			}
		}
		<-done
		b.StopTimer()
		reportRate(b)
	})
	b.Run("bettersocket", func(b *testing.B) {
		ctx := benchCtx(b)
		var got atomic.Int64
		done := make(chan struct{})
		n := int64(b.N)
		srv := gorilla.NewServer(adapters.ServerOptions{OnMessage: func(context.Context, adapters.Message) {
			if got.Add(1) == n {
				close(done)
			}
		}})
		s := httptest.NewServer(srv)
		defer s.Close()
		defer srv.Close(ctx)
		c, err := gorilla.Dial(ctx, wsURL(s), adapters.ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(ctx)
		b.SetBytes(int64(len(msg64)))
		b.ResetTimer()
		for range b.N {
			if err := c.Send(ctx, msg64); err != nil {
				b.Fatal(err)
			}
		}
		<-done
		b.StopTimer()
		reportRate(b)
	})
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		s := rawServer(func(ws *websocket.Conn) {
			for {
				_, m, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if err := ws.WriteMessage(websocket.BinaryMessage, m); err != nil {
					return
				}
			}
		})
		defer s.Close()
		ws, _, err := websocket.DefaultDialer.Dial(wsURL(s), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.Close()
		b.ResetTimer()
		for range b.N {
			if err := ws.WriteMessage(websocket.BinaryMessage, msg64); err != nil {
				b.Fatal(err)
			}
			if _, _, err := ws.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bettersocket", func(b *testing.B) {
		ctx := benchCtx(b)
		srv := gorilla.NewServer(adapters.ServerOptions{OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) {
			return r.Payload, nil
		}})
		s := httptest.NewServer(srv)
		defer s.Close()
		defer srv.Close(ctx)
		c, err := gorilla.Dial(ctx, wsURL(s), adapters.ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(ctx)
		b.ResetTimer()
		for range b.N {
			if _, err := c.Request(ctx, msg64); err != nil {
				b.Fatal(err)
			}
		}
	})
}
