package gorilla

// Theory of operation: how a gorilla client connection's reads become
// interruptible (adapters.ReadInterrupter).
//
// gorilla/websocket makes every read error permanent (the connection
// remembers it, and panics after a thousand more reads), and it reads
// through its own bufio.Reader, so a deadline that expires inside its
// ReadMessage ruins the connection. The deadline must therefore expire only
// where nothing is lost, outside gorilla. The gate is a net.Conn between
// gorilla and the network that reads ahead by itself and shows gorilla
// whole messages only:
//
//  1. Before each gorilla ReadMessage, wait reads from the network into the
//     gate's buffer until it holds one whole message (scanning the RFC 6455
//     frame headers) and makes the bytes up to its end available. This is
//     the only read that can meet the deadline, and it loses nothing: what
//     it has read stays buffered for the next wait.
//  2. Read, which gorilla's bufio.Reader calls inside ReadMessage, returns
//     available bytes only, so gorilla never waits on the network and never
//     buffers a byte past the message it returns: after ReadMessage, every
//     byte not yet read is in the gate, where the next wait finds it.
//
// Ping and pong frames before a message are made available with it, since
// gorilla answers them inside ReadMessage. A ping with no message after it
// stays buffered, unanswered, until a message arrives; better-socket's own
// heartbeats are messages and arrive every heartbeat interval, so that wait
// is bounded.
//
// The gate steps aside for good (pass: Read hands over what is buffered,
// then reads the network directly, as if there were no gate) when gorilla
// must see the rest to refuse it: a message over the limit (gorilla reads
// the header and fails with websocket.ErrReadLimit without buffering the
// payload), a message whose frames and interleaved control frames pass the
// limit by more than overhead bytes, or a network error other than the
// deadline (gorilla meets it and reports it as it would without a gate, e.g.
// a *websocket.CloseError for an abrupt EOF). It also steps aside when
// gorilla asks for bytes past what was made available, which would mean
// the two disagree on where frames begin. After that, a deadline can expire
// inside gorilla, which ends the connection (see gatedConn.ReadMessage).
//
// The gate passes everything through until start, after the opening
// handshake: gorilla reads the HTTP response through it. gorilla's
// bufio.Reader may read past the response, which would hide frames from the
// gate; a better-socket server sends nothing before the client's first
// message, so there is nothing past it to read.
//
// Read and wait are called by one goroutine at a time (the one reading);
// SetReadDeadline may be called from any goroutine.

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// readChunk is the least free space a read from the network gets.
	readChunk = 4096
	// overhead is what the frame headers and control frames of a message
	// may add to its payload limit in the buffer; a peer that fragments a
	// message more finely, or sends over a hundred pings before it, makes
	// the gate step aside.
	overhead = 16 << 10
	// keepBuf is the largest buffer kept once empty, so that an idle
	// client does not hold the buffer of its largest message.
	keepBuf = 2 * readChunk
	// poolBuf is the size of the buffers a message larger than keepBuf is
	// read into when it fits (see bigBufs).
	poolBuf = 64 << 10
	// maxHeader is the longest frame header: 2 bytes, a 64-bit length and
	// a mask key.
	maxHeader = 14
)

// bigBufs holds the buffers of poolBuf bytes that gates read messages
// larger than keepBuf into, once read. A stream of such messages (a
// broadcast burst, a sender's coalesced writes) then reuses one instead of
// allocating and clearing one per message, and an idle gate holds none:
// what nobody takes, the garbage collector frees.
var bigBufs = sync.Pool{New: func() any { return new([poolBuf]byte) }}

// gate is the net.Conn gorilla reads a client connection through.
type gate struct {
	net.Conn // the network; writes, Close and addresses pass through

	limit int  // gorilla's read limit: the largest message payload
	pass  bool // Read passes everything through: before start, and once stepped aside

	// buf[r:] is what the network sent that gorilla has not read; buf[r :
	// r+avail] ends on a message's last frame and is what Read may return.
	// next is where the next frame header to scan starts, and msg counts
	// the payload of the message's data frames before it.
	buf            []byte
	r, avail, next int
	msg            int
	// small is the gate's own buffer, of keepBuf bytes at most, which
	// buf is again once empty; spent is the pooled buffer buf was until
	// then, which goes back to bigBufs at the next wait (until then it may
	// hold the payload binary returned).
	small []byte
	spent *[poolBuf]byte

	mu       sync.Mutex
	deadline time.Time // the read deadline, also for messages already buffered
}

// start starts gating; it is called once the opening handshake is done.
func (g *gate) start() { g.pass = false }

// around puts g in front of c, for a dial function to return.
func (g *gate) around(c net.Conn, err error) (net.Conn, error) {
	if err != nil {
		return nil, err
	}
	g.Conn = c
	return g, nil
}

// SetReadDeadline sets the network connection's read deadline and
// remembers it for wait.
func (g *gate) SetReadDeadline(t time.Time) error {
	g.mu.Lock()
	g.deadline = t
	g.mu.Unlock()
	return g.Conn.SetReadDeadline(t)
}

// SetDeadline sets both deadlines, remembering the read deadline too.
func (g *gate) SetDeadline(t time.Time) error {
	g.mu.Lock()
	g.deadline = t
	g.mu.Unlock()
	return g.Conn.SetDeadline(t)
}

// expired reports whether the read deadline has passed. wait checks it
// because it may find a whole message buffered and not read the network,
// whose read would have failed.
func (g *gate) expired() bool {
	g.mu.Lock()
	d := g.deadline
	g.mu.Unlock()
	return !d.IsZero() && !time.Now().Before(d)
}

// wait returns once a whole message is available to Read, or the gate has
// stepped aside (gorilla then reads the network itself). Its only error is
// the read deadline's, which wraps os.ErrDeadlineExceeded and loses nothing.
func (g *gate) wait() error {
	if g.spent != nil {
		bigBufs.Put(g.spent)
		g.spent = nil
	}
	if g.expired() {
		return os.ErrDeadlineExceeded
	}
	for !g.pass && g.avail == 0 {
		hlen, op, fin, n, ok := frameHeader(g.buf[g.next:])
		if !ok {
			if err := g.fill(g.next - g.r + maxHeader); err != nil {
				return err
			}
			continue
		}
		if n > uint64(g.limit) {
			g.pass = true // over the limit, data or not: let gorilla refuse it
			return nil
		}
		size, end := g.msg, g.next+hlen+int(n)
		if op <= websocket.BinaryMessage { // continuation, text, binary: gorilla's limit counts them
			size += int(n)
		}
		if size > g.limit || end-g.r > g.limit+overhead {
			g.pass = true
			return nil
		}
		if end > len(g.buf) {
			if err := g.fill(end - g.r); err != nil {
				return err
			}
			continue
		}
		g.next, g.msg = end, size
		if op == websocket.PingMessage || op == websocket.PongMessage || op <= websocket.BinaryMessage && !fin {
			continue // a ping, pong or leading fragment: the message goes on
		}
		// The last frame of a message, a close frame, or a reserved
		// opcode that gorilla will refuse: all end the wait.
		g.avail, g.msg = end-g.r, 0
	}
	return nil
}

// fill reads from the network once, with room for need bytes past r and a
// read chunk, keeping whatever it reads. An error other than the deadline's
// makes the gate step aside, so that gorilla reads what is buffered and then
// meets the error as it would without a gate.
func (g *gate) fill(need int) error {
	if g.r > 0 { // drop what gorilla has read
		n := copy(g.buf, g.buf[g.r:])
		g.buf, g.next, g.r = g.buf[:n], g.next-g.r, 0
	}
	if cap(g.buf) < need+readChunk {
		// Double (so that a message in many frames is copied a few
		// times, not once a frame), but not past the largest span.
		span := g.limit + overhead + maxHeader + readChunk
		size := max(need+readChunk, min(2*cap(g.buf), span))
		var b []byte
		switch {
		case size <= keepBuf:
			b = make([]byte, 0, size)
			g.small = b
		case size <= poolBuf && poolBuf <= span:
			b = bigBufs.Get().(*[poolBuf]byte)[:0]
		default:
			b = make([]byte, 0, size)
		}
		g.buf = append(b, g.buf...)
	}
	n, err := g.Conn.Read(g.buf[len(g.buf):cap(g.buf)])
	g.buf = g.buf[:len(g.buf)+n]
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return err
	}
	g.pass = true
	return nil
}

// Read gives gorilla what wait made available. Asked for more, it passes
// through, buffered bytes first: that is how gorilla reads the handshake
// and what the gate stepped aside from.
func (g *gate) Read(p []byte) (int, error) {
	if g.avail > 0 {
		p = p[:min(len(p), g.avail)]
	} else {
		g.pass = true // no-op before start; after it, gorilla and the gate disagree
		if g.r == len(g.buf) {
			return g.Conn.Read(p)
		}
	}
	n := copy(p, g.buf[g.r:])
	g.r += n
	g.avail -= min(n, g.avail)
	if g.r == len(g.buf) {
		g.drained()
	}
	return n, nil
}

// drained empties the buffer once everything in it was read: a buffer
// larger than keepBuf gives way to the gate's own small one, and, when
// pooled, goes back to bigBufs at the next wait (the payload binary
// returned stays valid until then).
func (g *gate) drained() {
	g.r, g.next = 0, 0
	if cap(g.buf) <= keepBuf {
		g.buf = g.buf[:0]
		return
	}
	if cap(g.buf) == poolBuf {
		g.spent = (*[poolBuf]byte)(g.buf[:poolBuf])
	}
	g.buf = g.small[:0]
}

// binary takes the message that wait made available when it is one binary
// frame that gorilla would return as it is (final, unmasked, no reserved
// bits, within the limit, no control frame before it): its payload, in the
// gate's buffer, valid until the next wait. A stream of messages is then
// read with no copy and no allocation past the gate's own buffer. gorilla
// never sees the frame, and needs not: between messages it holds nothing
// of the connection's (see Read), so it reads the next one as if it had
// read this one itself. ok is false for any other message, which gorilla
// reads and checks.
func (g *gate) binary() (payload []byte, ok bool) {
	if g.pass || g.avail == 0 {
		return nil, false
	}
	b := g.buf[g.r : g.r+g.avail]
	hlen, op, fin, n, ok := frameHeader(b)
	if !ok || op != websocket.BinaryMessage || !fin || b[0]&0x70 != 0 || b[1]&0x80 != 0 || uint64(len(b)-hlen) != n {
		return nil, false
	}
	g.r += g.avail
	g.avail = 0
	if g.r == len(g.buf) { // as Read does; the next wait reads over it
		g.drained()
	}
	return b[hlen:], true
}

// frameHeader parses the RFC 6455 frame header that b starts with: its
// length, the opcode, the FIN bit and the payload length. ok is false while
// b holds only part of it.
func frameHeader(b []byte) (hlen int, op byte, fin bool, n uint64, ok bool) {
	if len(b) < 2 {
		return 0, 0, false, 0, false
	}
	op, fin, n, hlen = b[0]&0x0f, b[0]&0x80 != 0, uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		hlen += 2
	case 127:
		hlen += 8
	}
	if b[1]&0x80 != 0 {
		hlen += 4 // mask key; gorilla refuses a masked frame from a server
	}
	if len(b) < hlen {
		return 0, 0, false, 0, false
	}
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		n = binary.BigEndian.Uint64(b[2:])
	}
	return hlen, op, fin, n, true
}
