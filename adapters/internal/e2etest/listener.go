// Package e2etest holds the end-to-end tests shared by the transports:
// three clients over loopback with a room broadcast, requests both ways and
// thousands of messages each way while the test kills the underlying
// connections, and hostile peers. Each transport package runs them against
// its own server and dialer.
package e2etest

import (
	"math/rand/v2"
	"net"
	"sync"
)

// KillListener wraps a net.Listener and remembers the connections it
// accepted, so that a test can close them under the server's feet.
type KillListener struct {
	net.Listener

	mu       sync.Mutex
	live     []*trackedConn
	accepted chan struct{} // signalled on every accept
	kills    int
}

// NewKillListener listens on a loopback TCP port.
func NewKillListener() (*KillListener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &KillListener{Listener: ln, accepted: make(chan struct{}, 1)}, nil
}

type trackedConn struct {
	net.Conn
	l    *KillListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(c.forget)
	return c.Conn.Close()
}

func (c *trackedConn) forget() {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	for i, x := range c.l.live {
		if x == c {
			c.l.live = append(c.l.live[:i], c.l.live[i+1:]...)
			return
		}
	}
}

// Accept accepts and tracks a connection.
func (l *KillListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &trackedConn{Conn: nc, l: l}
	l.mu.Lock()
	l.live = append(l.live, c)
	l.mu.Unlock()
	select {
	case l.accepted <- struct{}{}:
	default:
	}
	return c, nil
}

// Kill closes one live connection chosen with rng (in accept order, so the
// choice depends only on the seed and the number of live connections). It
// returns false when none is live.
func (l *KillListener) Kill(rng *rand.Rand) bool {
	l.mu.Lock()
	if len(l.live) == 0 {
		l.mu.Unlock()
		return false
	}
	c := l.live[rng.IntN(len(l.live))]
	l.kills++
	l.mu.Unlock()
	c.Close()
	return true
}

// Kills returns how many connections Kill closed.
func (l *KillListener) Kills() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.kills
}

// Accepted is signalled (capacity one) whenever a connection is accepted.
func (l *KillListener) Accepted() <-chan struct{} { return l.accepted }
