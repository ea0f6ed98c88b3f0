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
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/internal/graceful"
	"github.com/bettersocket/bettersocket/adapters/internal/readbuf"
	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// Reader reads length-prefixed messages from a byte stream.
//
// A Reader is resumable across timeouts: when the underlying Read fails
// with an error that is a timeout (one that wraps os.ErrDeadlineExceeded,
// or a net.Error whose Timeout reports true), ReadMessage returns that
// error and keeps whatever part of the length prefix and body it already
// has, and the next call continues from there. A read deadline set in the
// past can therefore take a blocked ReadMessage back from its goroutine
// without losing a byte, which is what adapters.ReadInterrupter promises.
// This relies on the stream keeping its own position across a timeout, as
// net.Conns (TCP, Unix, net.Pipe, *tls.Conn) and bufio.Reader do. Any
// other error ends the stream: the partial message is dropped, and the
// Reader should not be used again.
//
// A Reader is not safe for concurrent use; one goroutine at a time may
// call ReadMessage.
type Reader struct {
	r   io.Reader
	max int
	// hdr holds the length prefix of the message being read, of which
	// the first nhdr bytes have arrived. They live in the Reader, not
	// on ReadMessage's stack, so a timeout inside the prefix keeps them.
	hdr  [4]byte
	nhdr int
	// n is the body length announced by a complete prefix, and msg the
	// part of the body that has arrived; msg is nil until the prefix is
	// complete and accepted.
	n   int
	msg []byte
	// spare is the memory of the last small message, which the next one
	// reuses (see readbuf.Keep).
	spare []byte
}

// NewReader returns a Reader of messages of at most max bytes from r. Give
// it a buffered reader: it reads the prefix and the body separately.
func NewReader(r io.Reader, max int) *Reader { return &Reader{r: r, max: max} }

// firstChunk is the buffer a message over readbuf.Keep starts with; it
// then doubles as the bytes arrive (capped by the length), so a message
// in progress holds at most twice what arrived, or firstChunk: a peer
// that announces 1 MiB and sends 100 bytes costs 4 KiB, not the length
// it announced.
const firstChunk = readbuf.Keep

// ReadMessage reads one message, which is valid until the next call (the
// memory of messages of up to 4 KiB is reused). A length prefix over the
// maximum gives an error wrapping codec.ErrTooLarge, before anything is
// allocated; memory
// then grows with the bytes that actually arrive, never past the length. A
// stream that ends inside a message gives io.ErrUnexpectedEOF; one that ends
// between messages gives io.EOF. A timeout from the stream is returned as
// is and the message read so far is kept for the next call (see [Reader]).
func (r *Reader) ReadMessage() ([]byte, error) {
	for r.nhdr < len(r.hdr) {
		m, err := r.r.Read(r.hdr[r.nhdr:])
		r.nhdr += m
		if r.nhdr == len(r.hdr) {
			// The size is judged as soon as the prefix is whole, ahead of
			// an error that came with its last bytes, so that an oversized
			// prefix is always reported as such.
			if terr := r.begin(); terr != nil {
				return nil, terr
			}
			if r.n == 0 {
				// An empty message is complete with its prefix; an error
				// that came along belongs to the stream after it, where
				// the next call meets it again (a deadline or the end of
				// a stream persists).
				return r.finish(), nil
			}
		}
		if err != nil {
			return nil, r.fail(err)
		}
	}
	for len(r.msg) < r.n {
		if len(r.msg) == cap(r.msg) {
			// Doubling, capped by the length: a slice grows with what
			// arrived rather than with what was announced.
			r.msg = slices.Grow(r.msg, min(r.n-len(r.msg), cap(r.msg)))
		}
		m, err := r.r.Read(r.msg[len(r.msg):min(cap(r.msg), r.n)])
		r.msg = r.msg[:len(r.msg)+m]
		// An error with the message's last bytes is left for the next
		// call, like the one after an empty message's prefix above.
		if err != nil && len(r.msg) < r.n {
			return nil, r.fail(err)
		}
	}
	return r.finish(), nil
}

// begin accepts the complete length prefix in hdr and makes the first
// buffer for the body, or refuses a length over the maximum before any
// memory is committed to it.
func (r *Reader) begin() error {
	n := int64(binary.BigEndian.Uint32(r.hdr[:]))
	if n > int64(r.max) {
		r.reset()
		return fmt.Errorf("netconn: %w: %d bytes, limit %d", codec.ErrTooLarge, n, r.max)
	}
	r.n = int(n)
	switch {
	case r.n <= cap(r.spare):
		r.msg = r.spare[:0]
	case r.n <= readbuf.Keep:
		r.spare = make([]byte, 0, r.n)
		r.msg = r.spare
	default:
		r.msg = make([]byte, 0, firstChunk)
	}
	return nil
}

// finish hands over the completed message and readies the Reader for the
// next prefix.
func (r *Reader) finish() []byte {
	msg := r.msg
	r.reset()
	return msg
}

// fail decides what a read error means. A timeout keeps the partial
// message so the next call resumes it. Anything else ends the stream, so
// the partial message is dropped rather than kept alive for a caller that
// will not come back, and an end of stream is named by where it fell.
func (r *Reader) fail(err error) error {
	if isTimeout(err) {
		return err
	}
	inside := r.nhdr > 0
	r.reset()
	if err == io.EOF && inside {
		return io.ErrUnexpectedEOF
	}
	return err
}

// reset forgets the message in progress.
func (r *Reader) reset() { r.nhdr, r.n, r.msg = 0, 0, nil }

// isTimeout reports whether err is a read that ran into its deadline,
// after which the stream is intact and reading may go on. It accepts the
// net.Error form too, for net.Conns whose timeout errors do not wrap
// os.ErrDeadlineExceeded.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// AppendMessage appends msg with its length prefix to dst.
func AppendMessage(dst, msg []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// conn adapts a net.Conn to adapters.Conn, and to adapters.ReadInterrupter
// since its Reader resumes after a timeout.
type conn struct {
	nc net.Conn
	r  *Reader
	w  *bufio.Writer // nil: a batch borrows one from writers
}

// writers holds the write buffers of the connections that borrow one per
// batch (a server's), so that an idle connection holds none.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}

// bufSize is the size of a connection's read and write buffers.
const bufSize = 4096

// NewConn wraps nc as a transport connection whose incoming messages are
// limited to max bytes. Servers and dialers of this package call it; use
// it for connections you set up yourself, then hand them to
// adapters.Server.Attach or return them from an adapters.DialFunc.
//
// The connection implements adapters.ReadInterrupter through nc's read
// deadline, so nc must keep its byte stream intact across a read timeout
// (net.Conns from package net and *tls.Conn do).
//
// Its write buffer is borrowed for each batch of messages, so that an idle
// connection holds only its read buffer.
func NewConn(nc net.Conn, max int) adapters.Conn { return newConn(nc, max, true) }

// newConn is NewConn; pooled says whether the write buffer is borrowed per
// batch (servers: idle connections hold none) or kept (a client's one
// connection, which saves the borrowing).
func newConn(nc net.Conn, max int, pooled bool) *conn {
	c := &conn{nc: nc, r: NewReader(bufio.NewReaderSize(nc, bufSize), max)}
	if !pooled {
		c.w = bufio.NewWriterSize(nc, bufSize)
	}
	return c
}

// The driver finds the interrupter by a type assertion; this keeps conn
// from silently losing it.
var _ adapters.ReadInterrupter = (*conn)(nil)

// ReadMessage reads the next message; a timeout leaves a partly read one
// in the Reader, so a later call after the deadline is cleared resumes it.
func (c *conn) ReadMessage() ([]byte, error) { return c.r.ReadMessage() }

// SetReadDeadline sets nc's read deadline, which net.Conns allow from any
// goroutine; a time in the past makes a blocked ReadMessage return an
// error wrapping os.ErrDeadlineExceeded with nothing lost, and the zero
// time lets reading go on. The bufio.Reader between them keeps what it
// buffered, and passes the timeout on only once its buffer is drained.
func (c *conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// WriteMessages frames each message with its length prefix into the
// write buffer and flushes once, so a batch costs one write to nc. A
// failed write is remembered by the bufio.Writer, so Flush reports it.
func (c *conn) WriteMessages(msgs [][]byte) error {
	w := c.w
	if w == nil {
		w = writers.Get().(*bufio.Writer)
		w.Reset(c.nc)
		defer func() {
			w.Reset(nil) // drops a failed write's error and c.nc
			writers.Put(w)
		}()
	}
	for _, m := range msgs {
		// The prefix is built in the buffer's free space: a local array
		// would escape through the underlying writer.
		w.Write(binary.BigEndian.AppendUint32(w.AvailableBuffer(), uint32(len(m))))
		w.Write(m)
	}
	return w.Flush()
}

// RemoteAddr returns the peer's address, from which the server names the
// connection's source (adapters.ServerOptions.Source).
func (c *conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// NetConn returns the net.Conn it wraps: the server's Authenticate hook
// reads a *tls.Conn's state through it (adapters.TLSState).
func (c *conn) NetConn() net.Conn { return c.nc }

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
		return newConn(nc, max, false), nil
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

// Run serves ln until ctx ends; then it shuts down gracefully: ln closed,
// CLOSE going-away to every client (they will try to resume), connections
// flushed and handlers finished, all within
// adapters.ServerOptions.ShutdownTimeout (default 10 s), after which the
// connections are closed at once. It returns nil after a graceful
// shutdown, and otherwise what went wrong (ln failing, the shutdown
// running out of time).
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	return graceful.Run(ctx, func() error { return s.Serve(ln) }, s.Close, func(err error) bool {
		return errors.Is(err, adapters.ErrServerClosed)
	}, s.ShutdownTimeout())
}

// listener adapts a net.Listener to adapters.Listener, wrapping each
// accepted net.Conn with the server's message size limit.
type listener struct {
	ln  net.Listener
	max int
}

// Accept returns the next connection as a transport connection. Errors are
// the net.Listener's own, so Serve can tell a temporary one by its methods.
func (l listener) Accept() (adapters.Conn, error) {
	nc, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	return NewConn(nc, l.max), nil
}

// Close closes the net.Listener, which unblocks Accept.
func (l listener) Close() error { return l.ln.Close() }
