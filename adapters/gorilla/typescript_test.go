package gorilla_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// The TypeScript client (clients/ts) is tested from here so that go test
// ./... stays the one test command: its own suite (codec and machine
// conformance against the Go vectors) and a live run of TS clients in
// Node.js against this package's server. Both need node and the package's
// dependencies (npm ci in clients/ts); without them they skip and say so.

var tsBuild struct {
	once sync.Once
	dir  string
	err  error
	skip string
}

// tsClient returns the directory of the TypeScript client with its tests
// compiled, or skips the test when Node.js or the dependencies are absent.
func tsClient(t *testing.T) string {
	t.Helper()
	tsBuild.once.Do(func() {
		dir, err := filepath.Abs(filepath.Join("..", "..", "clients", "ts"))
		if err != nil {
			tsBuild.err = err
			return
		}
		if _, err := exec.LookPath("node"); err != nil {
			tsBuild.skip = "node is not installed: the TypeScript client's tests are skipped (.ci/run installs Node.js and runs them)"
			return
		}
		tsc := filepath.Join(dir, "node_modules", ".bin", "tsc")
		if _, err := os.Stat(tsc); err != nil {
			tsBuild.skip = "clients/ts/node_modules is missing: run npm ci in clients/ts to run the TypeScript client's tests (.ci/run does)"
			return
		}
		cmd := exec.Command(tsc, "-p", "tsconfig.test.json")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			tsBuild.err = fmt.Errorf("tsc: %v\n%s", err, out)
			return
		}
		tsBuild.dir = dir
	})
	if tsBuild.skip != "" {
		if os.Getenv("CI") == "true" {
			// .ci/run installs everything these tests need: a skip there
			// would hide that they did not run.
			t.Fatal("CI=true, yet " + tsBuild.skip)
		}
		t.Skip(tsBuild.skip)
	}
	if tsBuild.err != nil {
		t.Fatal(tsBuild.err)
	}
	return tsBuild.dir
}

// TestTypeScriptSuite runs the TS client's own tests: codec conformance
// (codec/testdata/conformance.json) and machine conformance
// (sim/testdata/clientvectors), with Node's test runner.
func TestTypeScriptSuite(t *testing.T) {
	dir := tsClient(t)
	tests, err := filepath.Glob(filepath.Join(dir, "build", "test", "*.test.js"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no compiled TS tests: %v", err)
	}
	// A test that waits for something that never comes fails after a
	// minute, by name, rather than holding go test until its own timeout.
	cmd := exec.Command("node", append([]string{"--test", "--test-reporter=dot", "--test-timeout=60000"}, tests...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("node --test: %d test files passed", len(tests))

	// The web chat example serves a committed bundle of the client: it
	// must be what the sources build today.
	fresh := filepath.Join(t.TempDir(), "app.js")
	cmd = exec.Command("node", "scripts/bundle.mjs", "example", fresh)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bundling the example: %v\n%s", err, out)
	}
	got, err1 := os.ReadFile(fresh)
	committed, err2 := os.ReadFile(filepath.Join(dir, "..", "..", "examples", "webchat", "static", "app.js"))
	if err := errors.Join(err1, err2); err != nil || !bytes.Equal(got, committed) {
		t.Errorf("examples/webchat/static/app.js is stale (%v): run npm run example in clients/ts", err)
	}
}

// tsPublishes is how many messages each TS client of the live test
// publishes to the room (test/live/chaos.ts).
const tsPublishes = 20

// tsPeer is the server's view of one TS client.
type tsPeer struct {
	idx     int
	next    uint64 // last "m" seq received in order
	lastReq uint64 // last "q" k received in order
	served  int    // server requests answered correctly
	started bool
	errors  []string
}

// TestTypeScriptLive runs three TS clients in Node.js against a gorilla
// server that kills their connections at least 25 times while 10,000
// messages flow each way per client, with requests both ways and room
// broadcasts; every 10th message and every other request is named and
// routed by a Mux on each side, and at the end each client publishes to
// the room. Both ends check exactly-once in-order delivery, routing by
// name, and one outcome per request or publish. The kills are paced by the server's progress, not
// by the clock, so the verdict does not depend on the machine's speed.
func TestTypeScriptLive(t *testing.T) {
	n, broadcasts := 10000, 500
	if testing.Short() {
		n, broadcasts = 2000, 100
	}
	tsLive(t, n, broadcasts, false)
}

// TestTypeScriptLiveSecure is TestTypeScriptLive with encryption in mutual
// mode (Noise XK): the server knows each TS client's static key, and its
// Authorize checks that every HELLO, on every new connection and its fresh
// handshake, comes with the key of the client that its token names.
func TestTypeScriptLiveSecure(t *testing.T) {
	n, broadcasts := 10000, 500
	if testing.Short() {
		n, broadcasts = 2000, 100
	}
	tsLive(t, n, broadcasts, true)
}

// tsKeys are the live test's keys in mutual mode, drawn from a fixed seed.
type tsKeys struct {
	server  secure.KeyPair
	clients []secure.KeyPair
}

func newTSKeys(t *testing.T, clients int) *tsKeys {
	rng := rand.NewChaCha8([32]byte{'t', 's'})
	k := &tsKeys{}
	var err error
	if k.server, err = secure.GenerateKeyPair(rng); err != nil {
		t.Fatal(err)
	}
	for range clients {
		kp, err := secure.GenerateKeyPair(rng)
		if err != nil {
			t.Fatal(err)
		}
		k.clients = append(k.clients, kp)
	}
	return k
}

// env is the BS_SECURE variable of test/live/chaos.ts.
func (k *tsKeys) env(t *testing.T) string {
	priv := []string{}
	for _, c := range k.clients {
		b, err := c.Private.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		priv = append(priv, string(b))
	}
	b, err := json.Marshal(map[string]any{"serverKey": k.server.Public.String(), "privateKeys": priv})
	if err != nil {
		t.Fatal(err)
	}
	return "BS_SECURE=" + string(b)
}

func tsLive(t *testing.T, n, broadcasts int, encrypt bool) {
	dir := tsClient(t)
	const clients = 3
	const wantKills = 25
	var keys *tsKeys
	if encrypt {
		keys = newTSKeys(t, clients)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	kl, err := e2etest.NewKillListener()
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		peers   = map[proto.ClientID]*tsPeer{}
		started atomic.Int32
		sent    atomic.Int64
		tick    = make(chan struct{}, 64)
		wg      sync.WaitGroup
		srv     *gorilla.Server
		failed  []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failed = append(failed, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	total := int64(clients * n)
	progress := func() {
		if s := sent.Add(1); s%(total/int64(wantKills+5)) == 0 {
			select {
			case tick <- struct{}{}:
			default:
			}
		}
	}
	sender := func(id proto.ClientID) {
		defer wg.Done()
		for seq := 1; seq <= n; seq++ {
			// A request every 100 messages, answered before the message
			// goes: once the client has the last message, it has answered
			// every request. Every other one names the method "sq".
			if seq%100 == 0 {
				q := "sq " + strconv.Itoa(seq/100)
				request := srv.Request
				if (seq/100)%2 == 0 {
					request = func(ctx context.Context, id proto.ClientID, p []byte) ([]byte, error) {
						return srv.Invoke(ctx, id, "sq", p)
					}
				}
				res, err := request(ctx, id, []byte(q))
				if err != nil || string(res) != "re:"+q {
					fail("request %s: %q, %v", q, res, err)
					return
				}
				mu.Lock()
				peers[id].served++
				mu.Unlock()
			}
			send := srv.Send
			if seq%10 == 0 {
				send = func(ctx context.Context, id proto.ClientID, p []byte) error { return srv.Emit(ctx, id, "tick", p) }
			}
			if err := send(ctx, id, []byte("s "+strconv.Itoa(seq))); err != nil {
				fail("send s %d: %v", seq, err)
				return
			}
			progress()
		}
	}
	broadcaster := func() {
		defer wg.Done()
		for k := 1; k <= broadcasts; k++ {
			if err := srv.Broadcast(ctx, "all", []byte("b "+strconv.Itoa(k))); err != nil {
				fail("broadcast %d: %v", k, err)
				return
			}
		}
	}
	// The clients' messages named "m" and requests naming "echo" take the
	// Mux's routes, the others OnMessage and OnRequest: both check one
	// order. Their publishes reach the server application as messages in
	// room "all" named "pub", routed to their own handler.
	var publishes atomic.Int32
	onMessage := func(_ context.Context, m adapters.Message) {
		f := strings.Fields(string(m.Payload))
		if len(f) != 3 || f[0] != "m" || m.Room != "" {
			fail("message %q in room %q", m.Payload, m.Room)
			return
		}
		idx, _ := strconv.Atoi(f[1])
		seq, _ := strconv.ParseUint(f[2], 10, 64)
		if (m.Name == "m") != (seq%10 == 0) {
			fail("message %q named %q", m.Payload, m.Name)
		}
		mu.Lock()
		p := peers[m.Client]
		if p == nil {
			p = &tsPeer{idx: idx}
			peers[m.Client] = p
		}
		if p.idx != idx || seq != p.next+1 {
			p.errors = append(p.errors, fmt.Sprintf("message %q after %d", m.Payload, p.next))
		} else {
			p.next = seq
		}
		// A client sends only once its JOIN was answered: its first
		// message starts the server's side of the traffic.
		start := !p.started
		p.started = true
		mu.Unlock()
		if start {
			wg.Add(1)
			go sender(m.Client)
			if started.Add(1) == clients {
				wg.Add(1)
				go broadcaster()
			}
		}
	}
	onRequest := func(_ context.Context, r adapters.Request) ([]byte, error) {
		f := strings.Fields(string(r.Payload))
		if len(f) == 3 && f[0] == "q" {
			k, _ := strconv.ParseUint(f[2], 10, 64)
			if (r.Name == "echo") != (k%2 == 0) {
				fail("request %q named %q", r.Payload, r.Name)
			}
			mu.Lock()
			if p := peers[r.Client]; p == nil || k != p.lastReq+1 {
				fail("request %q out of order", r.Payload)
			} else {
				p.lastReq = k
			}
			mu.Unlock()
		}
		return append([]byte("re:"), r.Payload...), nil
	}
	mux := adapters.NewMux()
	mux.HandleMessage("m", onMessage)
	mux.HandleRequest("echo", onRequest)
	mux.HandleMessage("pub", func(_ context.Context, m adapters.Message) {
		if m.Room != "all" || !strings.HasPrefix(string(m.Payload), "p ") {
			fail("publish %q in room %q", m.Payload, m.Room)
		}
		publishes.Add(1)
	})
	// Every HELLO of client i carries the token "token <i> <n>", n fresh
	// for each connection attempt (the TS client's credentials function):
	// a resume that presents an old token fails the test.
	tokens := map[int]int{}
	var resumesAuthorized atomic.Int32
	authorize := func(r session.AuthRequest) error {
		var idx, k int
		if _, err := fmt.Sscanf(string(r.Auth), "token %d %d", &idx, &k); err != nil {
			fail("HELLO with credentials %q: %v", r.Auth, err)
			return errors.New("bad token")
		}
		mu.Lock()
		defer mu.Unlock()
		if k <= tokens[idx] {
			fail("client %d presented token %d after token %d", idx, k, tokens[idx])
		}
		tokens[idx] = k
		if r.Resume {
			resumesAuthorized.Add(1)
		}
		if keys != nil && (idx < 0 || idx >= clients || r.ClientKey != keys.clients[idx].Public) {
			fail("client %d's HELLO came with key %s", idx, r.ClientKey)
		}
		return nil
	}
	var sec secure.Config
	if keys != nil {
		known := map[secure.PublicKey]bool{}
		for _, c := range keys.clients {
			known[c.Public] = true
		}
		sec = secure.Config{Mode: secure.Mutual, Static: keys.server, KnownClient: func(k secure.PublicKey) bool { return known[k] }}
	}
	srv = gorilla.NewServer(adapters.ServerOptions{
		Session: session.ServerConfig{
			AllowRoom: func(r session.RoomRequest) bool { return r.Room == "all" },
			Authorize: authorize,
			Secure:    sec,
		},
		Mux:       mux,
		OnMessage: onMessage,
		OnRequest: onRequest,
	})
	hs := &http.Server{Handler: srv}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(kl) }()

	killed := make(chan int, 1)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		kills := 0
		defer func() { killed <- kills }()
		for kills < wantKills+5 {
			select {
			case <-tick:
			case <-ctx.Done():
				return
			}
			for !kl.Kill(rng) {
				select {
				case <-kl.Accepted():
				case <-ctx.Done():
					return
				}
			}
			kills++
		}
	}()

	url := "ws://" + kl.Addr().String() + "/"
	cmd := exec.CommandContext(ctx, "node", "build/test/live/chaos.js", url, strconv.Itoa(clients), strconv.Itoa(n), strconv.Itoa(broadcasts))
	cmd.Dir = dir
	if keys != nil {
		cmd.Env = append(os.Environ(), keys.env(t))
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) } // the clients print where they are
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	wg.Wait()
	cancel() // stops the killer if it is still waiting for progress
	kills := <-killed
	hs.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("http.Server.Serve: %v", err)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := srv.Close(cctx); err != nil {
		t.Errorf("server Close: %v", err)
	}

	var summary []struct {
		Client     int      `json:"client"`
		Received   int      `json:"received"`
		Broadcasts int      `json:"broadcasts"`
		Requests   int      `json:"requests"`
		Responses  int      `json:"responses"`
		Served     int      `json:"served"`
		Published  int      `json:"published"`
		PubIn      int      `json:"pubReceived"`
		Reconnects int      `json:"reconnects"`
		Resumes    int      `json:"resumes"`
		Errors     []string `json:"errors"`
	}
	if runErr != nil || json.Unmarshal(stdout.Bytes(), &summary) != nil {
		t.Fatalf("the TS clients failed: %v\nstdout: %s\nstderr: %s", runErr, stdout.Bytes(), stderr.Bytes())
	}
	if len(summary) != clients {
		t.Fatalf("%d client summaries, want %d", len(summary), clients)
	}
	for _, s := range summary {
		t.Logf("TS client %d: received %d messages and %d broadcasts, %d/%d requests answered, served %d, published %d and received %d publishes, %d connections lost, %d resumes",
			s.Client, s.Received, s.Broadcasts, s.Responses, s.Requests, s.Served, s.Published, s.PubIn, s.Reconnects, s.Resumes)
		if s.Received != n || s.Broadcasts != broadcasts || s.Responses != n/100 || s.Served != n/100 ||
			s.Published != tsPublishes || s.PubIn != (clients-1)*tsPublishes || len(s.Errors) > 0 {
			t.Errorf("TS client %d: %+v", s.Client, s)
		}
	}
	for _, f := range failed {
		t.Error(f)
	}
	if got := publishes.Load(); got != clients*tsPublishes {
		t.Errorf("the server application saw %d publishes, want %d", got, clients*tsPublishes)
	}
	if len(peers) != clients {
		t.Errorf("%d sessions sent messages, want %d", len(peers), clients)
	}
	for id, p := range peers {
		if p.next != uint64(n) || p.lastReq != uint64(n/100) || p.served != n/100 || len(p.errors) > 0 {
			t.Errorf("server side of %s (client %d): %d messages, %d requests in order, %d served; %v", id, p.idx, p.next, p.lastReq, p.served, p.errors)
		}
	}
	t.Logf("%d connections killed, %d resumes authorized with a fresh token", kills, resumesAuthorized.Load())
	if resumesAuthorized.Load() == 0 {
		t.Errorf("no resume was authorized: the refreshed tokens were not tried")
	}
	if kills < wantKills {
		t.Errorf("%d connections killed, want at least %d", kills, wantKills)
	}
}

// untar extracts the files of npm's package tarball into dir, without the
// package/ prefix npm gives them.
func untar(t *testing.T, tarball, dir string) {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(h.Name, "package/")
		if !ok || h.Typeflag != tar.TypeReg || !filepath.IsLocal(name) {
			t.Fatalf("npm pack: unexpected entry %q", h.Name)
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// serveLoopback serves srv on a loopback port until the test ends, then
// closes it (reporting a Close that fails), and returns its URL.
func serveLoopback(t testing.TB, srv *gorilla.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("server Close: %v", err)
		}
	})
	return "ws://" + ln.Addr().String() + "/"
}

// TestTypeScriptSecure connects the TS client to gorilla servers with each
// encryption mode, matching and not: with matching settings a request goes
// through (in mutual mode the server's Authorize sees the client's key);
// with a wrong key, another mode, or encryption on one side only, the
// server refuses the connection with CLOSE security (4006), and connect
// rejects with that CloseError, as the Go client's Dial does.
func TestTypeScriptSecure(t *testing.T) {
	dir := tsClient(t)
	keys := newTSKeys(t, 2)
	srvKP, client, stranger := keys.server, keys.clients[0], keys.clients[1]
	var psk, otherPSK secure.PresharedKey
	psk[0], otherPSK[0] = 1, 2
	b64 := func(k [32]byte) string { return base64.StdEncoding.EncodeToString(k[:]) }
	privText := func(kp secure.KeyPair) string {
		b, err := kp.Private.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	type tsCase struct {
		name   string
		server secure.Config
		client map[string]any // secure() options; nil: plaintext
		ok     bool
	}
	known := func(k secure.PublicKey) bool { return k == client.Public }
	cases := []tsCase{
		{"psk", secure.Config{Mode: secure.PSK, PSK: psk}, map[string]any{"mode": "psk", "psk": b64(psk)}, true},
		{"server-key", secure.Config{Mode: secure.ServerKey, Static: srvKP}, map[string]any{"mode": "server-key", "serverKey": b64(srvKP.Public)}, true},
		{"mutual", secure.Config{Mode: secure.Mutual, Static: srvKP, KnownClient: known}, map[string]any{"mode": "mutual", "serverKey": b64(srvKP.Public), "privateKey": privText(client)}, true},
		{"wrong-psk", secure.Config{Mode: secure.PSK, PSK: psk}, map[string]any{"mode": "psk", "psk": b64(otherPSK)}, false},
		{"wrong-server-key", secure.Config{Mode: secure.ServerKey, Static: srvKP}, map[string]any{"mode": "server-key", "serverKey": b64(stranger.Public)}, false},
		{"unknown-client-key", secure.Config{Mode: secure.Mutual, Static: srvKP, KnownClient: known}, map[string]any{"mode": "mutual", "serverKey": b64(srvKP.Public), "privateKey": privText(stranger)}, false},
		{"other-mode", secure.Config{Mode: secure.PSK, PSK: psk}, map[string]any{"mode": "server-key", "serverKey": b64(srvKP.Public)}, false},
		{"server-plaintext", secure.Config{}, map[string]any{"mode": "psk", "psk": b64(psk)}, false},
		{"client-plaintext", secure.Config{Mode: secure.PSK, PSK: psk}, nil, false},
	}
	var mu sync.Mutex
	var failed []string
	var payload []map[string]any
	for _, c := range cases {
		srv := gorilla.NewServer(adapters.ServerOptions{
			Session: session.ServerConfig{
				Secure: c.server,
				Authorize: func(r session.AuthRequest) error {
					if c.server.Mode == secure.Mutual && r.ClientKey != client.Public {
						mu.Lock()
						failed = append(failed, fmt.Sprintf("%s: authorized with key %s", c.name, r.ClientKey))
						mu.Unlock()
					}
					return nil
				},
			},
			OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) {
				return append([]byte("re:"), r.Payload...), nil
			},
		})
		url := serveLoopback(t, srv)
		var sec any
		if c.client != nil {
			sec = c.client
		}
		payload = append(payload, map[string]any{"name": c.name, "url": url, "secure": sec})
	}
	js, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "build/test/live/secure.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BS_CASES="+string(js))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	var results []struct {
		Name      string  `json:"name"`
		OK        bool    `json:"ok"`
		Reply     string  `json:"reply"`
		Error     string  `json:"error"`
		CloseCode *int    `json:"closeCode"`
		Reason    *string `json:"reason"`
		Remote    *bool   `json:"remote"`
		Message   *string `json:"message"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil || len(results) != len(cases) {
		t.Fatalf("node said %s (%v)\n%s", stdout.Bytes(), err, stderr.Bytes())
	}
	for i, c := range cases {
		r := results[i]
		switch {
		case r.Name != c.name:
			t.Errorf("result %d is %q, want %q", i, r.Name, c.name)
		case c.ok && (!r.OK || r.Reply != "re:ping "+c.name):
			t.Errorf("%s: %+v, want the request answered", c.name, r)
		case !c.ok && (r.OK || r.Error != "CloseError" || r.CloseCode == nil || *r.CloseCode != int(proto.CloseSecurity) || r.Remote == nil || !*r.Remote):
			t.Errorf("%s: %+v, want the server's CLOSE security", c.name, r)
		case !c.ok:
			t.Logf("%s: refused, CLOSE security %q", c.name, *r.Reason)
		default:
			t.Logf("%s: request answered", c.name)
		}
	}
	for _, f := range failed {
		t.Error(f)
	}
}

// TestTypeScriptWithoutWs installs the package as npm packs it (npm pack,
// which builds dist/) where the ws package, an optional peer dependency, is
// not installed: the package and its dependencies, but no ws. A consumer
// written in strict TypeScript without the DOM's types type-checks against
// the package's declarations, then runs: on a Node.js with a WebSocket of
// its own (22 and later) its request through @bettersocket/client/node goes
// through; on an older one, connect rejects with the TypeError that says to
// install ws. Either way the import itself succeeds.
func TestTypeScriptWithoutWs(t *testing.T) {
	dir := tsClient(t)
	tmp := t.TempDir()
	cmd := exec.Command("npm", "pack", "--silent", "--pack-destination", tmp)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("npm pack: %v\n%s", err, out)
	}
	mods := filepath.Join(tmp, "node_modules")
	untar(t, filepath.Join(tmp, strings.TrimSpace(string(out))), filepath.Join(mods, "@bettersocket", "client"))
	// The dependencies, and for the consumer's type check Node's types, but no ws.
	if err := os.MkdirAll(filepath.Join(mods, "@types"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dep := range []string{"cborg", "@noble", "@types/node", "undici-types"} {
		if err := os.Symlink(filepath.Join(dir, "node_modules", dep), filepath.Join(mods, dep)); err != nil {
			t.Fatal(err)
		}
	}
	// A consumer in strict TypeScript, without the DOM's types: it checks
	// the package's declarations, then runs as compiled.
	files := map[string]string{
		"package.json": `{"type": "module"}`,
		"tsconfig.json": `{"compilerOptions": {"target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
  "lib": ["ES2022"], "types": ["node"], "strict": true, "exactOptionalPropertyTypes": true, "skipLibCheck": false},
  "files": ["main.ts"]}`,
		"main.ts": `import { connect, raw } from '@bettersocket/client/node'
const global = typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function'
try {
  const c = await connect(process.argv[2] ?? '', { codec: raw, failFast: true })
  const reply = await c.request(new TextEncoder().encode('ping'))
  await c.close()
  console.log(JSON.stringify({ global, ok: true, reply: new TextDecoder().decode(reply as Uint8Array) }))
} catch (err) {
  const e = err as Error
  console.log(JSON.stringify({ global, ok: false, error: e.name, message: e.message }))
}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd = exec.Command("node", filepath.Join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the consumer does not type-check against the package: %v\n%s", err, out)
	}

	srv := gorilla.NewServer(adapters.ServerOptions{
		OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) {
			return append([]byte("re:"), r.Payload...), nil
		},
	})
	url := serveLoopback(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd = exec.CommandContext(ctx, "node", filepath.Join(tmp, "main.js"), url)
	cmd.Dir = tmp
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	var r struct {
		Global  bool   `json:"global"`
		OK      bool   `json:"ok"`
		Reply   string `json:"reply"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("node said %s (%v)\n%s", stdout.Bytes(), err, stderr.Bytes())
	}
	switch {
	case r.Global && (!r.OK || r.Reply != "re:ping"):
		t.Errorf("with Node's own WebSocket and no ws: %+v, want the request answered", r)
	case !r.Global && (r.OK || r.Error != "TypeError" || !strings.Contains(r.Message, "install the ws package")):
		t.Errorf("with no WebSocket and no ws: %+v, want connect to reject with the TypeError that names ws", r)
	case r.Global:
		t.Log("Node's own WebSocket, no ws: request answered")
	default:
		t.Logf("no WebSocket, no ws: %s: %s", r.Error, r.Message)
	}
}

// BenchmarkTypeScriptSideBySide measures the Node.js client and the Go
// client, each in a process of its own, against the same gorilla server:
// the request round trip, and the rate of pipelined 64-byte messages (sent
// as fast as the send window allows, timed until a request sent after them
// is answered). For scale it also times Node's floors: the round trip of
// plain WebSocket messages with the ws package against a raw
// gorilla/websocket echo (node-raw-ws-rt-µs, beside the Go process's own,
// go-process-raw-ws-rt-µs), and of requests to this server with the
// protocol driven by hand over the ws package (node-by-hand-rt-µs: what the
// Node.js client adds is node-rt-µs minus that). The round trips are timed
// in interleaved blocks, the Go process's and Node's one after the other,
// so that both see the same load on a shared machine; each figure is the
// median over the blocks, and node/go-process-rt is the median of the
// blocks' ratios. go-rt-µs and go-msg/s are a Go client in the benchmark's
// own process, timed before. One run is enough:
//
//	go test ./adapters/gorilla -run=NONE -bench=TypeScriptSideBySide -benchtime=1x
func BenchmarkTypeScriptSideBySide(b *testing.B) {
	if _, err := exec.LookPath("node"); err != nil {
		b.Skip("node is not installed")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "clients", "ts"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "build", "test", "live", "bench.js")); err != nil {
		b.Skip("the TS client's tests are not built: run go test -run TestTypeScriptSuite ./adapters/gorilla first")
	}
	const blocks, perBlock, messages, size = 20, 250, 200000, 64
	srv := gorilla.NewServer(adapters.ServerOptions{
		OnMessage: func(context.Context, adapters.Message) {},
		OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) { return r.Payload, nil },
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	echoSrv := rawServer(echoBack)
	defer func() {
		echoSrv.Close()
		hs.Close()
		srv.Close(context.Background())
	}()
	url := "ws://" + ln.Addr().String() + "/"
	for range b.N {
		ctx := context.Background()
		c, err := gorilla.Dial(ctx, url, adapters.ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ping := make([]byte, size)
		roundTrips(b, c, ping, 200)
		goRT := roundTrips(b, c, ping, blocks*perBlock)
		goRate := pipelined(b, c, ping, messages)
		if err := c.Close(ctx); err != nil {
			b.Fatal(err)
		}

		sub := exec.Command(os.Args[0], "-test.run=^TestGoClientProcess$", "-test.count=1")
		sub.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", benchEnv, url, wsURL(echoSrv), size))
		goProc := startBenchWorker(b, sub)
		cmd := exec.Command("node", "build/test/live/bench.js", url, wsURL(echoSrv), strconv.Itoa(size))
		cmd.Dir = dir
		node := startBenchWorker(b, cmd)
		// Warm up (Node's JIT above all), then the interleaved blocks.
		goProc.do("client 200")
		goProc.do("raw 200")
		node.do("client 3000")
		node.do("by-hand 3000")
		node.do("raw 1000")
		var goRTs, goRaws, nodeRTs, handRTs, rawRTs, ratios []float64
		for range blocks {
			n := fmt.Sprint(perBlock)
			g, r := goProc.do("client "+n), node.do("client "+n)
			goRTs, nodeRTs, ratios = append(goRTs, g), append(nodeRTs, r), append(ratios, r/g)
			handRTs = append(handRTs, node.do("by-hand "+n))
			rawRTs = append(rawRTs, node.do("raw "+n))
			goRaws = append(goRaws, goProc.do("raw "+n))
		}
		goProcRate := goProc.do(fmt.Sprint("pipe ", messages))
		nodeRate := node.do(fmt.Sprint("pipe ", messages))
		goProc.quit()
		node.quit()

		b.ReportMetric(goRT, "go-rt-µs")
		b.ReportMetric(median(goRTs), "go-process-rt-µs")
		b.ReportMetric(median(goRaws), "go-process-raw-ws-rt-µs")
		b.ReportMetric(median(nodeRTs), "node-rt-µs")
		b.ReportMetric(median(rawRTs), "node-raw-ws-rt-µs")
		b.ReportMetric(median(handRTs), "node-by-hand-rt-µs")
		b.ReportMetric(median(ratios), "node/go-process-rt")
		b.ReportMetric(goRate, "go-msg/s")
		b.ReportMetric(goProcRate, "go-process-msg/s")
		b.ReportMetric(nodeRate, "node-msg/s")
	}
}

// benchWorker is a process of BenchmarkTypeScriptSideBySide that answers
// each command line on its stdin with a line holding one figure.
type benchWorker struct {
	tb     testing.TB
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr bytes.Buffer
}

func startBenchWorker(tb testing.TB, cmd *exec.Cmd) *benchWorker {
	w := &benchWorker{tb: tb, cmd: cmd}
	cmd.Stderr = &w.stderr
	in, err1 := cmd.StdinPipe()
	out, err2 := cmd.StdoutPipe()
	if err := errors.Join(err1, err2); err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("%s: %v", cmd.Path, err)
	}
	w.in, w.out = in, bufio.NewScanner(out)
	tb.Cleanup(func() {
		w.in.Close()
		w.cmd.Process.Kill()
		w.cmd.Wait()
	})
	return w
}

// do sends one command and returns the figure it answers with. The Go
// process prefixes its answers with "BENCH " (anything else on its stdout
// is the testing package's).
func (w *benchWorker) do(command string) float64 {
	w.tb.Helper()
	if _, err := fmt.Fprintln(w.in, command); err != nil {
		w.fail(command, err)
	}
	for w.out.Scan() {
		line := strings.TrimPrefix(w.out.Text(), "BENCH ")
		if v, err := strconv.ParseFloat(line, 64); err == nil {
			return v
		}
	}
	w.fail(command, w.out.Err())
	return 0
}

func (w *benchWorker) fail(command string, err error) {
	w.tb.Helper()
	w.in.Close()
	werr := w.cmd.Wait()
	w.tb.Fatalf("%s %q: %v (exit: %v)\n%s", filepath.Base(w.cmd.Path), command, err, werr, w.stderr.Bytes())
}

func (w *benchWorker) quit() {
	w.tb.Helper()
	fmt.Fprintln(w.in, "quit")
	w.in.Close()
	for w.out.Scan() {
	}
	if err := w.cmd.Wait(); err != nil {
		w.tb.Fatalf("%s: %v\n%s", filepath.Base(w.cmd.Path), err, w.stderr.Bytes())
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchEnv holds "<server url> <raw echo url> <size>" and makes
// TestGoClientProcess measure.
const benchEnv = "BETTERSOCKET_GO_CLIENT_BENCH"

// TestGoClientProcess is the Go client of BenchmarkTypeScriptSideBySide in
// a process of its own, answering the commands of test/live/bench.ts that
// it has (client, raw, pipe, quit); it does nothing unless the benchmark
// runs it.
func TestGoClientProcess(t *testing.T) {
	var url, rawURL string
	var size int
	if _, err := fmt.Sscan(os.Getenv(benchEnv), &url, &rawURL, &size); err != nil {
		t.Skip("run by BenchmarkTypeScriptSideBySide only")
	}
	ctx := context.Background()
	c, err := gorilla.Dial(ctx, url, adapters.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := websocket.DefaultDialer.Dial(rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ping := make([]byte, size)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		n, _ := strconv.Atoi(arg)
		var v float64
		switch cmd {
		case "client":
			v = roundTrips(t, c, ping, n)
		case "raw":
			t0 := time.Now()
			for range n {
				if err := raw.WriteMessage(websocket.BinaryMessage, ping); err != nil {
					t.Fatal(err)
				}
				if _, _, err := raw.ReadMessage(); err != nil {
					t.Fatal(err)
				}
			}
			v = float64(time.Since(t0)) / float64(time.Microsecond) / float64(n)
		case "pipe":
			v = pipelined(t, c, ping, n)
		case "quit":
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			return
		default:
			t.Fatalf("unknown command %q", in.Text())
		}
		fmt.Printf("BENCH %g\n", v)
	}
	t.Fatal("stdin ended without quit")
}

// roundTrips makes n requests with c one after the other and returns the
// mean round trip in µs.
func roundTrips(tb testing.TB, c *adapters.Client, ping []byte, n int) float64 {
	ctx := context.Background()
	t0 := time.Now()
	for range n {
		if _, err := c.Request(ctx, ping); err != nil {
			tb.Fatal(err)
		}
	}
	return float64(time.Since(t0)) / float64(time.Microsecond) / float64(n)
}

// pipelined sends n messages of len(ping) bytes with c as fast as its
// send window allows and returns their rate per second, timed until a
// request sent after them is answered.
func pipelined(tb testing.TB, c *adapters.Client, ping []byte, n int) float64 {
	ctx := context.Background()
	payload := bytes.Repeat([]byte{'a'}, len(ping))
	t0 := time.Now()
	for range n {
		if err := c.Send(ctx, append([]byte(nil), payload...)); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := c.Request(ctx, ping); err != nil {
		tb.Fatal(err)
	}
	return float64(n) / time.Since(t0).Seconds()
}
