package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/internal/browsertest"
	"github.com/bettersocket/bettersocket/session"
)

// connListener remembers the connections it accepted, so that the test
// can kill them under the server's feet.
type connListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// killAll closes every connection accepted so far and reports how many.
func (l *connListener) killAll() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	n := len(l.conns)
	l.conns = nil
	return n
}

// pageState is the page's window.chat (see web/app.ts).
type pageState struct {
	ClientID string `json:"clientId"`
	Joined   bool   `json:"joined"`
	Lines    []struct {
		Name string `json:"name"`
		Text string `json:"text"`
		Seq  uint64 `json:"seq"`
	} `json:"lines"`
	Pongs           []string `json:"pongs"`
	ConnectionsLost int      `json:"connectionsLost"`
	Encrypted       bool     `json:"encrypted"`
	Resumes         int      `json:"resumes"`
	SessionsLost    int      `json:"sessionsLost"`
	Errors          []string `json:"errors"`
}

func (s pageState) texts() []string {
	var out []string
	for _, l := range s.Lines {
		out = append(out, l.Name+": "+l.Text)
	}
	return out
}

// TestBrowser loads the chat page in headless Chromium from this test's
// server. The page connects, joins the lobby, publishes its presence there,
// says a line and pings the server (named messages and requests, routed by
// the server's Mux); the server kills the connection and, while the page
// is away, says a line to the lobby; the page must resume and show that
// line exactly once, after the ones before it. It skips when no Chromium
// is installed (.ci/run installs Debian's chromium, so it runs there).
func TestBrowser(t *testing.T) { browserChat(t, false) }

// TestBrowserSecure is TestBrowser with the server requiring encryption
// (server-key mode, as go run ./examples/webchat -secure): the page, given
// the server's public key in its URL, runs the handshake in the browser on
// its first connection and again on the one it resumes on.
func TestBrowserSecure(t *testing.T) { browserChat(t, true) }

func browserChat(t *testing.T, encrypt bool) {
	browser := browsertest.Path(t)
	defer goleak.VerifyNone(t)

	var sec secure.Config
	query := ""
	if encrypt {
		var seed [32]byte
		copy(seed[:], "webchat browser test")
		kp, err := secure.GenerateKeyPair(rand.NewChaCha8(seed))
		if err != nil {
			t.Fatal(err)
		}
		sec = secure.Config{Mode: secure.ServerKey, Static: kp}
		query = "&key=" + url.QueryEscape(kp.Public.String())
	}
	detached := make(chan struct{}, 16)
	h, srv := newServer(sec, func(ev session.Event) {
		if _, ok := ev.(*session.Detached); ok {
			select {
			case detached <- struct{}{}:
			default:
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &connListener{Listener: ln}
	hs := &http.Server{Handler: h}
	defer browsertest.Serve(t, hs, cl, srv.Close)()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bctx, closeBrowser := browsertest.Browser(ctx, t, browser)
	defer closeBrowser()

	read := func() pageState {
		raw, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify(window.chat ?? null)`))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		var s pageState
		if raw != "null" {
			if err := json.Unmarshal([]byte(raw), &s); err != nil {
				t.Fatalf("page state %s: %v", raw, err)
			}
		}
		return s
	}
	// until waits for the page to reach a state, polling it in the browser
	// (chromedp.Poll evaluates the expression until it is true).
	until := func(what, expr string) pageState {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
			t.Fatalf("waiting for %s: %v; page state %+v", what, err, read())
		}
		return read()
	}

	page := "http://" + ln.Addr().String() + "/?name=browser&say=hello&ping=there" + query
	if _, err := chromedp.Run(bctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("loading %s: %v", page, err)
	}
	before := until("the page to join, say hello and get its pong",
		`window.chat && window.chat.joined && window.chat.announced && window.chat.pongs.length === 1 && window.chat.lines.length === 1`)
	if got := before.texts(); !slices.Equal(got, []string{"browser: hello"}) {
		t.Fatalf("lines before the kill: %q", got)
	}
	if !slices.Equal(before.Pongs, []string{"pong: there"}) {
		t.Fatalf("pongs: %q", before.Pongs)
	}

	// Kill the page's connection; once the server has noticed, say a line
	// to the lobby while the page is away.
	if n := cl.killAll(); n == 0 {
		t.Fatal("no connection to kill")
	}
	select {
	case <-detached:
	case <-ctx.Done():
		t.Fatal("the server never saw the connection go")
	}
	if err := adapters.BroadcastEvent(ctx, srv.Server, "lobby", "line", Line{Name: "server", Text: "while you were away"}); err != nil {
		t.Fatal(err)
	}

	after := until("the page to resume and get the line it missed",
		`window.chat.resumes >= 1 && window.chat.lines.length >= 2`)
	want := []string{"browser: hello", "server: while you were away"}
	if got := after.texts(); !slices.Equal(got, want) {
		t.Errorf("lines: %q, want %q", got, want)
	}
	if after.Lines[1].Seq <= after.Lines[0].Seq { // responses take sequence numbers too: increasing, not consecutive
		t.Errorf("sequence numbers %d then %d", after.Lines[0].Seq, after.Lines[1].Seq)
	}
	if after.ClientID != before.ClientID || after.SessionsLost != 0 || after.ConnectionsLost < 1 || len(after.Errors) > 0 || after.Encrypted != encrypt {
		t.Errorf("page state after the kill: %+v (before: client %s)", after, before.ClientID)
	}
	// A line that arrives twice would be on the page now: the resume
	// resent nothing already acknowledged. Say one more to be sure the
	// page still talks and nothing was queued behind.
	if err := adapters.BroadcastEvent(ctx, srv.Server, "lobby", "line", Line{Name: "server", Text: "welcome back"}); err != nil {
		t.Fatal(err)
	}
	final := until("the last line", `window.chat.lines.length >= 3`)
	want = append(want, "server: welcome back")
	if got := final.texts(); !slices.Equal(got, want) {
		t.Errorf("lines: %q, want %q", got, want)
	}
	t.Logf("page %s: %d lines, %d connection lost, %d resumed", final.ClientID, len(final.Lines), final.ConnectionsLost, final.Resumes)
	closeBrowser()
}
