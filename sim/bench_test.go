package sim

import (
	"testing"

	"github.com/bettersocket/bettersocket/session"
)

// BenchmarkSimDeliveries measures the simulator's throughput in reliable
// frames delivered to applications per wall-clock second: four stream
// clients and the server exchange bursts of 128 messages of 64 bytes each
// way (a burst is one Ready, so frames share transport messages), with the
// oracle checking every delivery and tracing off. Run it on one core with
// go test ./sim -run XXX -bench SimDeliveries -cpu 1.
func BenchmarkSimDeliveries(b *testing.B) {
	const clients, burst = 4, 128
	s := New(Options{})
	for i := range clients {
		c := s.addClient(clientName(i+1), ClientOptions{})
		if err := s.connect(c); err != nil {
			b.Fatal(err)
		}
	}
	s.Settle()
	payload := make([]byte, 64)
	start := s.Counters().Deliveries
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range s.clients {
			for range burst {
				s.clientStep(c, session.Send{Payload: payload})
			}
			s.drainClient(c)
		}
		for _, c := range s.clients {
			id := c.m.ID()
			for range burst {
				s.serverStep(session.Send{To: id, Payload: payload})
			}
		}
		s.drainServer()
		s.Settle()
	}
	n := s.Counters().Deliveries - start
	if err := s.oracle.Err(); err != nil {
		b.Fatal(err)
	}
	if want := uint64(b.N) * 2 * clients * burst; n != want {
		b.Fatalf("%d deliveries, want %d", n, want)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "deliveries/s")
}

func clientName(i int) string { return "c" + string(rune('0'+i)) }
