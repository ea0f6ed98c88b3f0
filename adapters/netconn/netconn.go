// Package netconn runs better-socket over any net.Conn: TCP, Unix sockets,
// TLS (a *tls.Conn is a net.Conn), or anything else that is an ordered,
// reliable byte stream. Each transport message is framed with a 4-byte
// big-endian length prefix; a length over the configured maximum is refused
// before anything is allocated for it.
//
// A server is a [Server] serving a net.Listener; a client is made by [Dial]
// (or [Dialer.Dial] for TLS or custom dialing). Everything else is the API
// of package adapters.
package netconn

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// Reader reads length-prefixed messages from a byte stream.
type Reader struct {
	r   io.Reader
	max int
	hdr [4]byte
}

// NewReader returns a Reader of messages of at most max bytes from r. Give
// it a buffered reader: it reads the prefix and the body separately.
func NewReader(r io.Reader, max int) *Reader { return &Reader{r: r, max: max} }

// ReadMessage reads one message. A length prefix over the maximum gives an
// error wrapping codec.ErrTooLarge, before anything is allocated; memory
// then grows with the bytes that actually arrive, never past the length. A
// stream that ends inside a message gives io.ErrUnexpectedEOF; one that ends
// between messages gives io.EOF.
func (r *Reader) ReadMessage() ([]byte, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return nil, err
	}
	n := int64(binary.BigEndian.Uint32(r.hdr[:]))
	if n > int64(r.max) {
		return nil, fmt.Errorf("netconn: %w: %d bytes, limit %d", codec.ErrTooLarge, n, r.max)
	}
	const chunk = 64 << 10
	msg := make([]byte, 0, min(int(n), chunk))
	for len(msg) < int(n) {
		if len(msg) == cap(msg) {
			msg = slices.Grow(msg, min(int(n)-len(msg), cap(msg)))
		}
		m, err := r.r.Read(msg[len(msg):min(cap(msg), int(n))])
		msg = msg[:len(msg)+m]
		if err != nil && len(msg) < int(n) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return msg, nil
}

// AppendMessage appends msg with its length prefix to dst.
func AppendMessage(dst, msg []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// conn adapts a net.Conn to adapters.Conn.
type conn struct {
	nc net.Conn
	r  *Reader
	w  *bufio.Writer
}

// NewConn wraps nc as a transport connection whose incoming messages are
// limited to max bytes. Servers and dialers of this package call it; use
// it for connections you set up yourself, then hand them to
// adapters.Server.Attach or return them from an adapters.DialFunc.
func NewConn(nc net.Conn, max int) adapters.Conn {
	return &conn{nc: nc, r: NewReader(bufio.NewReaderSize(nc, 4096), max), w: bufio.NewWriterSize(nc, 4096)}
}

func (c *conn) ReadMessage() ([]byte, error) { return c.r.ReadMessage() }

func (c *conn) WriteMessages(msgs [][]byte) error {
	for _, m := range msgs {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(m)))
		c.w.Write(hdr[:])
		c.w.Write(m)
	}
	return c.w.Flush()
}

// Close closes the net.Conn. The close code travels in the CLOSE frame the
// machine wrote before; a byte stream has no other place for it.
func (c *conn) Close(proto.CloseCode, string) error { return c.nc.Close() }

// Dialer connects clients over net.Conns.
type Dialer struct {
	// DialContext opens the connection. Nil means a net.Dialer; use
	// (&tls.Dialer{Config: cfg}).DialContext for TLS.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
}

// Dial connects to the server at address on network ("tcp", "unix", ...)
// with a net.Dialer; see adapters.Dial for what it waits for.
func Dial(ctx context.Context, network, address string, opts adapters.ClientOptions) (*adapters.Client, error) {
	return (&Dialer{}).Dial(ctx, network, address, opts)
}

// Dial connects to the server at address on network; reconnects use the
// same network and address.
func (d *Dialer) Dial(ctx context.Context, network, address string, opts adapters.ClientOptions) (*adapters.Client, error) {
	dial := d.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	max := adapters.MaxMessageSize(opts.Session.LinkConfig)
	return adapters.Dial(ctx, func(ctx context.Context) (adapters.Conn, error) {
		nc, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return NewConn(nc, max), nil
	}, opts)
}

// Server serves better-socket over net.Listeners.
type Server struct {
	*adapters.Server
}

// NewServer returns a running server; give it listeners with Serve and stop
// it with Close.
func NewServer(opts adapters.ServerOptions) *Server {
	return &Server{adapters.NewServer(opts)}
}

// Serve accepts connections from ln until ln fails or the server closes
// (then it returns adapters.ErrServerClosed). Close closes ln. For TLS,
// pass a tls.NewListener.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(listener{ln, s.MaxMessageSize()})
}

type listener struct {
	ln  net.Listener
	max int
}

func (l listener) Accept() (adapters.Conn, error) {
	nc, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	return NewConn(nc, l.max), nil
}

func (l listener) Close() error { return l.ln.Close() }
