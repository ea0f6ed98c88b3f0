// Package gorilla runs better-socket over github.com/gorilla/websocket. Each
// transport message is one binary WebSocket message; the read limit is the
// configured maximum message size, so an oversized message is refused by
// gorilla (close status 1009) before it is read.
//
// A server is a [Server], an http.Handler; a client is made by [Dial] (or
// [Dialer.Dial] for custom headers, proxies or TLS). Everything else is the
// API of package adapters.
package gorilla

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// closeWait bounds the write of a close frame.
const closeWait = time.Second

// writeBuffers is shared by every connection of every server and dialer of
// this package: an idle connection holds no write buffer.
var writeBuffers = &sync.Pool{}

type conn struct{ ws *websocket.Conn }

// NewConn wraps ws as a transport connection whose incoming messages are
// limited to max bytes (it sets ws's read limit). Servers and dialers of
// this package call it.
func NewConn(ws *websocket.Conn, max int) adapters.Conn {
	ws.SetReadLimit(int64(max))
	return conn{ws}
}

func (c conn) ReadMessage() ([]byte, error) {
	_, b, err := c.ws.ReadMessage()
	if errors.Is(err, websocket.ErrReadLimit) {
		return nil, fmt.Errorf("gorilla: %w: %w", codec.ErrTooLarge, err)
	}
	return b, err
}

func (c conn) WriteMessages(msgs [][]byte) error {
	for _, m := range msgs {
		if err := c.ws.WriteMessage(websocket.BinaryMessage, m); err != nil {
			return err
		}
	}
	return nil
}

// Close sends a close frame with code as the WebSocket status (the protocol's
// close codes are valid WebSocket statuses) and closes the connection.
func (c conn) Close(code proto.CloseCode, reason string) error {
	msg := websocket.FormatCloseMessage(int(code), adapters.CloseReason(reason))
	c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
	return c.ws.Close()
}

// Server is an http.Handler that upgrades requests to WebSocket connections
// and serves better-socket on them.
type Server struct {
	*adapters.Server
	// Upgrader upgrades the requests. NewServer sets buffer sizes and a
	// shared write buffer pool; change it (CheckOrigin, Subprotocols)
	// before serving, not while.
	Upgrader websocket.Upgrader
}

// NewServer returns a running server; mount it on an http.ServeMux or pass
// it to an http.Server, and stop it with Close (which closes the WebSocket
// connections; the http.Server has its own Shutdown).
func NewServer(opts adapters.ServerOptions) *Server {
	return &Server{
		Server: adapters.NewServer(opts),
		Upgrader: websocket.Upgrader{
			ReadBufferSize:  4096,
			WriteBufferSize: 4096,
			WriteBufferPool: writeBuffers,
		},
	}
}

// ServeHTTP upgrades the request and attaches the connection. A failed
// upgrade has already been answered by the Upgrader.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := s.Upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.Attach(NewConn(ws, s.MaxMessageSize()))
}

// Dialer connects clients over WebSocket.
type Dialer struct {
	// Dialer dials; nil means a dialer with the shared write buffer pool
	// and websocket.DefaultDialer's proxy and handshake timeout.
	Dialer *websocket.Dialer
	// Header is sent with every opening handshake (reconnects too).
	Header http.Header
}

// Dial connects to the server at url ("ws://host/path" or "wss://...");
// see adapters.Dial for what it waits for.
func Dial(ctx context.Context, url string, opts adapters.ClientOptions) (*adapters.Client, error) {
	return (&Dialer{}).Dial(ctx, url, opts)
}

// Dial connects to the server at url; reconnects use the same url and
// header.
func (d *Dialer) Dial(ctx context.Context, url string, opts adapters.ClientOptions) (*adapters.Client, error) {
	wd := d.Dialer
	if wd == nil {
		wd = &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: 45 * time.Second,
			WriteBufferPool:  writeBuffers,
		}
	}
	max := adapters.MaxMessageSize(opts.Session.LinkConfig)
	return adapters.Dial(ctx, func(ctx context.Context) (adapters.Conn, error) {
		ws, resp, err := wd.DialContext(ctx, url, d.Header)
		if err != nil {
			return nil, fmt.Errorf("gorilla: dial %s: %w", url, err)
		}
		resp.Body.Close()
		return NewConn(ws, max), nil
	}, opts)
}
