// Package graceful runs a server until its context ends and then shuts it
// down within a bounded time: the one mechanism behind every transport's
// Run method.
package graceful

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ReadHeaderTimeout bounds how long the HTTP server that HTTP starts waits
// for a request's headers, so that a peer that opens a connection and sends
// nothing cannot hold it (and its goroutine) for longer. It matches the
// session's default handshake timeout.
const ReadHeaderTimeout = 10 * time.Second

// Run calls serve on a goroutine of its own and waits until ctx ends or
// serve returns. Either way it then calls shutdown with a context that
// ends after grace (and not with ctx), waits for serve to return, and
// returns what went wrong: serve's error unless closed says it is the one
// serve returns because shutdown began, joined with shutdown's error.
func Run(ctx context.Context, serve func() error, shutdown func(context.Context) error, closed func(error) bool, grace time.Duration) error {
	served := make(chan error, 1)
	go func() { served <- serve() }()
	var serveErr error
	returned := false
	select {
	case serveErr = <-served:
		returned = true
	case <-ctx.Done():
	}
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	err := shutdown(stop)
	if !returned {
		serveErr = <-served
	}
	if serveErr != nil && !closed(serveErr) {
		err = errors.Join(serveErr, err)
	}
	return err
}

// HTTP serves h on ln with an http.Server until ctx ends; then, within
// grace, it runs closeHub (the better-socket server's Close: the HTTP
// server's Shutdown does not see WebSocket connections, which are
// hijacked) and shuts the HTTP server down.
func HTTP(ctx context.Context, ln net.Listener, h http.Handler, closeHub func(context.Context) error, grace time.Duration) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout}
	return Run(ctx, func() error { return hs.Serve(ln) }, func(stop context.Context) error {
		return errors.Join(closeHub(stop), hs.Shutdown(stop))
	}, func(err error) bool { return errors.Is(err, http.ErrServerClosed) }, grace)
}
