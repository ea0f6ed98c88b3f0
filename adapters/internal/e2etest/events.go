package e2etest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/session"
)

// refusingListener accepts connections and closes the next n at once,
// before the server sees them (a server that is up but refuses, as one
// answering 503 does), and can close the live ones.
type refusingListener struct {
	net.Listener
	mu     sync.Mutex
	refuse int
	live   []net.Conn
}

func (l *refusingListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.refuse > 0 {
			l.refuse--
			l.mu.Unlock()
			nc.Close()
			continue
		}
		l.live = append(l.live, nc)
		l.mu.Unlock()
		return nc, nil
	}
}

// refuseNext makes the next n connections be refused, then closes the live
// ones.
func (l *refusingListener) refuseNext(n int) {
	l.mu.Lock()
	l.refuse = n
	live := l.live
	l.live = nil
	l.mu.Unlock()
	for _, nc := range live {
		nc.Close()
	}
}

// eventLog collects a client's events, as their types' names with
// ConnectFailed's attempt number.
type eventLog struct {
	mu   sync.Mutex
	got  []string
	more chan struct{}
}

func (l *eventLog) add(_ context.Context, ev session.Event) {
	s := fmt.Sprintf("%T", ev)
	if f, ok := ev.(*session.ConnectFailed); ok {
		s = fmt.Sprintf("%s %d", s, f.Attempt)
	}
	l.mu.Lock()
	l.got = append(l.got, s)
	l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
}

// until waits for an event named last and returns the log up to it.
func (l *eventLog) until(t *testing.T, last string) []string {
	t.Helper()
	stop := time.After(10 * time.Second) // a hang guard, not a verdict
	for {
		l.mu.Lock()
		i := slices.Index(l.got, last)
		got := slices.Clone(l.got)
		l.mu.Unlock()
		if i >= 0 {
			return got[:i+1]
		}
		select {
		case <-l.more:
		case <-stop:
			t.Fatalf("no %s event; events so far: %q", last, got)
		}
	}
}

// eventRun is a server behind a refusingListener and a client whose
// events are logged, with fast reconnects.
type eventRun struct {
	ln   *refusingListener
	log  *eventLog
	c    *adapters.Client
	stop func(context.Context) error
}

// startEventRun serves on a listener that refuses its first refuse
// connections, and dials it.
func startEventRun(ctx context.Context, t *testing.T, tr Transport, refuse int) *eventRun {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &eventRun{ln: &refusingListener{Listener: tcp, refuse: refuse}, log: &eventLog{more: make(chan struct{}, 1)}}
	var addr string
	_, addr, r.stop = tr.Serve(t, r.ln, adapters.ServerOptions{})
	r.c, err = tr.Dial(ctx, addr, adapters.ClientOptions{
		Session: session.ClientConfig{ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond},
		OnEvent: r.log.add,
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return r
}

// check compares the events up to last with want, then closes the run.
func (r *eventRun) check(ctx context.Context, t *testing.T, last string, want []string) {
	t.Helper()
	if got := r.log.until(t, last); !slices.Equal(got, want) {
		t.Errorf("events %q\nwant   %q", got, want)
	}
	if err := r.c.Close(ctx); err != nil {
		t.Error(err)
	}
	if err := r.stop(ctx); err != nil {
		t.Error(err)
	}
}

// ConnectionEvents checks that a client reports the same connection events
// with the same meaning over every transport: one ConnectionLost when its
// established connection is lost, then one ConnectFailed per failed
// attempt, numbered from 1, whether the transport's dial failed (WebSocket:
// no HTTP answer) or its connection died before WELCOME (net.Conn: the TCP
// dial succeeded), then Resumed.
func ConnectionEvents(t *testing.T, tr Transport) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := startEventRun(ctx, t, tr, 0)
	const refused = 3
	r.ln.refuseNext(refused)
	want := []string{"*session.SessionStarted", "*session.ConnectionLost"}
	for i := range refused {
		want = append(want, fmt.Sprintf("*session.ConnectFailed %d", i+1))
	}
	r.check(ctx, t, "*session.Resumed", append(want, "*session.Resumed"))
}

// FirstDialRetries checks that a Dial started while the server refuses
// connections retries with the reconnect backoff and returns once the
// server accepts, reporting each failed attempt as ConnectFailed first.
func FirstDialRetries(t *testing.T, tr Transport) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := startEventRun(ctx, t, tr, 2)
	r.check(ctx, t, "*session.SessionStarted", []string{"*session.ConnectFailed 1", "*session.ConnectFailed 2", "*session.SessionStarted"})
}
