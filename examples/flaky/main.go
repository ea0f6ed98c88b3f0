// Command flaky shows exactly-once delivery over a network that keeps
// failing: clients and a server exchange messages while the server side of
// their TCP connections is closed at random moments. Every message still
// arrives exactly once and in order; the program prints the counts and
// exits 0 when that held, 1 otherwise.
//
//	go run ./examples/flaky
//	go run ./examples/flaky -clients 5 -messages 20000 -seed 7
//
// -seed draws the kill schedule (the pauses between kills and which live
// connection dies), but a real network and real goroutines decide what is
// in flight at each kill, so two runs with the same seed kill at different
// points of the exchange: a run here is not replayed exactly. The
// simulator's runs are: go run ./sim/cmd/bsim -seed N -v replays one
// exactly, trace and all.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/netconn"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

func main() {
	clients := flag.Int("clients", 3, "number of clients")
	messages := flag.Int("messages", 30000, "messages each way per client")
	seed := flag.Uint64("seed", 1, "seed of the kill schedule (timing still differs from run to run: use bsim -seed to replay exactly)")
	every := flag.Duration("kill-every", 2*time.Millisecond, "mean time between kills")
	flag.Parse()
	if ok := run(*clients, *messages, *seed, *every); !ok {
		os.Exit(1)
	}
}

// order checks one stream: every message is the previous one plus one.
type order struct {
	mu         sync.Mutex
	last       uint64
	dups, gaps int
}

func (o *order) see(seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case seq == o.last+1:
		o.last = seq
	case seq <= o.last:
		o.dups++
	default:
		o.gaps++
		o.last = seq
	}
}

func seqOf(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func msg(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 64), seq) }

func run(nClients, n int, seed uint64, every time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return false
	}
	kl := &killListener{Listener: ln}
	var mu sync.Mutex
	index := make(map[proto.ClientID]int)
	toServer := make([]order, nClients)
	toClient := make([]order, nClients)
	var remaining atomic.Int64
	remaining.Store(int64(2 * nClients * n))
	allIn := make(chan struct{})
	arrived := func() {
		if remaining.Add(-1) == 0 {
			close(allIn)
		}
	}

	srv := netconn.NewServer(adapters.ServerOptions{
		OnMessage: func(_ context.Context, m adapters.Message) {
			mu.Lock()
			i := index[m.Client]
			mu.Unlock()
			toServer[i].see(seqOf(m.Payload))
			arrived()
		},
	})
	go srv.Serve(kl)

	var lost atomic.Int64
	cs := make([]*adapters.Client, nClients)
	for i := range cs {
		c, err := netconn.Dial(ctx, "tcp", ln.Addr().String(), adapters.ClientOptions{
			Session: session.ClientConfig{ReconnectMin: time.Millisecond, ReconnectMax: 50 * time.Millisecond},
			OnMessage: func(_ context.Context, m adapters.Message) {
				toClient[i].see(seqOf(m.Payload))
				arrived()
			},
			OnEvent: func(_ context.Context, ev session.Event) {
				if _, ok := ev.(*session.SessionLost); ok {
					lost.Add(1)
				}
			},
		})
		if err != nil {
			fmt.Println("dial:", err)
			return false
		}
		mu.Lock()
		index[c.ID()] = i
		mu.Unlock()
		cs[i] = c
	}

	// The chaos: kill a random server-side connection now and then.
	stopKilling := make(chan struct{})
	killed := make(chan int)
	go func() {
		rng := rand.New(rand.NewPCG(seed, seed))
		kills := 0
		for {
			t := time.NewTimer(time.Duration(rng.Int64N(int64(2 * every))))
			select {
			case <-t.C:
				if kl.kill(rng) {
					kills++
				}
			case <-stopKilling:
				t.Stop()
				killed <- kills
				return
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range cs {
		id := c.ID()
		wg.Go(func() {
			for s := 1; s <= n; s++ {
				if err := c.Send(ctx, msg(uint64(s))); err != nil {
					fmt.Printf("client %d: send: %v\n", i, err)
					return
				}
			}
		})
		wg.Go(func() {
			for s := 1; s <= n; s++ {
				if err := srv.Send(ctx, id, msg(uint64(s))); err != nil {
					fmt.Printf("server: send to %d: %v\n", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-allIn:
	case <-ctx.Done():
	}
	close(stopKilling)
	kills := <-killed
	elapsed := time.Since(start)

	ok := lost.Load() == 0
	fmt.Printf("%d clients, %d messages each way per client, %d connections killed in %v (kill schedule seed %d; real timing, not replayable)\n",
		nClients, n, kills, elapsed.Round(time.Millisecond), seed)
	for i := range cs {
		for _, d := range []struct {
			name string
			o    *order
		}{{"client→server", &toServer[i]}, {"server→client", &toClient[i]}} {
			d.o.mu.Lock()
			fmt.Printf("client %d %s: %d delivered in order, %d duplicates, %d gaps\n", i, d.name, d.o.last, d.o.dups, d.o.gaps)
			ok = ok && d.o.last == uint64(n) && d.o.dups == 0 && d.o.gaps == 0
			d.o.mu.Unlock()
		}
	}
	st := srv.Stats()
	fmt.Printf("server: %d resumes, %d frames retransmitted, %d duplicates dropped, %d sessions lost\n",
		st.Resumes, st.Retransmits, st.DuplicatesDropped, st.SessionsLost+uint64(lost.Load()))
	for _, c := range cs {
		if err := c.Close(ctx); err != nil {
			fmt.Println("client close:", err)
			ok = false
		}
	}
	if err := srv.Close(ctx); err != nil {
		fmt.Println("server close:", err)
		ok = false
	}
	if ok {
		fmt.Println("every message arrived exactly once, in order")
	} else {
		fmt.Println("FAILED")
	}
	return ok
}

// killListener remembers the connections it accepted so that they can be
// closed under the server's feet.
type killListener struct {
	net.Listener
	mu   sync.Mutex
	live []net.Conn
}

func (l *killListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.live = append(l.live, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *killListener) kill(rng *rand.Rand) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.live) == 0 {
		return false
	}
	i := rng.IntN(len(l.live))
	l.live[i].Close()
	l.live = append(l.live[:i], l.live[i+1:]...)
	return true
}
