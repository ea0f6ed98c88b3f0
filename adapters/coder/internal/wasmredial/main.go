//go:build js && wasm

// Command wasmredial is the browser client of the coder adapter's browser
// test (TestBrowserRedialAfterRefusal): the Go client compiled to js/wasm.
// It dials the page's server at /ws, then sends one request, "ping", with
// a 9 s deadline of its own, and says in window.redial what happened:
//
//	connected: Dial returned a client
//	reply:     the request's answer
//	error:     what went wrong, if anything did
//
// It sets no event handler and runs nothing else, so that no goroutine
// but the driver's wakes while it waits: the test cuts its connection
// while the request is pending and refuses its next handshake.
package main

import (
	"context"
	"syscall/js"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/coder"
)

func main() {
	state := js.Global().Get("Object").New()
	state.Set("connected", false)
	js.Global().Set("redial", state)
	url := "ws://" + js.Global().Get("location").Get("host").String() + "/ws"
	c, err := coder.Dial(context.Background(), url, adapters.ClientOptions{})
	if err != nil {
		state.Set("error", "dial: "+err.Error())
		select {}
	}
	state.Set("connected", true)
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	reply, err := c.Request(ctx, []byte("ping"))
	if err != nil {
		state.Set("error", "request: "+err.Error())
	} else {
		state.Set("reply", string(reply))
	}
	select {} // the page lives until the browser goes
}
