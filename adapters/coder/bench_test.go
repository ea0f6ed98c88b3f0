package coder_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/coder"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
)

// BenchmarkIdleClients measures the server's heap and goroutine stacks per
// idle connected client, with 1,000 clients, in a server subprocess
// (e2etest.IdleClients), against raw coder/websocket, whose handler reads
// and drops messages:
//
//	go test -run=NONE -bench=Idle -benchmem ./adapters/coder
func BenchmarkIdleClients(b *testing.B) {
	e2etest.BenchmarkIdle(b, 1000, []string{"raw", "bettersocket"}, idleDial)
}

// idleServer is the idle server subprocess of BenchmarkIdleClients.
func idleServer(mode string) (addr string, clients func() int64) {
	if mode != "raw" {
		srv := coder.NewServer(e2etest.OneSource)
		return e2etest.IdleHTTP(srv, e2etest.Sessions(srv.Server))
	}
	var conns atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		conns.Add(1)
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				ws.CloseNow()
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
			ws, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				return nil, err
			}
			return func() { ws.CloseNow() }, nil
		}
		c, err := coder.Dial(ctx, url, adapters.ClientOptions{})
		if err != nil {
			return nil, err
		}
		return func() { c.Close(ctx) }, nil
	}
}
