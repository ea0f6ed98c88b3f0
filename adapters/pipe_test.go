package adapters

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bettersocket/bettersocket/proto"
)

// TestMain checks for leaked goroutines. Under js/wasm the goroutine that
// returns control to JavaScript (runtime.handleEvent) is always parked.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}

var errPipeClosed = errors.New("pipe closed")

// pipe is an in-memory transport: two ends, a bounded queue each way (a
// full queue blocks the writer, as a socket buffer does), and a gate that
// lets a test stop one end from reading.
type pipe struct {
	closed   chan struct{}
	once     sync.Once
	code     proto.CloseCode // the code Close was first called with
	codeOnce sync.Once
}

type pipeEnd struct {
	p    *pipe
	in   chan []byte
	peer *pipeEnd
	gate *gate
	// Read interrupts (see interruptible): dl is closed while the read
	// deadline is in the past; held is a message taken from in by a read
	// that was interrupted at the gate, returned first by the next one.
	dlMu sync.Mutex
	dl   chan struct{}
	held []byte
}

// interruptible is a client end that implements ReadInterrupter, so that
// callers read their own responses.
type interruptible struct{ *pipeEnd }

// SetReadDeadline interrupts reads while t is in the past; any other t
// (the tests use only the zero time and the past) lets them through.
func (e interruptible) SetReadDeadline(t time.Time) error {
	e.dlMu.Lock()
	defer e.dlMu.Unlock()
	past := !t.IsZero() && t.Before(time.Now())
	open := e.dl != nil
	if open {
		select {
		case <-e.dl:
			open = false
		default:
		}
	}
	switch {
	case past && open:
		close(e.dl)
	case !past && !open:
		e.dl = make(chan struct{})
	}
	return nil
}

// deadline returns the channel that is closed while reads are interrupted.
func (e *pipeEnd) deadline() <-chan struct{} {
	e.dlMu.Lock()
	defer e.dlMu.Unlock()
	if e.dl == nil {
		e.dl = make(chan struct{})
	}
	return e.dl
}

// gate holds a reader while shut; release lets it through.
type gate struct {
	mu      sync.Mutex
	open    chan struct{}
	waiting int // readers holding a message at the gate
}

func newGate(open bool) *gate {
	g := &gate{open: make(chan struct{})}
	if open {
		close(g.open)
	}
	return g
}

type gateResult uint8

const (
	gatePassed gateResult = iota
	gateClosed
	gateInterrupted
)

func (g *gate) wait(done, interrupt <-chan struct{}) gateResult {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	select {
	case <-ch:
		return gatePassed
	default:
	}
	g.mu.Lock()
	g.waiting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
	}()
	select {
	case <-ch:
		return gatePassed
	case <-done:
		return gateClosed
	case <-interrupt:
		return gateInterrupted
	}
}

// held reports how many readers hold a message at the gate.
func (g *gate) held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func newPipe(serverGate *gate) (client, server *pipeEnd) {
	return newPipeWith(newGate(true), serverGate, 64)
}

// newPipeWith makes a pipe with the given gates and room for buffer
// messages each way.
func newPipeWith(clientGate, serverGate *gate, buffer int) (client, server *pipeEnd) {
	p := &pipe{closed: make(chan struct{})}
	client = &pipeEnd{p: p, in: make(chan []byte, buffer), gate: clientGate}
	server = &pipeEnd{p: p, in: make(chan []byte, buffer), gate: serverGate}
	client.peer, server.peer = server, client
	return client, server
}

// ReadMessage takes the next message, then waits at the gate: a message
// that arrives while the gate is shut is held, not delivered (and lost if
// the pipe closes meanwhile). Messages written before the pipe closed are
// still delivered, as a socket delivers its buffer before the end of the
// stream.
func (e *pipeEnd) ReadMessage() ([]byte, error) {
	dl := e.deadline()
	m := e.held
	e.held = nil
	if m == nil {
		select {
		case m = <-e.in:
		default:
			select {
			case m = <-e.in:
			case <-e.p.closed:
				// A message written just before the close may have
				// arrived since the check above: select chose at random.
				select {
				case m = <-e.in:
				default:
					return nil, errPipeClosed
				}
			case <-dl:
				return nil, os.ErrDeadlineExceeded
			}
		}
	}
	switch e.gate.wait(e.p.closed, dl) {
	case gateClosed:
		return nil, errPipeClosed
	case gateInterrupted:
		e.held = m
		return nil, os.ErrDeadlineExceeded
	}
	return m, nil
}

// WriteMessages hands the peer copies: the driver reuses msgs once it
// returns, as a network transport may let it.
func (e *pipeEnd) WriteMessages(msgs [][]byte) error {
	for _, m := range msgs {
		select {
		case e.peer.in <- bytes.Clone(m):
		case <-e.p.closed:
			return errPipeClosed
		}
	}
	return nil
}

func (e *pipeEnd) Close(code proto.CloseCode, _ string) error {
	e.p.codeOnce.Do(func() { e.p.code = code })
	e.p.once.Do(func() { close(e.p.closed) })
	return nil
}

// harness is a Server and a way to dial Clients to it over pipes.
type harness struct {
	t     *testing.T
	srv   *Server
	mu    sync.Mutex
	pipes []*pipe
	ends  []*pipeEnd // the server's ends of the pipes
	// The next pipes' read gates and buffer size (0: 64).
	gate, clientGate *gate
	buffer           int
	// plain: client ends do not implement ReadInterrupter, so a reader
	// goroutine reads every response.
	plain bool
}

func newHarness(t *testing.T, opts ServerOptions) *harness {
	return &harness{t: t, srv: NewServer(opts), gate: newGate(true), clientGate: newGate(true)}
}

func (h *harness) dialFunc() DialFunc {
	return func(ctx context.Context) (Conn, error) {
		h.mu.Lock()
		buffer := h.buffer
		if buffer == 0 {
			buffer = 64
		}
		c, s := newPipeWith(h.clientGate, h.gate, buffer)
		h.pipes = append(h.pipes, c.p)
		h.ends = append(h.ends, s)
		srv, plain := h.srv, h.plain
		h.mu.Unlock()
		if err := srv.Attach(s); err != nil {
			return nil, err
		}
		if plain {
			return c, nil
		}
		return interruptible{c}, nil
	}
}

func (h *harness) dial(ctx context.Context, opts ClientOptions) *Client {
	h.t.Helper()
	c, err := Dial(ctx, h.dialFunc(), opts)
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	return c
}

// cut closes the newest pipe, as a network failure would.
func (h *harness) cut() {
	h.mu.Lock()
	p := h.pipes[len(h.pipes)-1]
	h.mu.Unlock()
	p.once.Do(func() { close(p.closed) })
}
