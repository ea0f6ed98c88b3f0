package main

import (
	"context"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// phasesOn is -phases: W1's connections note, in each process, how long
// passes from a read of the socket that returned data to the next write on
// it. On the server that is from the read that brought a request to the
// write of its response: gorilla's framing and, for better-socket, the
// machine, the driver and the handler. On the client it is from the read
// that brought a response to the write of the next request, the loop that
// times round trips included. The rest of a round trip is the kernel's:
// the writes, the wake-ups of the process that waited, and its reads. The
// wrapper costs both variants the same (a reading of the clock and a lock
// per read or write) and hides the TCP socket from gorilla's vectored
// writes, which W1's 64-byte messages do not use.
var phasesOn bool

// phases is the one socket's record in a W1 process.
var phases phaseLog

// phaseLog keeps when the last read returned data and the gaps from each
// such read to the write after it.
type phaseLog struct {
	mu   sync.Mutex
	read time.Time // zero once a write followed it
	gaps []time.Duration
}

func (l *phaseLog) readDone() {
	now := time.Now()
	l.mu.Lock()
	l.read = now
	l.mu.Unlock()
}

func (l *phaseLog) writeStarts() {
	now := time.Now()
	l.mu.Lock()
	if !l.read.IsZero() {
		l.gaps = append(l.gaps, now.Sub(l.read))
		l.read = time.Time{}
	}
	l.mu.Unlock()
}

// p50 is the median gap in ns; 0 when none was noted.
func (l *phaseLog) p50() float64 {
	l.mu.Lock()
	gaps := slices.Clone(l.gaps)
	l.mu.Unlock()
	if len(gaps) == 0 {
		return 0
	}
	return p50(gaps)
}

// phaseConn is a connection whose reads and writes phases notes.
type phaseConn struct{ net.Conn }

func (c phaseConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		phases.readDone()
	}
	return n, err
}

func (c phaseConn) Write(b []byte) (int, error) {
	phases.writeStarts()
	return c.Conn.Write(b)
}

// phaseListener makes every accepted connection a phaseConn.
type phaseListener struct{ net.Listener }

func (l phaseListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return phaseConn{c}, nil
}

// phaseDial is a client's NetDialContext under -phases.
func phaseDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return phaseConn{c}, nil
}

// dialer is gorilla's default dialer, whose connections are phaseConns
// for W1 under -phases.
func dialer(w string) *websocket.Dialer {
	d := *websocket.DefaultDialer
	if phasesOn && w == "W1" {
		d.NetDialContext = phaseDial
	}
	return &d
}
