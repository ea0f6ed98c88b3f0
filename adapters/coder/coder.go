// Package coder runs better-socket over github.com/coder/websocket, which
// also works in the browser (GOOS=js GOARCH=wasm) for clients. Each
// transport message is one binary WebSocket message; the read limit is the
// configured maximum message size, so an oversized message is refused by
// coder/websocket (close status 1009) before it is read.
//
// A server is a [Server], an http.Handler (not in the browser); a client is
// made by [Dial] (or [Dialer.Dial] with websocket.DialOptions). Everything
// else is the API of package adapters.
package coder

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/coder/websocket"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/internal/readbuf"
	"github.com/bettersocket/bettersocket/adapters/internal/refuse"
	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

type conn struct {
	ws  *websocket.Conn
	buf *readbuf.Buffer
}

// NewConn wraps ws as a transport connection whose incoming messages are
// limited to max bytes (it sets ws's read limit). Servers of this package
// call it; while it waits for a message, the connection holds no read
// memory.
func NewConn(ws *websocket.Conn, max int) adapters.Conn { return newConn(ws, max, true) }

// newConn is NewConn; pooled says whether its read memory is borrowed per
// message (servers: idle connections hold none) or kept (a client's one
// connection, which saves the borrowing).
func newConn(ws *websocket.Conn, max int, pooled bool) conn {
	ws.SetReadLimit(int64(max))
	return conn{ws, &readbuf.Buffer{Pooled: pooled}}
}

// ReadMessage returns the next message, in memory that the next call
// reuses (adapters.Conn allows it).
func (c conn) ReadMessage() ([]byte, error) {
	c.buf.Release() // the last message is done with
	_, r, err := c.ws.Reader(context.Background())
	var b []byte
	if err == nil {
		b, err = c.buf.ReadAll(r)
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return nil, fmt.Errorf("coder: %w: %w", codec.ErrTooLarge, err)
	}
	return b, err
}

func (c conn) WriteMessages(msgs [][]byte) error {
	for _, m := range msgs {
		if err := c.ws.Write(context.Background(), websocket.MessageBinary, m); err != nil {
			return err
		}
	}
	return nil
}

// Close runs the WebSocket close handshake with code as the status (the
// protocol's close codes are valid WebSocket statuses).
func (c conn) Close(code proto.CloseCode, reason string) error {
	return c.ws.Close(websocket.StatusCode(code), adapters.CloseReason(reason))
}

// CloseNow closes the connection without the close handshake; the driver
// uses it when it must not wait.
func (c conn) CloseNow() error { return c.ws.CloseNow() }

// Server is an http.Handler that accepts WebSocket connections and serves
// better-socket on them.
type Server struct {
	*adapters.Server
	// AcceptOptions are passed to websocket.Accept (origin patterns,
	// subprotocols). Set them before serving, not while.
	AcceptOptions *websocket.AcceptOptions
}

// NewServer returns a running server; mount it on an http.ServeMux or pass
// it to an http.Server, and stop it with Close.
//
// A server that faces its clients directly is best served with Run, which
// serves on its AdmittingListener: that closes the connections of
// over-limit sources before the http.Server spends anything on them. On an
// http.Server of your own, serve s.AdmittingListener(ln) and give it a
// ReadHeaderTimeout (HandshakeTimeout's 10 s, say): a connection that
// stalls in its upgrade request is net/http's alone, outside the server's
// limits (the AdmittingListener counts only those that have sent
// nothing), until that timeout.
func NewServer(opts adapters.ServerOptions) *Server {
	return &Server{Server: adapters.NewServer(opts)}
}

// ServeHTTP accepts the WebSocket and attaches the connection. A failed
// handshake has already been answered by websocket.Accept. A request the
// server would refuse at once for its limits on connections awaiting HELLO
// (adapters.Server.AdmitsHTTP) is answered 503 Service Unavailable, with
// Retry-After, before any upgrade, and its connection closed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.AdmitsHTTP(r) {
		refuse.HTTP(w)
		return
	}
	ws, err := websocket.Accept(w, r, s.AcceptOptions)
	if err != nil {
		return
	}
	s.AttachHTTP(NewConn(ws, s.MaxMessageSize()), r)
}

// Dialer connects clients over WebSocket.
type Dialer struct {
	// Options are passed to websocket.Dial (HTTP client, headers,
	// subprotocols) for the first connection and every reconnect.
	Options *websocket.DialOptions
}

// Dial connects to the server at url ("ws://host/path" or "wss://...");
// see adapters.Dial for what it waits for.
func Dial(ctx context.Context, url string, opts adapters.ClientOptions) (*adapters.Client, error) {
	return (&Dialer{}).Dial(ctx, url, opts)
}

// Dial connects to the server at url; reconnects use the same url and
// options.
func (d *Dialer) Dial(ctx context.Context, url string, opts adapters.ClientOptions) (*adapters.Client, error) {
	max := adapters.MaxMessageSize(opts.Session.LinkConfig)
	return adapters.Dial(ctx, func(ctx context.Context) (adapters.Conn, error) {
		ws, resp, err := websocket.Dial(ctx, url, d.Options)
		if err != nil {
			return nil, fmt.Errorf("coder: dial %s: %w", url, err)
		}
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return newConn(ws, max, false), nil
	}, opts)
}
