package main

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// sharedListener lets one server after another serve the same address:
// Close only stops the current server's Accept.
type sharedListener struct {
	net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *sharedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *sharedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// transcript is a client's output, line by line.
type transcript struct {
	mu    sync.Mutex
	text  strings.Builder
	wrote chan struct{}
}

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.text.Write(p)
	t.mu.Unlock()
	select {
	case t.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

// waitFor waits until the output has a line containing s.
func (t *transcript) waitFor(tb testing.TB, s string) {
	tb.Helper()
	stop := time.After(20 * time.Second) // a hang guard, not a verdict
	for {
		t.mu.Lock()
		text := t.text.String()
		t.mu.Unlock()
		if strings.Contains(text, s) {
			return
		}
		select {
		case <-t.wrote:
		case <-stop:
			tb.Fatalf("no %q in the client's output:\n%s", s, text)
		}
	}
}

// After a server restart the chat client is back in its rooms (the new
// server never saw it join) and shows the next message said there.
func TestClientSurvivesAServerRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	conns := make(chan net.Conn)
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			select {
			case conns <- c:
			case <-ctx.Done():
				c.Close()
				return
			}
		}
	}()
	serve := func(ctx context.Context) chan error {
		done := make(chan error, 1)
		go func() {
			done <- runServer(ctx, &sharedListener{Listener: tcp, conns: conns, done: make(chan struct{})})
		}()
		return done
	}
	url := "ws://" + tcp.Addr().String() + "/chat"
	client := func(nick string) (io.WriteCloser, *transcript, chan error) {
		in, w := io.Pipe()
		out := &transcript{wrote: make(chan struct{}, 1)}
		done := make(chan error, 1)
		go func() { done <- runClient(ctx, url, nick, in, out) }()
		return w, out, done
	}

	sctx, stop := context.WithCancel(ctx)
	served := serve(sctx)
	aliceIn, alice, aliceDone := client("alice")
	alice.waitFor(t, "you are alice in lobby")
	io.WriteString(aliceIn, "/join news\n")
	alice.waitFor(t, "(now in news)")

	stop() // the old server goes away with every session
	if err := <-served; err != nil {
		t.Fatalf("first server: %v", err)
	}
	served = serve(ctx)
	alice.waitFor(t, "(back in lobby, news)")

	bobIn, bob, bobDone := client("bob")
	bob.waitFor(t, "you are bob in lobby")
	io.WriteString(bobIn, "hello after the restart\n")
	alice.waitFor(t, "[lobby] bob: hello after the restart")

	io.WriteString(aliceIn, "/quit\n")
	io.WriteString(bobIn, "/quit\n")
	for _, done := range []chan error{aliceDone, bobDone} {
		if err := <-done; err != nil {
			t.Errorf("client: %v", err)
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("second server: %v", err)
	}
}
