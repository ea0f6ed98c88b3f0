package gorilla_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	cmd := exec.Command("node", append([]string{"--test", "--test-reporter=dot"}, tests...)...)
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
	dir := tsClient(t)
	const clients = 3
	n, broadcasts, wantKills := 10000, 500, 25
	if testing.Short() {
		n, broadcasts = 2000, 100
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
		return nil
	}
	srv = gorilla.NewServer(adapters.ServerOptions{
		Session: session.ServerConfig{
			AllowRoom: func(r session.RoomRequest) bool { return r.Room == "all" },
			Authorize: authorize,
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

// BenchmarkTypeScriptSideBySide measures the Node.js client and the Go
// client against the same gorilla server in one run: the mean request round
// trip, and the rate of pipelined 64-byte messages (sent as fast as the
// send window allows, timed until a request sent after them is answered),
// and, for scale, Node's floors: the round trip of plain WebSocket messages
// with the ws package against a raw gorilla/websocket echo
// (node-raw-ws-rt-µs), and of requests to this server with the protocol
// driven by hand over the ws package (node-by-hand-rt-µs: what the Node.js
// client adds is node-rt-µs minus that). Each figure is one fixed-size run
// per client, so run it once:
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
	const rounds, messages, size = 5000, 200000, 64
	var received atomic.Int64
	srv := gorilla.NewServer(adapters.ServerOptions{
		OnMessage: func(context.Context, adapters.Message) { received.Add(1) },
		OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) { return r.Payload, nil },
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	defer func() {
		hs.Close()
		srv.Close(context.Background())
	}()
	url := "ws://" + ln.Addr().String() + "/"
	for range b.N {
		// The Go client, in this process and in a process of its own (as
		// the Node.js client is: a round trip then pays two wake-ups of
		// another process).
		goRT, goRate := goClientFigures(b, url, rounds, messages, size)
		sub := exec.Command(os.Args[0], "-test.run=^TestGoClientProcess$", "-test.count=1")
		sub.Env = append(os.Environ(), benchEnv+"="+url)
		subOut, err := sub.Output()
		if err != nil {
			b.Fatalf("Go client process: %v\n%s", err, subOut)
		}
		var goProc struct {
			RTMicros float64 `json:"rtMicros"`
			PerSec   float64 `json:"perSec"`
		}
		line, _, _ := strings.Cut(string(subOut[bytes.Index(subOut, []byte("BENCH "))+len("BENCH "):]), "\n")
		if err := json.Unmarshal([]byte(line), &goProc); err != nil {
			b.Fatalf("Go client process output %q: %v", subOut, err)
		}

		// Node.js client.
		echoSrv := rawServer(func(ws *websocket.Conn) {
			for {
				_, m, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if err := ws.WriteMessage(websocket.BinaryMessage, m); err != nil {
					return
				}
			}
		})
		cmd := exec.Command("node", "build/test/live/bench.js", url, strconv.Itoa(rounds), strconv.Itoa(messages), strconv.Itoa(size), wsURL(echoSrv))
		cmd.Dir = dir
		out, err := cmd.Output()
		echoSrv.Close()
		if err != nil {
			b.Fatalf("node: %v\n%s", err, out)
		}
		var node struct {
			RTMicros      float64 `json:"rtMicros"`
			PerSec        float64 `json:"perSec"`
			RawRTMicros   float64 `json:"rawRtMicros"`
			ProtoRTMicros float64 `json:"protoRtMicros"`
		}
		if err := json.Unmarshal(out, &node); err != nil {
			b.Fatalf("node output %q: %v", out, err)
		}
		b.ReportMetric(goRT, "go-rt-µs")
		b.ReportMetric(goProc.RTMicros, "go-process-rt-µs")
		b.ReportMetric(node.RTMicros, "node-rt-µs")
		b.ReportMetric(node.RawRTMicros, "node-raw-ws-rt-µs")
		b.ReportMetric(node.ProtoRTMicros, "node-by-hand-rt-µs")
		b.ReportMetric(node.RTMicros/goProc.RTMicros, "node/go-process-rt")
		b.ReportMetric(goRate, "go-msg/s")
		b.ReportMetric(goProc.PerSec, "go-process-msg/s")
		b.ReportMetric(node.PerSec, "node-msg/s")
	}
}

// benchEnv names the server URL that makes TestGoClientProcess measure.
const benchEnv = "BETTERSOCKET_GO_CLIENT_BENCH"

// TestGoClientProcess is the Go client of BenchmarkTypeScriptSideBySide in
// a process of its own; it does nothing unless the benchmark runs it.
func TestGoClientProcess(t *testing.T) {
	url := os.Getenv(benchEnv)
	if url == "" {
		t.Skip("run by BenchmarkTypeScriptSideBySide only")
	}
	rt, rate := goClientFigures(t, url, 5000, 200000, 64)
	fmt.Printf("BENCH {\"rtMicros\":%g,\"perSec\":%g}\n", rt, rate)
}

// goClientFigures measures a Go client's mean request round trip (µs) and
// its pipelined rate of size-byte messages (per second) against url.
func goClientFigures(tb testing.TB, url string, rounds, messages, size int) (rtMicros, perSec float64) {
	ctx := context.Background()
	c, err := gorilla.Dial(ctx, url, adapters.ClientOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	ping := make([]byte, size)
	for range 200 {
		if _, err := c.Request(ctx, ping); err != nil {
			tb.Fatal(err)
		}
	}
	t0 := time.Now()
	for range rounds {
		if _, err := c.Request(ctx, ping); err != nil {
			tb.Fatal(err)
		}
	}
	rtMicros = float64(time.Since(t0)) / float64(time.Microsecond) / float64(rounds)
	payload := bytes.Repeat([]byte{'a'}, size)
	t0 = time.Now()
	for range messages {
		if err := c.Send(ctx, append([]byte(nil), payload...)); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := c.Request(ctx, ping); err != nil {
		tb.Fatal(err)
	}
	perSec = float64(messages) / time.Since(t0).Seconds()
	if err := c.Close(ctx); err != nil {
		tb.Fatal(err)
	}
	return rtMicros, perSec
}
