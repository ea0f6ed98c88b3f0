package gorilla_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
)

// The benchmarks compare better-socket over gorilla/websocket with raw
// gorilla/websocket in the same run:
//
//	go test -run=NONE -bench=. -benchmem ./adapters/gorilla
//
// Throughput: one client pipelines 64-byte messages to the server (raw: one
// WriteMessage per message; better-socket: Send, which the driver batches).
// Latency: one request and its response at a time (raw: write, server
// echoes, read); RoundTripSideBySide alternates the two and reports their
// ratio. Idle: the server's heap per idle connected client, measured
// in a server subprocess with 1,000 clients.

var msg64 = []byte(strings.Repeat("x", 64))

func wsURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// pair starts a better-socket server with opts and connects a client,
// encrypted in mode (secure.Off: plaintext); both are closed when b ends.
func pair(ctx context.Context, b *testing.B, opts adapters.ServerOptions, mode secure.Mode) *adapters.Client {
	copts := adapters.ClientOptions{}
	copts.Secure, opts.Secure = e2etest.SecureConfigs(b, mode, 1, 0)
	_, c := pairWith(ctx, b, opts, copts)
	return c
}

// pairWith is pair with the client's options given.
func pairWith(ctx context.Context, b *testing.B, opts adapters.ServerOptions, copts adapters.ClientOptions) (*gorilla.Server, *adapters.Client) {
	srv := gorilla.NewServer(opts)
	s := httptest.NewServer(srv)
	c, err := gorilla.Dial(ctx, wsURL(s), copts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.Close(ctx)
		srv.Close(ctx)
		s.Close()
	})
	return srv, c
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
	for _, mode := range []secure.Mode{secure.Off, secure.PSK} {
		name := "bettersocket"
		if mode != secure.Off {
			name += "-" + mode.String() // every mode seals alike after the handshake
		}
		b.Run(name, func(b *testing.B) {
			ctx := benchCtx(b)
			var got atomic.Int64
			done := make(chan struct{})
			n := int64(b.N)
			c := pair(ctx, b, adapters.ServerOptions{OnMessage: func(context.Context, adapters.Message) {
				if got.Add(1) == n {
					close(done)
				}
			}}, mode)
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
}

func BenchmarkRoundTrip(b *testing.B) { e2etest.RoundTrips(b, rawEcho, echo) }

// BenchmarkRoundTripSideBySide alternates blocks of raw and better-socket
// round trips and reports their ratio (see e2etest.SideBySide).
func BenchmarkRoundTripSideBySide(b *testing.B) { e2etest.SideBySide(b, rawEcho, echo) }

// BenchmarkRoundTripSecure alternates blocks of plaintext and encrypted
// (psk) round trips and reports their ratio: what sealing costs a request.
func BenchmarkRoundTripSecure(b *testing.B) {
	e2etest.Compare(b, "plain", echo, "psk", func(b *testing.B) func() { return echoMode(b, secure.PSK) })
}

// echoBack is a raw gorilla/websocket server's handler that echoes each
// message until the connection fails.
func echoBack(ws *websocket.Conn) {
	for {
		_, m, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if err := ws.WriteMessage(websocket.BinaryMessage, m); err != nil {
			return
		}
	}
}

// rawEcho connects a raw gorilla/websocket client to a server that echoes
// each message, and returns one round trip: write 64 bytes, read the echo.
func rawEcho(b *testing.B) func() {
	s := rawServer(echoBack)
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(s), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ws.Close()
		s.Close()
	})
	return func() {
		if err := ws.WriteMessage(websocket.BinaryMessage, msg64); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// echo connects a better-socket client to a server whose request handler
// echoes the payload, and returns one round trip: a 64-byte Request.
func echo(b *testing.B) func() { return echoMode(b, secure.Off) }

func echoMode(b *testing.B, mode secure.Mode) func() {
	ctx := benchCtx(b)
	c := pair(ctx, b, adapters.ServerOptions{OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) {
		return r.Payload, nil
	}}, mode)
	return func() {
		if _, err := c.Request(ctx, msg64); err != nil {
			b.Fatal(err)
		}
	}
}

const idleClients = 1000

// idleServer is the idle server subprocess of BenchmarkIdleClients and
// TestIdleReaderStackIsHalved (e2etest.IdleServe): "raw" for raw
// gorilla/websocket, whose handler reads and drops messages, or
// "bettersocket".
func idleServer(mode string) (addr string, clients func() int64) {
	if mode != "raw" {
		srv := gorilla.NewServer(e2etest.OneSource)
		return e2etest.IdleHTTP(srv, e2etest.Sessions(srv.Server))
	}
	var conns atomic.Int64
	up := websocket.Upgrader{WriteBufferPool: &sync.Pool{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conns.Add(1)
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				ws.Close()
				return
			}
		}
	})
	return e2etest.IdleHTTP(h, conns.Load)
}

// idleDial connects an idle client of mode's server.
func idleDial(mode string) func(ctx context.Context, addr string) (func(), error) {
	return func(ctx context.Context, addr string) (func(), error) {
		url := "ws://" + addr + "/"
		if mode == "raw" {
			ws, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
			if err != nil {
				return nil, err
			}
			return func() { ws.Close() }, nil
		}
		c, err := gorilla.Dial(ctx, url, adapters.ClientOptions{})
		if err != nil {
			return nil, err
		}
		return func() { c.Close(ctx) }, nil
	}
}

// BenchmarkIdleClients measures the server's heap (and goroutine stacks)
// per idle connected client, with 1,000 clients, in a server subprocess so
// that the clients' own memory is not counted.
func BenchmarkIdleClients(b *testing.B) {
	e2etest.BenchmarkIdle(b, idleClients, []string{"raw", "bettersocket"}, idleDial)
}

// BenchmarkServerSend is the shape of workload W2 in one process: the
// server's Send in a loop to one client, counted when the client's handler
// has them all.
func BenchmarkServerSend(b *testing.B) {
	ctx := benchCtx(b)
	var got atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	hello := make(chan proto.ClientID, 1)
	srv, c := pairWith(ctx, b, adapters.ServerOptions{OnMessage: func(_ context.Context, m adapters.Message) {
		hello <- m.Client
	}}, adapters.ClientOptions{OnMessage: func(context.Context, adapters.Message) {
		if got.Add(1) == n {
			close(done)
		}
	}})
	if err := c.Send(ctx, msg64); err != nil {
		b.Fatal(err)
	}
	id := <-hello
	b.SetBytes(int64(len(msg64)))
	b.ResetTimer()
	for range b.N {
		if err := srv.Send(ctx, id, msg64); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.StopTimer()
	reportRate(b)
}
