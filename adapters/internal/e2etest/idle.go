package e2etest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/session"
)

// IdleEnv turns a test binary into an idle server (see IdleServe); its
// value names the server to run. A package that measures idle clients
// checks it first thing in TestMain.
const IdleEnv = "BETTERSOCKET_IDLE_SERVER"

// OneSource is the options of a server whose many clients all come from
// one address (a load generator on loopback): its per-source limits, which
// would throttle them as one busy client, are off.
var OneSource = adapters.ServerOptions{Session: session.ServerConfig{
	MaxPendingPerSource: -1, SourceSessionBurst: -1, MaxDetachedPerSource: -1,
}}

// IdleServe is the idle server subprocess of IdleClients: start serves on
// a fresh address and returns it, with a count of the clients connected.
// IdleServe prints the address, then answers each line on stdin with the
// heap, the goroutine stacks and that count, after two GCs (the second
// finds the stacks the first could shrink); it exits when stdin ends.
func IdleServe(start func() (addr string, clients func() int64)) {
	addr, clients := start()
	fmt.Printf("addr %s\n", addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("%d %d %d\n", ms.HeapAlloc, ms.StackInuse, clients())
	}
	os.Exit(0)
}

// IdleHTTP serves h on a fresh loopback address for an idle server and
// returns what IdleServe's start returns.
func IdleHTTP(h http.Handler, clients func() int64) (addr string, _ func() int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, h)
	return ln.Addr().String(), clients
}

// Sessions counts an idle better-socket server's clients: its sessions.
func Sessions(s *adapters.Server) func() int64 {
	return func() int64 { return int64(s.Stats().Sessions) }
}

// IdleClients starts this test binary as the idle server named mode
// (IdleEnv), connects n clients to it with dial, and returns how much the
// server's heap and goroutine stacks grew per client, so that the clients'
// own memory is not counted. dial returns what disconnects the client.
func IdleClients(ctx context.Context, tb testing.TB, mode string, n int, dial func(ctx context.Context, addr string) (func(), error)) (heap, stack float64) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), IdleEnv+"="+mode)
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &idleProc{in: in, out: bufio.NewScanner(out)}
	defer func() {
		in.Close()
		cmd.Wait()
	}()
	var addr string
	if !p.out.Scan() {
		tb.Fatal("idle server did not start")
	}
	if _, err := fmt.Sscanf(p.out.Text(), "addr %s", &addr); err != nil {
		tb.Fatalf("idle server said %q: %v", p.out.Text(), err)
	}

	heap0, stack0, _ := p.query(tb)
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for range n {
		c, err := dial(ctx, addr)
		if err != nil {
			tb.Fatal(err)
		}
		closers = append(closers, c)
	}
	// Once all are connected, the figures are taken when two readings in a
	// row agree on the stacks: a reader still busy with the end of its
	// handshake during a reading has not had its stack shrunk yet.
	var last uint64
	for settled := false; ; {
		heap1, stack1, clients := p.query(tb)
		if clients == int64(n) {
			if settled && stack1 == last {
				return (float64(heap1) - float64(heap0)) / float64(n), (float64(stack1) - float64(stack0)) / float64(n)
			}
			settled, last = true, stack1
		}
		if ctx.Err() != nil {
			tb.Fatalf("%d of %d clients connected, stacks not settled", clients, n)
		}
	}
}

type idleProc struct {
	in  io.Writer
	out *bufio.Scanner
}

func (p *idleProc) query(tb testing.TB) (heap, stack uint64, clients int64) {
	tb.Helper()
	if _, err := fmt.Fprintln(p.in, "stats"); err != nil {
		tb.Fatal(err)
	}
	if !p.out.Scan() {
		tb.Fatal("idle server ended")
	}
	if _, err := fmt.Sscan(p.out.Text(), &heap, &stack, &clients); err != nil {
		tb.Fatal(err)
	}
	return heap, stack, clients
}

// BenchmarkIdle reports the server's heap and stack per idle client for
// each of modes (idle servers of the benchmark's package), with n clients
// connected by dial.
func BenchmarkIdle(b *testing.B, n int, modes []string, dial func(mode string) func(ctx context.Context, addr string) (func(), error)) {
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
			defer cancel()
			var heapSum, stackSum float64
			for range b.N {
				heap, stack := IdleClients(ctx, b, mode, n, dial(mode))
				heapSum += heap
				stackSum += stack
			}
			b.ReportMetric(heapSum/float64(b.N), "heap-B/client")
			b.ReportMetric(stackSum/float64(b.N), "stack-B/client")
		})
	}
}
