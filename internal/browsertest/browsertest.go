// Package browsertest starts headless Chromium for the tests that run a
// client in a real browser (examples/webchat, adapters/coder), with
// chromedp.
package browsertest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium to run: the one BETTERSOCKET_CHROMIUM names,
// or Debian's chromium (or chromium-browser, google-chrome) on PATH.
// Without one it skips the test, or fails it when CI=true: .ci/run
// installs Debian's chromium, so the browser tests must run there.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BETTERSOCKET_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true, yet no Chromium found: .ci/run installs Debian's chromium, so the browser test must run there")
	}
	t.Skip("no Chromium found (install Debian's chromium package, or set BETTERSOCKET_CHROMIUM): the browser test is skipped")
	return ""
}

// Browser starts the Chromium at path, headless, without sandbox or GPU,
// in a fresh profile under t.TempDir(), with its background services off,
// and returns the chromedp context of its tab and the function that ends
// the browser (call it before checking for leaked goroutines).
func Browser(ctx context.Context, t testing.TB, path string) (context.Context, context.CancelFunc) {
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	return bctx, func() {
		bcancel()
		acancel()
	}
}

// Serve serves hs on ln and returns the function that stops it, then
// closes the application's server behind it with closeApp (given 10 s),
// and reports their errors on t.
func Serve(t testing.TB, hs *http.Server, ln net.Listener, closeApp func(context.Context) error) (stop func()) {
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	return func() {
		hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := closeApp(ctx); err != nil {
			t.Errorf("server Close: %v", err)
		}
	}
}
