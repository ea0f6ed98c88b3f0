package coder_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/coder"
	"github.com/bettersocket/bettersocket/internal/browsertest"
)

// buildWasm compiles the browser client (internal/wasmredial) to js/wasm
// and returns the directory holding it as main.wasm, with the Go
// toolchain's wasm_exec.js and a page that runs it.
func buildWasm(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go") // go test puts its GOROOT/bin first on PATH
	if err != nil {
		t.Fatalf("the go command, to build the browser client: %v", err)
	}
	out, err := exec.Command(gobin, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	dir := t.TempDir()
	build := exec.Command(gobin, "build", "-o", filepath.Join(dir, "main.wasm"), "./internal/wasmredial")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the browser client: %v\n%s", err, out)
	}
	var glue []byte
	for _, p := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} { // Go 1.24 moved it to lib
		if glue, err = os.ReadFile(filepath.Join(goroot, p)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("wasm_exec.js of %s: %v", goroot, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), glue, 0o644); err != nil {
		t.Fatal(err)
	}
	const page = `<!doctype html>
<script src="wasm_exec.js"></script>
<script>
const go = new Go();
WebAssembly.instantiateStreaming(fetch("main.wasm"), go.importObject)
	.then((r) => go.run(r.instance))
	.catch((e) => { window.loadError = String(e); });
</script>
`
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// connKey keys the net.Conn of an HTTP request in its context, so that
// the test can cut the client's WebSocket under the server's feet.
type connKey struct{}

// redialPage is window.redial of the browser client (internal/wasmredial).
type redialPage struct {
	Connected bool   `json:"connected"`
	Reply     string `json:"reply"`
	Error     string `json:"error"`
}

// TestBrowserRedialAfterRefusal runs the Go client compiled to js/wasm in
// headless Chromium against a coder server (#12: a browser client's redial
// after a refused attempt waited for an older deadline). The client sends
// a request with a 9 s deadline of its own, which the server holds; the
// test cuts the client's connection and the server answers the next
// WebSocket handshake 503. The client must dial again after its backoff
// (under a second), resume, and get the answer before its deadline.
// Before the driver's timer armed a new runtime timer on every Reset
// (adapters/internal/clock), the redial waited for the request's deadline
// (Go's js/wasm scheduler woke for that timer first, see clock.realTimer),
// and the request failed with it. The verdict is the request's outcome,
// with 9 s for what takes well under one, so machine speed does not decide
// it. It skips when no Chromium is installed (.ci/run installs Debian's
// chromium, so it runs there).
func TestBrowserRedialAfterRefusal(t *testing.T) {
	browser := browsertest.Path(t)
	static := buildWasm(t)

	requested := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := coder.NewServer(adapters.ServerOptions{
		OnRequest: func(ctx context.Context, r adapters.Request) ([]byte, error) {
			requested <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return []byte("pong"), nil
		},
	})
	var (
		mu       sync.Mutex
		attempts int      // WebSocket handshakes
		first    net.Conn // the client's first connection, to cut
	)
	handshakes := make(chan int, 8)
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(static)))
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		n := attempts
		if n == 1 {
			first = r.Context().Value(connKey{}).(net.Conn)
		}
		handshakes <- n
		mu.Unlock()
		if n == 2 {
			http.Error(w, "refused by the test", http.StatusServiceUnavailable)
			return
		}
		srv.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler:     mux,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	defer browsertest.Serve(t, hs, ln, srv.Close)()
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bctx, closeBrowser := browsertest.Browser(ctx, t, browser)
	defer closeBrowser()

	read := func() redialPage {
		raw, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify(window.redial ?? {error: window.loadError ?? "no window.redial"})`))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		var p redialPage
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			t.Fatalf("page state %s: %v", raw, err)
		}
		return p
	}
	// until waits for expr to hold in the page.
	until := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
			t.Fatalf("waiting for %s: %v; page state %+v", what, err, read())
		}
	}

	url := "http://" + ln.Addr().String() + "/"
	if _, err := chromedp.Run(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	until("the client to connect", `!!(window.redial && (window.redial.connected || window.redial.error))`)
	select {
	case <-requested:
	case <-ctx.Done():
		t.Fatalf("the client's request never came; page state %+v", read())
	}
	<-handshakes
	mu.Lock()
	cut := first
	mu.Unlock()
	cut.Close()
	cutAt := time.Now()
	for want := 2; want <= 3; want++ {
		select {
		case <-handshakes:
		case <-ctx.Done():
			t.Fatalf("handshake %d never came; page state %+v", want, read())
		}
	}
	redialed := time.Since(cutAt)
	releaseOnce.Do(func() { close(release) })
	until("the answer", `!!(window.redial.reply || window.redial.error)`)
	if page := read(); page.Reply != "pong" || page.Error != "" {
		t.Fatalf("the client dialled again %v after the cut (once refused), and its request failed: %+v; the redial waited for the request's 9 s deadline", redialed.Round(time.Millisecond), page)
	}
	t.Logf("the client dialled again %v after the cut (once refused), and its request got the answer", redialed.Round(time.Millisecond))
	closeBrowser()
}
