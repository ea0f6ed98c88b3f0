package session

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
)

// The benchmarks drive the machines directly, as an adapter would, with
// no transport: what they measure is the machines' own cost (decoding,
// bookkeeping, encoding, events).

// benchPair is an established client and server over connection 1,
// encrypted in mode (secure.Off: plaintext).
func benchPair(b *testing.B, mode secure.Mode) (*Client, *Server) {
	return benchPairWith(b, mode, LinkConfig{})
}

// benchPairWith is benchPair with both machines on link.
func benchPairWith(b *testing.B, mode secure.Mode, link LinkConfig) (*Client, *Server) {
	ccfg, scfg := secureConfigs(b, mode, 800)
	if mode == secure.Off {
		ccfg, scfg = secure.Config{}, secure.Config{}
	}
	c := NewClient(ClientConfig{Rand: seeded(2), Secure: ccfg, LinkConfig: link})
	s := NewServer(ServerConfig{Rand: seeded(1), Secure: scfg, LinkConfig: link})
	must(b, c.Step(t0, Connected{Conn: 1}))
	must(b, s.Step(t0, Connected{Conn: 1}))
	for range 3 {
		for _, m := range c.Ready().Transmit {
			must(b, s.Step(t0, Recv{Conn: 1, Data: m}))
		}
		for _, o := range s.Ready().Transmit {
			must(b, c.Step(t0, Recv{Conn: 1, Data: o.Data}))
		}
	}
	if !c.Established() {
		b.Fatal("handshake did not complete")
	}
	return c, s
}

// BenchmarkLoop is one message's full round: client Send → frame → server
// Recv → Delivered → ACK back → client processes the ack. batch messages
// are sent per Ready, as an adapter that drains a queue would; one op is
// one message. The -psk variants seal every transport message (every mode
// seals alike once the handshake is done).
func BenchmarkLoop(b *testing.B) {
	for _, bm := range []struct {
		batch int
		mode  secure.Mode
	}{{1, secure.Off}, {1, secure.PSK}, {64, secure.Off}, {64, secure.PSK}} {
		name := fmt.Sprintf("batch=%d", bm.batch)
		if bm.mode != secure.Off {
			name += "-" + bm.mode.String()
		}
		batch := bm.batch
		b.Run(name, func(b *testing.B) {
			c, s := benchPair(b, bm.mode)
			payload := make([]byte, 64)
			delivered := 0
			b.ReportAllocs()
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += batch {
				for range min(batch, b.N-sent) {
					if err := c.Step(t0, Send{Payload: payload}); err != nil {
						b.Fatal(err)
					}
				}
				for _, m := range c.Ready().Transmit {
					if err := s.Step(t0, Recv{Conn: 1, Data: m}); err != nil {
						b.Fatal(err)
					}
				}
				srd := s.Ready()
				delivered += len(srd.Events)
				for _, o := range srd.Transmit {
					if err := c.Step(t0, Recv{Conn: 1, Data: o.Data}); err != nil {
						b.Fatal(err)
					}
				}
				c.Ready()
			}
			b.StopTimer()
			if delivered != b.N || c.link.unacked() != 0 {
				b.Fatalf("delivered %d of %d, %d unacked", delivered, b.N, c.link.unacked())
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// BenchmarkRequestRoundTrip is one request's whole round through both
// machines, as W1 of the workloads harness drives them over a transport:
// the client's Call and Ready, the server's Recv and Ready (the request),
// its Reply and Ready, the client's Recv and Ready (the response), with the
// link settings of package adapters (ACKs held up to 1 ms, a window of
// 4,096), so that each direction carries one transport message and the
// held ACKs ride on them. The clock moves 35 µs per hop. One op is one
// round trip.
func BenchmarkRequestRoundTrip(b *testing.B) {
	c, s := benchPairWith(b, secure.Off, LinkConfig{AckDelay: time.Millisecond, MaxInflight: 4096})
	now := t0
	payload := make([]byte, 64)
	var crd Ready
	var srd ServerReady
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		now = now.Add(35 * time.Microsecond)
		if err := c.Step(now, Call{Payload: payload}); err != nil {
			b.Fatal(err)
		}
		c.ReadyInto(&crd)
		if len(crd.Transmit) != 1 {
			b.Fatalf("the request went out in %d messages", len(crd.Transmit))
		}
		if err := s.Step(now, Recv{Conn: 1, Data: crd.Transmit[0]}); err != nil {
			b.Fatal(err)
		}
		s.ReadyInto(&srd)
		if len(srd.Transmit) != 0 || len(srd.Events) != 1 {
			b.Fatalf("the request's Ready: %d messages, %d events", len(srd.Transmit), len(srd.Events))
		}
		rr := srd.Events[0].(*RequestReceived)
		if err := s.Step(now, Reply{To: rr.Client, ID: rr.ID, Payload: rr.Payload}); err != nil {
			b.Fatal(err)
		}
		s.ReadyInto(&srd)
		if len(srd.Transmit) != 1 {
			b.Fatalf("the response went out in %d messages", len(srd.Transmit))
		}
		now = now.Add(35 * time.Microsecond)
		if err := c.Step(now, Recv{Conn: 1, Data: srd.Transmit[0].Data}); err != nil {
			b.Fatal(err)
		}
		c.ReadyInto(&crd)
		if len(crd.Transmit) != 0 || len(crd.Events) != 1 {
			b.Fatalf("the response's Ready: %d messages, %d events", len(crd.Transmit), len(crd.Events))
		}
		if r, ok := crd.Events[0].(*Response); !ok || r.Err != nil {
			b.Fatalf("the client got %#v", crd.Events[0])
		}
	}
	b.StopTimer()
	if n := c.link.unacked(); n != 0 {
		b.Fatalf("%d requests unacknowledged", n)
	}
}

// hub is a server with n established sessions on connections 1..n, each
// past its handshake.
func hub(b tester, cfg ServerConfig, n int) (*Server, []proto.ClientID) {
	if cfg.Rand == nil {
		cfg.Rand = seeded(1)
	}
	s := NewServer(cfg)
	hello := encode(b, &proto.Hello{Version: proto.Version})
	ack := encode(b, &proto.Ack{Ack: 0})
	ids := make([]proto.ClientID, n)
	for i := range n {
		conn := ConnID(i + 1)
		must(b, s.Step(t0, Connected{Conn: conn}))
		must(b, s.Step(t0, Recv{Conn: conn, Data: hello}))
		rd := s.Ready()
		ids[i] = rd.Events[0].(*SessionStarted).Client
		must(b, s.Step(t0, Recv{Conn: conn, Data: ack}))
	}
	s.Ready()
	return s, ids
}

// ackMembers has the sessions on connections 1..members acknowledge up to
// seq, and runs the server's Ready.
func ackMembers(b *testing.B, s *Server, members int, seq uint64) {
	a := encode(b, &proto.Ack{Ack: seq})
	for i := range members {
		must(b, s.Step(t0, Recv{Conn: ConnID(i + 1), Data: a}))
	}
	s.Ready()
}

// BenchmarkBroadcastBurst is a burst of 1,000 64-byte broadcasts to a room
// of 100 attached sessions whose acks come only after it (W3 of the
// workloads harness, in the machine alone): each member's send buffer holds
// the whole burst, so what a buffered frame costs shows. The server's Ready
// runs every 16 broadcasts; the members' acks and the Ready after them are
// timed too. Reported per delivery.
func BenchmarkBroadcastBurst(b *testing.B) {
	const members, burst = 100, 1000
	s, ids := hub(b, ServerConfig{}, members)
	for _, id := range ids {
		must(b, s.Step(t0, Join{Client: id, Room: "r"}))
	}
	payload := make([]byte, 64)
	seq := uint64(0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		for i := range burst {
			if err := s.Step(t0, Broadcast{Room: "r", Payload: payload}); err != nil {
				b.Fatal(err)
			}
			if i%16 == 15 {
				s.Ready()
			}
		}
		s.Ready()
		seq += burst
		ackMembers(b, s, members, seq)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	deliveries := float64(b.N) * members * burst
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/deliveries, "B/delivery")
}

// BenchmarkBroadcast10k is one 64-byte broadcast to a room of 10,000
// attached sessions, including the server's Ready that encodes the 10,000
// frames; reported per delivery. The members' acks are processed outside
// the timed region every 16 broadcasts, as prompt clients would send them.
func BenchmarkBroadcast10k(b *testing.B) {
	benchBroadcast(b, 10_000, 16)
}

func benchBroadcast(b *testing.B, members, ackEvery int) {
	s, ids := hub(b, ServerConfig{}, members)
	for _, id := range ids {
		must(b, s.Step(t0, Join{Client: id, Room: "r"}))
	}
	payload := make([]byte, 64)
	var before, after runtime.MemStats
	var mallocs uint64
	seq := uint64(0)
	b.ResetTimer()
	runtime.ReadMemStats(&before)
	for i := range b.N {
		if err := s.Step(t0, Broadcast{Room: "r", Payload: payload}); err != nil {
			b.Fatal(err)
		}
		rd := s.Ready()
		seq++
		if len(rd.Transmit) != members {
			b.Fatalf("%d messages, want %d", len(rd.Transmit), members)
		}
		if (i+1)%ackEvery == 0 {
			b.StopTimer()
			runtime.ReadMemStats(&after)
			mallocs += after.Mallocs - before.Mallocs
			ackMembers(b, s, members, seq)
			runtime.ReadMemStats(&before)
			b.StartTimer()
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	mallocs += after.Mallocs - before.Mallocs
	deliveries := float64(b.N) * float64(members)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(float64(mallocs)/deliveries, "allocs/delivery")
}

// BenchmarkIdleSessionHeap measures the live heap of a server holding
// 10,000 established idle sessions (each with its connection), after GC,
// per session; and of one idle established client machine.
func BenchmarkIdleSessionHeap(b *testing.B) {
	const n = 10_000
	var perSession, perClient float64
	for range b.N {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		s, ids := hub(b, ServerConfig{}, n)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perSession = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / n
		runtime.KeepAlive(s)
		runtime.KeepAlive(ids)

		runtime.GC()
		runtime.ReadMemStats(&m0)
		c, _ := benchPair(b, secure.Off)
		c.Ready()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perClient = float64(int64(m1.HeapAlloc) - int64(m0.HeapAlloc))
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perSession, "bytes/session")
	b.ReportMetric(perClient, "bytes/client+server-pair")
}

// BenchmarkTimeoutDue10 is the cost of one Timeout step (and the Ready that
// reports it) on a server with N sessions of which 10 are due: each of the
// 10 has a request that times out. It must not grow with N beyond the
// logarithm of the timer heap.
func BenchmarkTimeoutDue10(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			s, ids := hub(b, ServerConfig{HeartbeatInterval: 8 * time.Hour}, n)
			seqs := make([]uint64, n)
			now := t0
			next := 0
			var timed time.Duration
			b.ResetTimer()
			for i := range b.N {
				// Ten sessions get a request due 1 ms from now; the clients'
				// acks of earlier requests keep the windows open.
				due := make([]int, 10)
				for k := range due {
					j := next % n
					next++
					due[k] = j
					seqs[j]++
					if err := s.Step(now, Call{To: ids[j], ID: uint64(i), Timeout: time.Millisecond}); err != nil {
						b.Fatal(err)
					}
				}
				s.Ready()
				for _, j := range due {
					if err := s.Step(now, Recv{Conn: ConnID(j + 1), Data: encode(b, &proto.Ack{Ack: seqs[j]})}); err != nil {
						b.Fatal(err)
					}
				}
				s.Ready()
				now = now.Add(time.Millisecond)

				start := time.Now()
				if err := s.Step(now, Timeout{}); err != nil {
					b.Fatal(err)
				}
				rd := s.Ready()
				timed += time.Since(start)
				if len(rd.Events) != 10 {
					b.Fatalf("%d events, want 10 request timeouts", len(rd.Events))
				}
			}
			b.ReportMetric(float64(timed.Nanoseconds())/float64(b.N), "ns/timeout-step")
		})
	}
}

// BenchmarkClientReceive is the client's side of a broadcast stream: a
// transport message of 256 DATA frames of 64 bytes to one room, stepped and
// drained with ReadyInto into one reused Ready; one op is one delivery.
func BenchmarkClientReceive(b *testing.B) { benchClientReceive(b, false) }

// BenchmarkClientReceiveRecycled is BenchmarkClientReceive with every
// Delivered given back before the next message, as package adapters does
// once its handlers are done.
func BenchmarkClientReceiveRecycled(b *testing.B) { benchClientReceive(b, true) }

func benchClientReceive(b *testing.B, recycle bool) {
	const perMsg = 256
	var back []*Delivered
	c, _ := benchPair(b, secure.Off)
	var e codec.Encoder
	var msg []byte
	payload := make([]byte, 64)
	var rd Ready
	seq := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += perMsg {
		b.StopTimer()
		n := min(perMsg, b.N-done)
		msg = msg[:0]
		for range n {
			seq++
			var err error
			if msg, err = e.Append(msg, &proto.Data{Seq: seq, Payload: payload, Room: "room"}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		must(b, c.Step(t0, Recv{Conn: 1, Data: msg}))
		c.ReadyInto(&rd)
		if len(rd.Events) != n {
			b.Fatalf("%d events, want %d", len(rd.Events), n)
		}
		if recycle {
			back = back[:0]
			for _, ev := range rd.Events {
				back = append(back, ev.(*Delivered))
			}
			c.Recycle(back)
		}
		clear(rd.Events)
		clear(rd.Transmit)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
