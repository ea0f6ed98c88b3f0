package e2etest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// ChaosConfig sizes a Chaos run.
type ChaosConfig struct {
	Seed       uint64
	Clients    int
	Messages   int // each way, per client
	Requests   int // each way, per client
	Broadcasts int // to a room all clients joined
	Kills      int // connections closed under the server, at least
	Secure     secure.Mode
}

// SecureChaos is the run every transport passes in each encryption mode:
// smaller than DefaultChaos (every reconnect costs a handshake), with as
// many forced reconnects.
var SecureChaos = ChaosConfig{Seed: 2, Clients: 3, Messages: 2_000, Requests: 50, Broadcasts: 100, Kills: 25}

// SecureConfigs returns matching client and server settings for mode, with
// keys drawn from seed (the client's key pair from seed+1+client).
func SecureConfigs(t testing.TB, mode secure.Mode, seed uint64, client int) (secure.Config, secure.Config) {
	kp := func(s uint64) secure.KeyPair {
		k, err := secure.GenerateKeyPair(rand.NewChaCha8([32]byte{byte(s), byte(s >> 8), 's'}))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	server := kp(seed)
	switch mode {
	case secure.Off:
		return secure.Config{}, secure.Config{}
	case secure.PSK:
		psk := secure.PresharedKey(kp(seed).Private)
		return secure.Config{Mode: mode, PSK: psk}, secure.Config{Mode: mode, PSK: psk}
	case secure.ServerKey:
		return secure.Config{Mode: mode, ServerKey: server.Public}, secure.Config{Mode: mode, Static: server}
	}
	return secure.Config{Mode: mode, ServerKey: server.Public, Static: kp(seed + 1 + uint64(client))},
		secure.Config{Mode: mode, Static: server}
}

// DefaultChaos is the run every transport passes.
var DefaultChaos = ChaosConfig{Seed: 1, Clients: 3, Messages: 10_000, Requests: 100, Broadcasts: 300, Kills: 25}

// Payloads: kind, client index, sequence number, then seeded padding.
const (
	kindDirect    = 'd'
	kindBroadcast = 'b'
	kindRequest   = 'q'
)

func payload(kind byte, client int, seq uint64, pad int) []byte {
	b := make([]byte, 10, 10+pad)
	b[0], b[1] = kind, byte(client)
	binary.BigEndian.PutUint64(b[2:], seq)
	for i := range pad {
		b = append(b, byte(seq)+byte(i))
	}
	return b
}

func parse(b []byte) (kind byte, client int, seq uint64, ok bool) {
	if len(b) < 10 || !bytes.Equal(b, payload(b[0], int(b[1]), binary.BigEndian.Uint64(b[2:]), len(b)-10)) {
		return 0, 0, 0, false
	}
	return b[0], int(b[1]), binary.BigEndian.Uint64(b[2:]), true
}

func answer(req []byte) []byte { return append([]byte("re:"), req...) }

// stream checks one ordered stream: every value must be the last plus one.
type stream struct {
	mu   sync.Mutex
	last uint64
	bad  []string
}

func (s *stream) see(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq != s.last+1 {
		if len(s.bad) < 5 {
			s.bad = append(s.bad, fmt.Sprintf("got %d after %d", seq, s.last))
		}
		return false
	}
	s.last = seq
	return true
}

func (s *stream) state() (uint64, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, slices.Clone(s.bad)
}

// counter counts handler invocations per request.
type counter struct {
	mu sync.Mutex
	n  map[[2]uint64]int
}

func (c *counter) add(client int, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[[2]uint64]int)
	}
	c.n[[2]uint64{uint64(client), seq}]++
}

// exactlyOnce reports the first request of clients×requests not seen
// exactly once.
func (c *counter) exactlyOnce(clients, requests int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.n) != clients*requests {
		return fmt.Errorf("%d distinct requests handled, want %d", len(c.n), clients*requests)
	}
	for i := range clients {
		for k := 1; k <= requests; k++ {
			if n := c.n[[2]uint64{uint64(i), uint64(k)}]; n != 1 {
				return fmt.Errorf("request %d of client %d handled %d times", k, i, n)
			}
		}
	}
	return nil
}

type chaos struct {
	t   *testing.T
	cfg ChaosConfig

	mu  sync.Mutex
	ids map[proto.ClientID]int

	serverGot  []stream // direct messages from each client
	clientGot  []stream // direct messages to each client
	roomGot    []stream // broadcasts each client received
	serverReqs counter  // server's request handler
	clientReqs counter  // clients' request handlers
	lost       atomic.Int64

	progress  atomic.Int64
	remaining atomic.Int64
	tick      chan struct{}
	delivered chan struct{}
}

func (c *chaos) index(id proto.ClientID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.ids[id]; ok {
		return i
	}
	return -1
}

func (c *chaos) arrived() {
	c.progress.Add(1)
	select {
	case c.tick <- struct{}{}:
	default:
	}
	if c.remaining.Add(-1) == 0 {
		close(c.delivered)
	}
}

// Chaos runs cfg.Clients clients against a server over tr. All clients join
// a room and get cfg.Broadcasts broadcasts; then every client and the
// server send cfg.Messages messages and cfg.Requests requests to each
// other, while the underlying connections are closed at seeded random
// moments (by delivery progress), at least cfg.Kills times. Every message
// must arrive exactly once and in order, every request must be handled
// exactly once and answered with its own response, no session may be lost,
// and every Close must report nothing lost.
func Chaos(t *testing.T, tr Transport, cfg ChaosConfig) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	c := &chaos{
		t: t, cfg: cfg, ids: make(map[proto.ClientID]int),
		serverGot: make([]stream, cfg.Clients), clientGot: make([]stream, cfg.Clients), roomGot: make([]stream, cfg.Clients),
		tick: make(chan struct{}, 1), delivered: make(chan struct{}),
	}
	total := cfg.Clients * (2*cfg.Messages + cfg.Broadcasts)
	c.remaining.Store(int64(total))

	ln, err := NewKillListener()
	if err != nil {
		t.Fatal(err)
	}
	_, serverSecure := SecureConfigs(t, cfg.Secure, cfg.Seed, 0)
	if cfg.Secure == secure.Mutual {
		known := map[secure.PublicKey]bool{}
		for i := range cfg.Clients {
			k, _ := SecureConfigs(t, cfg.Secure, cfg.Seed, i)
			known[k.Static.Public] = true
		}
		serverSecure.KnownClient = func(k secure.PublicKey) bool { return known[k] }
	}
	srv, addr, stop := tr.Serve(t, ln, adapters.ServerOptions{
		Session: session.ServerConfig{
			HeartbeatInterval: time.Second,
			AllowRoom:         func(session.RoomRequest) bool { return true },
		},
		Secure: serverSecure,
		OnMessage: func(_ context.Context, m adapters.Message) {
			kind, i, seq, ok := parse(m.Payload)
			if !ok || kind != kindDirect || i != c.index(m.Client) {
				t.Errorf("server: unexpected message %x from %s", m.Payload, m.Client)
				return
			}
			c.serverGot[i].see(seq)
			c.arrived()
		},
		OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) {
			kind, i, seq, ok := parse(r.Payload)
			if !ok || kind != kindRequest || i != c.index(r.Client) {
				return nil, fmt.Errorf("unexpected request %x", r.Payload)
			}
			c.serverReqs.add(i, seq)
			return answer(r.Payload), nil
		},
		OnEvent: func(_ context.Context, ev session.Event) {
			if sc, ok := ev.(*session.SessionClosed); ok && c.remaining.Load() > 0 {
				t.Errorf("server: session closed during the run: %v", sc)
			}
		},
	})

	clients := make([]*adapters.Client, cfg.Clients)
	for i := range clients {
		clientSecure, _ := SecureConfigs(t, cfg.Secure, cfg.Seed, i)
		opts := adapters.ClientOptions{
			Session: session.ClientConfig{ReconnectMin: time.Millisecond, ReconnectMax: 20 * time.Millisecond},
			Secure:  clientSecure,
			OnMessage: func(_ context.Context, m adapters.Message) {
				kind, j, seq, ok := parse(m.Payload)
				switch {
				case ok && kind == kindDirect && j == i && m.Room == "":
					c.clientGot[i].see(seq)
				case ok && kind == kindBroadcast && m.Room == "all":
					c.roomGot[i].see(seq)
				default:
					t.Errorf("client %d: unexpected message %x room %q", i, m.Payload, m.Room)
					return
				}
				c.arrived()
			},
			OnRequest: func(_ context.Context, r adapters.Request) ([]byte, error) {
				kind, j, seq, ok := parse(r.Payload)
				if !ok || kind != kindRequest || j != i {
					return nil, fmt.Errorf("unexpected request %x", r.Payload)
				}
				c.clientReqs.add(i, seq)
				return answer(r.Payload), nil
			},
			OnEvent: func(_ context.Context, ev session.Event) {
				if sl, ok := ev.(*session.SessionLost); ok {
					c.lost.Add(1)
					t.Errorf("client %d: %v", i, sl)
				}
			},
		}
		cl, err := tr.Dial(ctx, addr, opts)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		clients[i] = cl
		c.mu.Lock()
		c.ids[cl.ID()] = i
		c.mu.Unlock()
		if err := cl.Join(ctx, "all"); err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
	}

	// The killer closes a live connection each time delivery progress
	// passes one of the seeded thresholds.
	thresholds := make([]int64, cfg.Kills)
	for k := range thresholds {
		thresholds[k] = 1 + rng.Int64N(int64(total)*9/10)
	}
	slices.Sort(thresholds)
	killRng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, th := range thresholds {
			for c.progress.Load() < th {
				select {
				case <-c.tick:
				case <-ctx.Done():
					return
				}
			}
			for !ln.Kill(killRng) {
				select {
				case <-ln.Accepted():
				case <-ctx.Done():
					return
				}
			}
		}
	})

	// Phase 1: broadcasts. They are fewer than a send window, so none is
	// skipped for backpressure.
	for k := 1; k <= cfg.Broadcasts; k++ {
		if err := srv.Broadcast(ctx, "all", payload(kindBroadcast, 0, uint64(k), k%7)); err != nil {
			t.Fatalf("broadcast %d: %v", k, err)
		}
	}

	// Phase 2: messages and requests both ways, all at once.
	every := max(1, cfg.Messages/max(1, cfg.Requests))
	for i, cl := range clients {
		id := cl.ID()
		pad := int(rng.Uint32N(54))
		wg.Go(func() { // client i → server
			req := uint64(0)
			for s := 1; s <= cfg.Messages; s++ {
				if err := cl.Send(ctx, payload(kindDirect, i, uint64(s), (s+pad)%64)); err != nil {
					t.Errorf("client %d: send %d: %v", i, s, err)
					return
				}
				if s%every == 0 && req < uint64(cfg.Requests) {
					req++
					q := payload(kindRequest, i, req, s%5)
					resp, err := cl.Request(ctx, q)
					if err != nil || !bytes.Equal(resp, answer(q)) {
						t.Errorf("client %d: request %d: %x, %v", i, req, resp, err)
						return
					}
				}
			}
		})
		wg.Go(func() { // server → client i
			req := uint64(0)
			for s := 1; s <= cfg.Messages; s++ {
				if err := srv.Send(ctx, id, payload(kindDirect, i, uint64(s), (s+pad)%64)); err != nil {
					t.Errorf("server: send %d to %d: %v", s, i, err)
					return
				}
				if s%every == 0 && req < uint64(cfg.Requests) {
					req++
					q := payload(kindRequest, i, req, s%3)
					resp, err := srv.Request(ctx, id, q)
					if err != nil || !bytes.Equal(resp, answer(q)) {
						t.Errorf("server: request %d to %d: %x, %v", req, i, resp, err)
						return
					}
				}
			}
		})
	}
	select {
	case <-c.delivered:
	case <-ctx.Done():
		t.Errorf("timed out with %d deliveries missing", c.remaining.Load())
	}
	wg.Wait()

	for i := range cfg.Clients {
		for name, s := range map[string]*stream{"client→server": &c.serverGot[i], "server→client": &c.clientGot[i]} {
			if last, bad := s.state(); last != uint64(cfg.Messages) || len(bad) > 0 {
				t.Errorf("client %d %s: last %d of %d, out of order: %v", i, name, last, cfg.Messages, bad)
			}
		}
		if last, bad := c.roomGot[i].state(); last != uint64(cfg.Broadcasts) || len(bad) > 0 {
			t.Errorf("client %d broadcasts: last %d of %d, out of order: %v", i, last, cfg.Broadcasts, bad)
		}
	}
	if err := c.serverReqs.exactlyOnce(cfg.Clients, cfg.Requests); err != nil {
		t.Errorf("server: %v", err)
	}
	if err := c.clientReqs.exactlyOnce(cfg.Clients, cfg.Requests); err != nil {
		t.Errorf("clients: %v", err)
	}
	if kills := ln.Kills(); kills < cfg.Kills {
		t.Errorf("%d connections killed, want at least %d", kills, cfg.Kills)
	}
	st := srv.Stats()
	if st.SessionsStarted != uint64(cfg.Clients) || st.SessionsLost != 0 || st.Resumes == 0 {
		t.Errorf("server stats: started %d lost %d resumes %d; want %d, 0, > 0", st.SessionsStarted, st.SessionsLost, st.Resumes, cfg.Clients)
	}
	var resumes uint64
	for i, cl := range clients {
		resumes += cl.Stats().Resumes
		if err := cl.Close(ctx); err != nil {
			t.Errorf("client %d: close: %v", i, err)
		}
	}
	if err := stop(ctx); err != nil {
		t.Errorf("server: close: %v", err)
	}
	t.Logf("%s, seed %d: %d kills, %d server resumes, %d client resumes, %d retransmits, %d duplicates dropped",
		cfg.Secure, cfg.Seed, ln.Kills(), st.Resumes, resumes, st.Retransmits, st.DuplicatesDropped)
}
