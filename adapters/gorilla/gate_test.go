package gorilla

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"pgregory.net/rapid"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/codec"
)

// past is a read deadline that has passed: it interrupts a read.
var past = time.Unix(1, 0)

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	rapid.TB
	Cleanup(func())
}

// header encodes the header of an unmasked frame (a server's) with the
// shortest length encoding, as RFC 6455 asks.
func header(op byte, fin bool, n uint64) []byte {
	if fin {
		op |= 0x80
	}
	switch {
	case n < 126:
		return []byte{op, byte(n)}
	case n < 1<<16:
		return binary.BigEndian.AppendUint16([]byte{op, 126}, uint16(n))
	}
	return binary.BigEndian.AppendUint64([]byte{op, 127}, n)
}

func frame(op byte, fin bool, payload []byte) []byte {
	return append(header(op, fin, uint64(len(payload))), payload...)
}

// peer is the server end of a gated client connection over net.Pipe. It
// answers the opening handshake, then writes the chunks the test queues, one
// Write each, which returns once the client has read all of it; it discards
// what the client writes (pongs, close frames).
type peer struct {
	conn net.Conn

	mu              sync.Mutex
	cond            sync.Cond
	queue           [][]byte
	queued, written int
	closed          bool
}

// dialPipe dials a gated client over net.Pipe, through dial as Dialer.Dial
// does, with limit as the maximum message size.
func dialPipe(t tb, limit int) (gatedConn, *peer) {
	t.Helper()
	cli, srv := net.Pipe()
	p := &peer{conn: srv}
	p.cond.L = &p.mu
	var wg sync.WaitGroup
	wg.Go(func() {
		br := bufio.NewReader(srv)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(srv, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]))
		io.Copy(io.Discard, br)
	})
	wd := &websocket.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) { return cli, nil }}
	ac, err := dial(context.Background(), wd, "ws://pipe/", nil, limit)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := ac.(gatedConn)
	wg.Go(p.write)
	t.Cleanup(func() {
		c.ws.Close() // the writer's Writes fail from here on
		p.mu.Lock()
		p.closed = true
		p.cond.Broadcast()
		p.mu.Unlock()
		wg.Wait()
		srv.Close()
	})
	return c, p
}

func (p *peer) write() {
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.closed {
			p.cond.Wait()
		}
		if len(p.queue) == 0 {
			p.mu.Unlock()
			return
		}
		b := p.queue[0]
		p.queue = p.queue[1:]
		p.mu.Unlock()
		p.conn.Write(b)
		p.mu.Lock()
		p.written++
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// send queues b to be written in one Write.
func (p *peer) send(b []byte) {
	p.mu.Lock()
	p.queue = append(p.queue, b)
	p.queued++
	p.cond.Broadcast()
	p.mu.Unlock()
}

// sync waits until the client has read everything queued.
func (p *peer) sync() {
	p.mu.Lock()
	for p.written < p.queued {
		p.cond.Wait()
	}
	p.mu.Unlock()
}

// interruptBlocked starts a read, waits until the client has read all that
// p queued (so the read is inside, with whatever that left it holding),
// interrupts it and returns what it returned; the deadline is cleared.
func interruptBlocked(c gatedConn, p *peer) error {
	res := make(chan error, 1)
	go func() {
		_, err := c.ReadMessage()
		res <- err
	}()
	p.sync()
	c.SetReadDeadline(past)
	err := <-res
	c.SetReadDeadline(time.Time{})
	return err
}

// interrupt reads with a deadline that has passed; the deadline is cleared.
func interrupt(c gatedConn) error {
	c.SetReadDeadline(past)
	_, err := c.ReadMessage()
	c.SetReadDeadline(time.Time{})
	return err
}

// gateModel is the state of TestGateProperty: the byte stream the server
// sends, the messages in it, and how far the client has got.
type gateModel struct {
	c     gatedConn
	p     *peer
	limit int
	cuts  []int // chunk sizes, cycled through
	ncut  int

	stream []byte   // every frame the server sends
	sent   int      // bytes of stream queued for the client
	msgs   [][]byte // the messages in stream, in order
	ends   []int    // ends[i]: the stream offset just past message i
	read   int      // messages the client has read
	pings  int      // control frames since the last message
}

// deliver queues the next chunk of the stream.
func (m *gateModel) deliver() {
	n := min(m.cuts[m.ncut%len(m.cuts)], len(m.stream)-m.sent)
	m.ncut++
	m.p.send(m.stream[m.sent : m.sent+n])
	m.sent += n
}

// control appends a ping or a pong frame.
func (m *gateModel) control(t *rapid.T) {
	op := rapid.SampledFrom([]byte{websocket.PingMessage, websocket.PongMessage}).Draw(t, "control")
	n := rapid.IntRange(0, 125).Draw(t, "controlLen")
	m.stream = append(m.stream, frame(op, true, bytes.Repeat([]byte{'p'}, n))...)
	m.pings++
}

// readNext reads the next message, delivering the stream as far as its end.
func (m *gateModel) readNext(t *rapid.T) {
	for m.sent < m.ends[m.read] {
		m.deliver()
	}
	b, err := m.c.ReadMessage()
	if err != nil || !bytes.Equal(b, m.msgs[m.read]) {
		t.Fatalf("message %d: got %d bytes, %v; want %d bytes", m.read, len(b), err, len(m.msgs[m.read]))
	}
	m.read++
}

// TestGateProperty: whatever the messages (sizes across the 7, 16 and
// 64-bit length encodings, fragmented, with pings and pongs between and
// inside them), however the stream is cut into reads, and wherever reads
// are interrupted, the client reads exactly the messages sent, in order,
// and every interrupted read reports the deadline.
func TestGateProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &gateModel{
			limit: rapid.SampledFrom([]int{256, 70000}).Draw(t, "limit"),
			cuts: rapid.SliceOfN(rapid.OneOf(
				rapid.IntRange(1, 8), rapid.IntRange(1, 300), rapid.IntRange(1, 1<<17),
			), 1, 5).Draw(t, "cuts"),
		}
		m.c, m.p = dialPipe(t, m.limit)
		var sizes []int
		for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 65537, m.limit - 1, m.limit} {
			if n <= m.limit {
				sizes = append(sizes, n)
			}
		}
		genSize := rapid.OneOf(rapid.SampledFrom(sizes), rapid.IntRange(0, min(300, m.limit)))
		t.Repeat(map[string]func(*rapid.T){
			"send": func(t *rapid.T) {
				msg := make([]byte, genSize.Draw(t, "size"))
				var seed [32]byte
				binary.LittleEndian.PutUint64(seed[:], rapid.Uint64().Draw(t, "seed"))
				rand.NewChaCha8(seed).Read(msg)
				cuts := rapid.SliceOfN(rapid.IntRange(0, len(msg)), 0, 3).Draw(t, "fragments")
				slices.Sort(cuts)
				cuts = append(cuts, len(msg))
				op, from := byte(websocket.BinaryMessage), 0
				for i, to := range cuts {
					if rapid.IntRange(0, 3).Draw(t, "pingFirst") == 0 {
						m.control(t)
					}
					m.stream = append(m.stream, frame(op, i == len(cuts)-1, msg[from:to])...)
					op, from = 0, to // continuation frames
				}
				m.msgs = append(m.msgs, msg)
				m.ends = append(m.ends, len(m.stream))
				m.pings = 0
			},
			"control": func(t *rapid.T) {
				if m.pings >= 50 { // stay well inside the gate's overhead
					t.Skip()
				}
				m.control(t)
			},
			"deliver": func(t *rapid.T) {
				if m.sent == len(m.stream) {
					t.Skip()
				}
				m.deliver()
			},
			"read": func(t *rapid.T) {
				if m.read == len(m.msgs) {
					t.Skip()
				}
				m.readNext(t)
			},
			"interrupt": func(t *rapid.T) {
				if err := interrupt(m.c); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("interrupted read: %v", err)
				}
			},
			"interruptBlocked": func(t *rapid.T) {
				if m.read < len(m.msgs) && m.sent >= m.ends[m.read] {
					t.Skip() // a whole message is on its way: the read would not block
				}
				if err := interruptBlocked(m.c, m.p); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("interrupted blocked read: %v", err)
				}
			},
			"": func(t *rapid.T) {
				g := m.c.g
				if g.pass || g.avail != 0 {
					t.Fatalf("gate pass=%v avail=%d after a read", g.pass, g.avail)
				}
				if c := cap(g.buf); c > m.limit+overhead+maxHeader+readChunk || g.r == len(g.buf) && c > keepBuf {
					t.Fatalf("gate buffer of %d bytes (%d unread) with a limit of %d", c, len(g.buf)-g.r, m.limit)
				}
			},
		})
		for m.read < len(m.msgs) {
			m.readNext(t)
		}
	})
}

// A message in one plain binary frame is taken from the gate's buffer
// itself; one that gorilla must see (a ping first, fragments, text) is read
// by gorilla; either way the client reads the messages sent, in order.
func TestGateTakesPlainBinaryMessages(t *testing.T) {
	c, p := dialPipe(t, 4096)
	plain, pinged, fragmented, text := []byte("plain"), []byte("after a ping"), []byte("in two parts"), []byte("text")
	var stream []byte
	stream = append(stream, frame(websocket.BinaryMessage, true, plain)...)
	stream = append(stream, frame(websocket.PingMessage, true, nil)...)
	stream = append(stream, frame(websocket.BinaryMessage, true, pinged)...)
	stream = append(stream, frame(websocket.BinaryMessage, false, fragmented[:3])...)
	stream = append(stream, frame(0, true, fragmented[3:])...)
	stream = append(stream, frame(websocket.TextMessage, true, text)...)
	p.send(stream)
	for i, want := range [][]byte{plain, pinged, fragmented, text} {
		b, err := c.ReadMessage()
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("message %d: %q, %v; want %q", i, b, err, want)
		}
		if aliased := len(b) > 0 && inBuffer(c.g.buf, b); aliased != (i == 0) {
			t.Errorf("message %d: taken from the gate's buffer: %v", i, aliased)
		}
	}
}

// A message larger than keepBuf is read into a pooled buffer, which goes
// back to the pool only at the gate's next wait: until then the payload
// taken from it stays intact, whatever other gates read meanwhile, and the
// empty gate holds no more than keepBuf.
func TestGatePooledBufferOutlivesItsMessage(t *testing.T) {
	a, pa := dialPipe(t, 1<<20)
	b, pb := dialPipe(t, 1<<20)
	big := func(fill byte) []byte { return bytes.Repeat([]byte{fill}, 40<<10) }
	for round := range 3 {
		pa.send(frame(websocket.BinaryMessage, true, big('a')))
		pb.send(frame(websocket.BinaryMessage, true, big('b')))
		ma, err := a.ReadMessage()
		if err != nil || !bytes.Equal(ma, big('a')) {
			t.Fatalf("round %d: a read %d bytes, %v", round, len(ma), err)
		}
		if c := cap(a.g.buf); c > keepBuf {
			t.Errorf("round %d: an empty gate holds %d bytes", round, c)
		}
		mb, err := b.ReadMessage()
		if err != nil || !bytes.Equal(mb, big('b')) {
			t.Fatalf("round %d: b read %d bytes, %v", round, len(mb), err)
		}
		if !bytes.Equal(ma, big('a')) {
			t.Fatalf("round %d: a's message changed while b read", round)
		}
	}
}

// inBuffer reports whether b lies in buf's memory (up to its capacity).
func inBuffer(buf, b []byte) bool {
	all := buf[:cap(buf)]
	for i := range all {
		if &all[i] == &b[0] {
			return true
		}
	}
	return false
}

// An oversized message is refused from its header, as gorilla alone does:
// the gate does not buffer what the header claims.
func TestGateTooLarge(t *testing.T) {
	for name, stream := range map[string][]byte{
		"7-bit":      header(websocket.BinaryMessage, true, 101),
		"16-bit":     header(websocket.BinaryMessage, true, 300),
		"64-bit":     header(websocket.BinaryMessage, true, 1<<40),
		"negative":   header(websocket.BinaryMessage, true, 1<<63),
		"fragments":  append(frame(websocket.BinaryMessage, false, make([]byte, 60)), header(0, true, 41)...),
		"in control": header(websocket.PingMessage, true, 1<<40),
	} {
		t.Run(name, func(t *testing.T) {
			c, p := dialPipe(t, 100)
			p.send(frame(websocket.BinaryMessage, true, []byte("fits")))
			if b, err := c.ReadMessage(); err != nil || string(b) != "fits" {
				t.Fatalf("first message: %q, %v", b, err)
			}
			p.send(stream)
			_, err := c.ReadMessage()
			if name == "in control" {
				if err == nil || errors.Is(err, codec.ErrTooLarge) {
					t.Fatalf("oversized ping: %v, want gorilla's protocol error", err)
				}
			} else if !errors.Is(err, codec.ErrTooLarge) {
				t.Fatalf("got %v, want codec.ErrTooLarge", err)
			}
			if cap(c.g.buf) > 2*readChunk {
				t.Fatalf("gate buffer of %d bytes", cap(c.g.buf))
			}
		})
	}
}

// A close frame ends reading with gorilla's *websocket.CloseError, even one
// interrupted halfway.
func TestGateClose(t *testing.T) {
	c, p := dialPipe(t, 256)
	cf := frame(websocket.CloseMessage, true, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"))
	p.send(cf[:3])
	if err := interruptBlocked(c, p); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("interrupted read: %v", err)
	}
	p.send(cf[3:])
	_, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text != "bye" {
		t.Fatalf("got %v, want close 1001 bye", err)
	}
}

// A peer that sends more control frames before a message than the gate
// buffers makes it step aside: messages still arrive, and a deadline that
// then expires inside gorilla breaks the connection rather than pretending
// to be an interrupt.
func TestGateStepsAside(t *testing.T) {
	c, p := dialPipe(t, 256)
	var pings []byte
	for len(pings) <= 256+overhead {
		pings = append(pings, frame(websocket.PingMessage, true, make([]byte, 125))...)
	}
	p.send(pings)
	p.send(frame(websocket.BinaryMessage, true, []byte("after the pings")))
	if b, err := c.ReadMessage(); err != nil || string(b) != "after the pings" {
		t.Fatalf("got %q, %v", b, err)
	}
	if !c.g.pass || cap(c.g.buf) > 256+overhead+maxHeader+readChunk {
		t.Fatalf("gate pass=%v with a buffer of %d bytes", c.g.pass, cap(c.g.buf))
	}
	p.send(frame(websocket.BinaryMessage, true, []byte("half a message"))[:8])
	if err := interruptBlocked(c, p); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read interrupted inside gorilla: %v, want a permanent error", err)
	}
}

// countConn counts the bytes read from it, for a test to wait on.
type countConn struct {
	net.Conn
	mu   sync.Mutex
	cond sync.Cond
	n    int
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.n += n
	c.cond.Broadcast()
	c.mu.Unlock()
	return n, err
}

// waitRead waits until n bytes have been read.
func (c *countConn) waitRead(n int) {
	c.mu.Lock()
	for c.n < n {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// splitConn is a server's raw connection that can stop halfway through a
// Write, below TLS: in the middle of a record.
type splitConn struct {
	net.Conn
	written int
	split   bool          // split the next Write
	paused  chan int      // the bytes written when a split Write stopped
	resume  chan struct{} // lets it finish
}

func (c *splitConn) Write(p []byte) (int, error) {
	if !c.split {
		n, err := c.Conn.Write(p)
		c.written += n
		return n, err
	}
	c.split = false
	n, err := c.Conn.Write(p[:len(p)/2])
	c.written += n
	if err != nil {
		return n, err
	}
	c.paused <- c.written
	<-c.resume
	m, err := c.Write(p[len(p)/2:])
	return n + m, err
}

// splitListener hands out splitConns and remembers the last.
type splitListener struct {
	net.Listener
	last chan *splitConn
}

func (l *splitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &splitConn{Conn: c, paused: make(chan int), resume: make(chan struct{})}
	l.last <- sc
	return sc, nil
}

// Over wss:// the gate sits above TLS, and interrupts are recoverable even
// in the middle of a TLS record; messages that a real gorilla server
// fragments, with pings between, arrive whole.
func TestGateTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	actions := make(chan func(ws *websocket.Conn) error)
	up := websocket.Upgrader{WriteBufferSize: 256}
	var handlers sync.WaitGroup
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for f := range actions {
			if err := f(ws); err != nil {
				t.Errorf("server: %v", err)
			}
		}
	}))
	ln := &splitListener{Listener: s.Listener, last: make(chan *splitConn, 1)}
	s.Listener = ln
	s.StartTLS()
	defer s.Close()
	defer handlers.Wait()
	defer close(actions)

	var raw *countConn
	wd := &websocket.Dialer{
		TLSClientConfig: s.Client().Transport.(*http.Transport).TLSClientConfig,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			raw = &countConn{Conn: c}
			raw.cond.L = &raw.mu
			return raw, nil
		},
	}
	tc, err := dial(ctx, wd, "wss"+strings.TrimPrefix(s.URL, "https"), nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.(gatedConn).ws.Close()
	c, ok := tc.(gatedConn)
	if !ok {
		t.Fatalf("a wss:// client conn is a %T, not gated", tc)
	}
	sc := <-ln.last
	defer close(sc.resume) // so that a failure cannot leave the server paused

	if err := interrupt(c); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("interrupted read: %v", err)
	}

	// The first frame of a message arrives whole; the second stops in the
	// middle of its TLS record, where the client's read is interrupted.
	first := frame(websocket.BinaryMessage, false, []byte("first half, "))
	actions <- func(ws *websocket.Conn) error {
		if _, err := ws.NetConn().Write(first); err != nil {
			return err
		}
		sc.split = true
		_, err := ws.NetConn().Write(frame(0, true, []byte("second half")))
		return err
	}
	written := <-sc.paused
	res := make(chan error, 1)
	go func() {
		_, err := c.ReadMessage()
		res <- err
	}()
	raw.waitRead(written)
	c.SetReadDeadline(past)
	if err := <-res; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read interrupted inside a TLS record: %v", err)
	}
	if got := len(c.g.buf) - c.g.r; got != len(first) {
		t.Fatalf("gate holds %d bytes after the interrupt, want the first frame's %d", got, len(first))
	}
	c.SetReadDeadline(time.Time{})
	sc.resume <- struct{}{}
	if b, err := c.ReadMessage(); err != nil || string(b) != "first half, second half" {
		t.Fatalf("after the interrupt: %q, %v", b, err)
	}

	// gorilla's own writer: a ping, then a message in frames of its
	// 256-byte write buffer.
	long := bytes.Repeat([]byte("0123456789"), 300)
	actions <- func(ws *websocket.Conn) error {
		if err := ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second)); err != nil {
			return err
		}
		w, err := ws.NextWriter(websocket.BinaryMessage)
		if err != nil {
			return err
		}
		w.Write(long)
		return w.Close()
	}
	if b, err := c.ReadMessage(); err != nil || !bytes.Equal(b, long) {
		t.Fatalf("fragmented message: %d bytes, %v", len(b), err)
	}
}

// A client that dials through a proxy is not gated (its conn does not
// implement adapters.ReadInterrupter) and still works; one whose Proxy
// answers no proxy is gated. Server conns are never gated.
func TestGateProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := NewConn(ws, 1<<20)
		if _, ok := c.(adapters.ReadInterrupter); ok {
			t.Error("a server conn is a ReadInterrupter")
		}
		for { // echo, as a better-socket server speaks only when spoken to
			b, err := c.ReadMessage()
			if err != nil || c.WriteMessages([][]byte{b}) != nil {
				break
			}
		}
		ws.Close()
	}))
	defer s.Close()
	var tunnels sync.WaitGroup
	var connects atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		down, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		tunnels.Add(1)
		defer tunnels.Done()
		connects.Add(1)
		io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() {
			io.Copy(up, brw)
			up.Close()
		}()
		io.Copy(down, up)
		down.Close()
	}))
	defer proxy.Close()
	defer tunnels.Wait()
	proxyURL, _ := url.Parse(proxy.URL)
	wsURL := "ws" + strings.TrimPrefix(s.URL, "http")

	for _, tc := range []struct {
		name  string
		proxy func(*http.Request) (*url.URL, error)
		gated bool
	}{
		{"proxied", http.ProxyURL(proxyURL), false},
		{"no proxy for this url", func(*http.Request) (*url.URL, error) { return nil, nil }, true},
	} {
		c, err := dial(ctx, &websocket.Dialer{Proxy: tc.proxy}, wsURL, nil, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, ok := c.(adapters.ReadInterrupter); ok != tc.gated {
			t.Errorf("%s: %T is a ReadInterrupter: %v, want %v", tc.name, c, ok, tc.gated)
		}
		c.WriteMessages([][]byte{[]byte("hello")})
		if b, err := c.ReadMessage(); err != nil || string(b) != "hello" {
			t.Errorf("%s: got %q, %v", tc.name, b, err)
		}
		c.Close(1000, "")
	}
	if n := connects.Load(); n != 1 {
		t.Errorf("%d CONNECTs through the proxy, want 1", n)
	}
}
