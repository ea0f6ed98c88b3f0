// Package gorilla runs better-socket over github.com/gorilla/websocket. Each
// transport message is one binary WebSocket message; the read limit is the
// configured maximum message size, so an oversized message is refused by
// gorilla (close status 1009) before it is read.
//
// A server is a [Server], an http.Handler; a client is made by [Dial] (or
// [Dialer.Dial] for custom headers, proxies or TLS). Everything else is the
// API of package adapters.
//
// A client connection is read through a gate (see gate.go) that makes its
// reads interruptible ([adapters.ReadInterrupter]), so that the caller of a
// request can read the response itself instead of a reader goroutine
// handing it over. A client dialing through a proxy is not gated, and its
// responses are handed over as before.
package gorilla

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/internal/readbuf"
	"github.com/bettersocket/bettersocket/adapters/internal/refuse"
	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// closeWait bounds the write of a close frame.
const closeWait = time.Second

// writeBuffers is shared by every connection of every server of this
// package: an idle connection holds no write buffer.
var writeBuffers = &sync.Pool{}

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
//
// It is where an idle connection's reader waits, and its frame is kept
// small, with the reading and the error wrapping in functions of their own:
// the runtime halves a parked goroutine's stack only while less than a
// quarter of it is in use, and the handling of a message grows a server
// reader's stack to 8 KiB. Parked just under that quarter, it is halved.
func (c conn) ReadMessage() ([]byte, error) {
	c.buf.Release() // the last message is done with
	_, r, err := c.ws.NextReader()
	if err != nil {
		return nil, readErr(err)
	}
	return c.readAll(r)
}

//go:noinline
func (c conn) readAll(r io.Reader) ([]byte, error) {
	b, err := c.buf.ReadAll(r)
	if err != nil {
		return nil, readErr(err)
	}
	return b, nil
}

//go:noinline
func readErr(err error) error {
	if errors.Is(err, websocket.ErrReadLimit) {
		return fmt.Errorf("gorilla: %w: %w", codec.ErrTooLarge, err)
	}
	return err
}

func (c conn) WriteMessages(msgs [][]byte) error {
	for _, m := range msgs {
		if err := c.ws.WriteMessage(websocket.BinaryMessage, m); err != nil {
			return err
		}
	}
	return nil
}

// gatedConn is a client connection that gorilla reads through a gate: its
// reads can be interrupted by a read deadline and resumed.
type gatedConn struct {
	conn
	g *gate
}

// ReadMessage waits for a whole message in the gate, where the deadline can
// interrupt it, then takes it from there when it is one plain binary frame
// (the gate's buffer holds its payload whole), or lets gorilla read it.
func (c gatedConn) ReadMessage() ([]byte, error) {
	if err := c.g.wait(); err != nil {
		return nil, fmt.Errorf("gorilla: %w", err)
	}
	if b, ok := c.g.binary(); ok {
		return b, nil
	}
	b, err := c.conn.ReadMessage()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Only once the gate has stepped aside: the deadline expired
		// inside gorilla, whose connection is now broken for good, so
		// this must not read as an interrupt. (gorilla hides the
		// deadline errors of the standard library's conns itself.)
		err = fmt.Errorf("gorilla: read broken by its deadline: %v", err)
	}
	return b, err
}

// SetReadDeadline interrupts ReadMessage once t has passed, without
// consuming any part of a message; the zero time lets it read again.
func (c gatedConn) SetReadDeadline(t time.Time) error { return c.g.SetReadDeadline(t) }

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
	// before serving, not while. The read buffer, which every connection
	// keeps while idle, is 512 bytes: it holds a client's small messages
	// (ACKs, requests), and a larger payload is read past it.
	Upgrader websocket.Upgrader
}

// NewServer returns a running server; mount it on an http.ServeMux or pass
// it to an http.Server, and stop it with Close (which closes the WebSocket
// connections; the http.Server has its own Shutdown).
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
	return &Server{
		Server: adapters.NewServer(opts),
		Upgrader: websocket.Upgrader{
			ReadBufferSize:  512,
			WriteBufferSize: 4096,
			WriteBufferPool: writeBuffers,
		},
	}
}

// ServeHTTP upgrades the request and attaches the connection. A failed
// upgrade has already been answered by the Upgrader. A request the server
// would refuse at once for its limits on connections awaiting HELLO
// (adapters.Server.AdmitsHTTP) is answered 503 Service Unavailable, with
// Retry-After, before any upgrade, and its connection closed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.AdmitsHTTP(r) {
		refuse.HTTP(w)
		return
	}
	if h, ok := w.(http.Hijacker); ok {
		w = socketHijacker{w, h}
	}
	ws, err := s.Upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.AttachHTTP(NewConn(ws, s.MaxMessageSize()), r)
}

// socketHijacker hands gorilla the socket under the AdmittingListener's
// wrapper of an admitted connection (Run serves on it), which has nothing
// left to count once the upgrade request is read: gorilla then writes a
// message larger than its write buffer with one vectored write, which it
// makes only on a *net.TCPConn, instead of two writes and two segments.
type socketHijacker struct {
	http.ResponseWriter
	h http.Hijacker
}

func (s socketHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := s.h.Hijack()
	if a, ok := c.(interface{ AdmittedSocket() net.Conn }); ok && err == nil {
		if sock := a.AdmittedSocket(); sock != nil {
			c = sock
		}
	}
	return c, brw, err
}

// Dialer connects clients over WebSocket.
type Dialer struct {
	// Dialer dials; nil means websocket.DefaultDialer's proxy and
	// handshake timeout, and a write buffer of its own per connection (a
	// client's connection writes every message; a process with thousands
	// of mostly idle clients can give its dialer a WriteBufferPool). Its
	// NetDialContext (or NetDial), NetDialTLSContext and TLSClientConfig
	// are used as gorilla would use them, with the gate in front of the
	// connection they make (TLS included); a connection through its Proxy
	// is not gated.
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
		}
	}
	max := adapters.MaxMessageSize(opts.Session.LinkConfig)
	return adapters.Dial(ctx, func(ctx context.Context) (adapters.Conn, error) {
		return dial(ctx, wd, url, d.Header, max)
	}, opts)
}

// dial opens one client connection, gated unless it goes through a proxy.
func dial(ctx context.Context, wd *websocket.Dialer, rawURL string, h http.Header, max int) (adapters.Conn, error) {
	if proxied(wd, rawURL) {
		ws, err := handshake(ctx, wd, rawURL, h)
		if err != nil {
			return nil, err
		}
		return newConn(ws, max, false), nil
	}
	g := &gate{limit: max, pass: true}
	gd := *wd
	gd.Proxy, gd.NetDial = nil, nil // no proxy: asking again might answer otherwise
	gd.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return g.around(netDial(ctx, wd, network, addr))
	}
	gd.NetDialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return g.around(tlsDial(ctx, wd, network, addr))
	}
	ws, err := handshake(ctx, &gd, rawURL, h)
	if err != nil {
		return nil, err
	}
	g.start()
	return gatedConn{newConn(ws, max, false), g}, nil
}

// handshake runs wd's opening handshake with header h.
func handshake(ctx context.Context, wd *websocket.Dialer, rawURL string, h http.Header) (*websocket.Conn, error) {
	ws, resp, err := wd.DialContext(ctx, rawURL, h)
	if err != nil {
		return nil, fmt.Errorf("gorilla: dial %s: %w", rawURL, err)
	}
	resp.Body.Close()
	return ws, nil
}

// proxied reports whether wd dials rawURL through a proxy, asking wd.Proxy
// about the request gorilla makes. Such a connection cannot be gated: its
// CONNECT exchange, and for wss:// the TLS handshake over it, happen inside
// gorilla's dial, above any net.Conn we could hand it. An error counts as
// proxied, for DialContext to meet and report.
func proxied(wd *websocket.Dialer, rawURL string) bool {
	if wd.Proxy == nil {
		return false
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return true
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	p, err := wd.Proxy(&http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}})
	return p != nil || err != nil
}

// netDial connects to addr as wd would for ws://, with no proxy.
func netDial(ctx context.Context, wd *websocket.Dialer, network, addr string) (net.Conn, error) {
	switch {
	case wd.NetDialContext != nil:
		return wd.NetDialContext(ctx, network, addr)
	case wd.NetDial != nil:
		return wd.NetDial(network, addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// tlsDial connects to addr as wd would for wss://, with no proxy. The gate
// must sit above TLS, where it sees frames rather than records; that works
// because a crypto/tls read that times out can be retried (it keeps a
// partial record and does not remember the error), as the net.Conn contract
// asks of a wd.NetDialTLSContext's connections too.
func tlsDial(ctx context.Context, wd *websocket.Dialer, network, addr string) (net.Conn, error) {
	if wd.NetDialTLSContext != nil {
		return wd.NetDialTLSContext(ctx, network, addr)
	}
	c, err := netDial(ctx, wd, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := wd.TLSClientConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = addr
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}
