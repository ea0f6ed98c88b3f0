package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/bettersocket/bettersocket/adapters/netconn"
	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Memory-exhaustion checks: hostile input that claims or asks for a lot
// must cost little. Each measures the heap around one operation:
//
//	allocated  TotalAlloc after - before: every byte allocated, garbage included
//	peak       HeapAlloc right after, before any GC, minus HeapAlloc before
//	retained   HeapAlloc after a GC minus before: what the machine keeps
//
// and asserts bounds on them. Run with -v to see the numbers.

type heapUse struct{ allocated, peak, retained int64 }

func measure(t *testing.T, what string, op func()) heapUse {
	t.Helper()
	var before, mid, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	op()
	runtime.ReadMemStats(&mid)
	runtime.GC()
	runtime.ReadMemStats(&after)
	u := heapUse{
		allocated: int64(mid.TotalAlloc - before.TotalAlloc),
		peak:      int64(mid.HeapAlloc) - int64(before.HeapAlloc),
		retained:  int64(after.HeapAlloc) - int64(before.HeapAlloc),
	}
	t.Logf("%s: allocated %s, peak %s, retained %s", what, kib(u.allocated), kib(u.peak), kib(u.retained))
	return u
}

func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }

func within(t *testing.T, what string, got, limit int64) {
	t.Helper()
	if got > limit {
		t.Errorf("%s: %s, bound %s", what, kib(got), kib(limit))
	}
}

// TestMemoryCodecHugeHeaders: a frame whose byte-string, text or array
// header claims 4 GiB (or 2^64) inside a small message is refused as
// malformed without allocating for the claim, and a message over the limit
// is refused before a byte of it is read.
func TestMemoryCodecHugeHeaders(t *testing.T) {
	claims := map[string][]byte{
		// DATA [5, seq 1, ack 0, payload: bstr of 4 GiB ...]
		"payload of 4 GiB": {0x85, 0x05, 0x01, 0x00, 0x5b, 0, 0, 0, 1, 0, 0, 0, 0, 'x'},
		// DATA with a room text claiming 2^64-1 bytes
		"room of 2^64 bytes": {0x85, 0x05, 0x01, 0x00, 0x41, 'x', 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		// HELLO with an auth claiming 4 GiB
		"auth of 4 GiB": {0x85, 0x01, 0x01, 0xf6, 0x5a, 0xff, 0xff, 0xff, 0xff, 'a'},
		// an array header claiming 4 Gi elements as a HELLO's limits
		"limits of 4 Gi elements": {0x85, 0x01, 0x01, 0xf6, 0xf6, 0x9a, 0xff, 0xff, 0xff, 0xff},
	}
	d := codec.NewDecoder(codec.Limits{})
	for name, msg := range claims {
		const rounds = 1000
		u := measure(t, "codec, "+name+" x1000", func() {
			for range rounds {
				if err := d.Reset(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := d.Next(); !errors.Is(err, codec.ErrMalformed) {
					t.Fatalf("%s: %v, want ErrMalformed", name, err)
				}
			}
		})
		within(t, name+": allocated per frame", u.allocated/rounds, 4<<10)
	}

	big := make([]byte, 2<<20) // twice the default limit
	u := measure(t, "codec, 2 MiB message over a 1 MiB limit x1000", func() {
		for range 1000 {
			if err := d.Reset(big); !errors.Is(err, codec.ErrTooLarge) {
				t.Fatalf("%v, want ErrTooLarge", err)
			}
		}
	})
	within(t, "over-limit message: allocated per message", u.allocated/1000, 512)
}

// TestMemoryNetconnHugePrefix: a length prefix of 4 GiB is refused before
// any allocation when over the limit, and with no limit at all memory only
// follows the bytes that actually arrive.
func TestMemoryNetconnHugePrefix(t *testing.T) {
	stream := []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	u := measure(t, "netconn, 4 GiB prefix over a 1 MiB limit x1000", func() {
		for range 1000 {
			_, err := netconn.NewReader(bytes.NewReader(stream), 1<<20).ReadMessage()
			if !errors.Is(err, codec.ErrTooLarge) {
				t.Fatalf("%v, want ErrTooLarge", err)
			}
		}
	})
	within(t, "prefix over the limit: allocated per read", u.allocated/1000, 1<<10)

	u = measure(t, "netconn, 4 GiB prefix, no limit, 10 bytes follow", func() {
		_, err := netconn.NewReader(bytes.NewReader(stream), math.MaxInt).ReadMessage()
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("%v, want io.ErrUnexpectedEOF", err)
		}
	})
	within(t, "unlimited 4 GiB claim with 10 bytes: allocated", u.allocated, 128<<10)

	// 1 MiB actually arrives under a 4 GiB claim: memory follows the bytes.
	body := make([]byte, 4+1<<20)
	binary.BigEndian.PutUint32(body, math.MaxUint32)
	u = measure(t, "netconn, 4 GiB prefix, no limit, 1 MiB follows", func() {
		_, err := netconn.NewReader(bytes.NewReader(body), math.MaxInt).ReadMessage()
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("%v, want io.ErrUnexpectedEOF", err)
		}
	})
	within(t, "unlimited 4 GiB claim with 1 MiB: allocated", u.allocated, 8<<20)
}

// defaultServer is a server with the default configuration, seeded.
func defaultServer(mode session.Mode, maxSessions int) *session.Server {
	return session.NewServer(session.ServerConfig{
		LinkConfig:  session.LinkConfig{Mode: mode},
		Rand:        rand.NewChaCha8(seedBytes(7)),
		MaxSessions: maxSessions,
	})
}

func helloBytes(t *testing.T) []byte {
	b, err := codec.Encode(&proto.Hello{Version: proto.Version, Auth: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMemoryHelloFlood: thousands of HELLOs on one connection, in one
// message or in many, leave at most one session and cost memory in
// proportion to the input only while it is processed.
func TestMemoryHelloFlood(t *testing.T) {
	hello := helloBytes(t)
	const n = 10_000
	flood := bytes.Repeat(hello, n) // well under the 1 MiB message limit
	for _, mode := range []session.Mode{session.Stream, session.Datagram} {
		s := defaultServer(mode, 0)
		var out int
		u := measure(t, mode.String()+", 10,000 HELLOs in one message", func() {
			_ = s.Step(t0, session.Connected{Conn: 1})
			_ = s.Step(t0, session.Recv{Conn: 1, Data: flood})
			for _, o := range s.Ready().Transmit {
				out += len(o.Data)
			}
		})
		if st := s.Stats(); st.Sessions > 1 || st.SessionsStarted > 1 {
			t.Errorf("%s: one message of HELLOs made %d sessions", mode, st.SessionsStarted)
		}
		t.Logf("%s: %d bytes in, %d bytes out, stats %+v", mode, len(flood), out, s.Stats())
		within(t, mode.String()+" one-message flood: retained", u.retained, 64<<10)
		within(t, mode.String()+" one-message flood: allocated", u.allocated, 1<<20)

		s = defaultServer(mode, 0)
		out = 0
		u = measure(t, mode.String()+", 10,000 HELLOs in 10,000 messages", func() {
			_ = s.Step(t0, session.Connected{Conn: 1})
			for range n {
				_ = s.Step(t0, session.Recv{Conn: 1, Data: hello})
				for _, o := range s.Ready().Transmit {
					out += len(o.Data)
				}
			}
		})
		if st := s.Stats(); st.Sessions > 1 || st.SessionsStarted > 1 {
			t.Errorf("%s: HELLOs in many messages made %d sessions", mode, st.SessionsStarted)
		}
		t.Logf("%s: %d bytes in, %d bytes out", mode, n*len(hello), out)
		within(t, mode.String()+" many-message flood: retained", u.retained, 64<<10)
		within(t, mode.String()+" many-message flood: allocated", u.allocated, 8<<20)
	}
}

// TestMemoryHelloFloodManyConnections: a HELLO on each of 10,000
// connections makes sessions up to MaxSessions and no more; the rest are
// refused with CLOSE overloaded.
func TestMemoryHelloFloodManyConnections(t *testing.T) {
	hello := helloBytes(t)
	const n, max = 10_000, 1000
	s := defaultServer(session.Stream, max)
	rejected := 0
	u := measure(t, "10,000 connections with a HELLO each, MaxSessions 1000", func() {
		for c := range session.ConnID(n) {
			_ = s.Step(t0, session.Connected{Conn: c + 1})
			_ = s.Step(t0, session.Recv{Conn: c + 1, Data: hello})
			for _, ev := range s.Ready().Events {
				if _, ok := ev.(*session.ConnRejected); ok {
					rejected++
				}
			}
		}
	})
	st := s.Stats()
	if st.Sessions != max || rejected != n-max {
		t.Errorf("%d sessions, %d rejected; want %d and %d", st.Sessions, rejected, max, n-max)
	}
	t.Logf("per session: retained %d bytes", u.retained/max)
	within(t, "retained per session", u.retained/max, 4<<10)
}

// TestMemoryHalfOpen: thousands of connections that never send HELLO. With
// the default MaxPendingConns (4096) the excess is rejected at once, the
// rest are closed by the handshake timeout, and nothing is left.
func TestMemoryHalfOpen(t *testing.T) {
	const n = 10_000
	s := defaultServer(session.Stream, 0)
	rejected := 0
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	pending := measure(t, "10,000 half-open connections", func() {
		for c := range session.ConnID(n) {
			_ = s.Step(t0, session.Connected{Conn: c + 1})
			rd := s.Ready()
			rejected += len(rd.Hangup)
		}
	})
	if st := s.Stats(); st.Connections != 4096 || rejected != n-4096 {
		t.Errorf("%d connections open, %d rejected; want 4096 and %d", st.Connections, rejected, n-4096)
	}
	t.Logf("per pending connection: retained %d bytes", pending.retained/4096)
	within(t, "retained per pending connection", pending.retained/4096, 1<<10)

	closed := 0
	measure(t, "the handshake timeout closes them", func() {
		_ = s.Step(t0.Add(session.DefaultHandshakeTimeout), session.Timeout{})
		closed = len(s.Ready().Hangup)
	})
	if st := s.Stats(); st.Connections != 0 || closed != 4096 {
		t.Errorf("after the handshake timeout: %d connections open, %d closed", st.Connections, closed)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	left := int64(after.HeapAlloc) - int64(base.HeapAlloc)
	t.Logf("left after all are closed: %s (map and heap capacity that Go does not shrink)", kib(left))
	within(t, "left after all are closed", left, 1<<20)
	runtime.KeepAlive(s)
}

// TestMemoryPayloadAmplification: the typed payload codecs decode what
// peers send. A payload is bounded by the message size limit, so the worst
// a hostile payload can do is a constant factor: this measures that factor
// for 1 MiB payloads of the smallest possible elements, decoded into any.
func TestMemoryPayloadAmplification(t *testing.T) {
	const size = 1 << 20
	// CBOR: arrays of 65,535 zeros (the decoder's element cap is 65,536),
	// back to back inside one outer array: 16 x 65,536 one-byte items.
	var cb []byte
	cb = append(cb, 0x90) // array(16)
	for range 16 {
		cb = append(cb, 0x99, 0xff, 0xff) // array(65535)
		cb = append(cb, make([]byte, 65535)...)
	}
	// JSON: [0,0,0,...] of 1 MiB.
	js := append([]byte{'['}, bytes.Repeat([]byte("0,"), size/2-1)...)
	js = append(js, '0', ']')
	for _, tc := range []struct {
		name string
		data []byte
		dec  func([]byte) error
	}{
		{"cbor", cb, func(b []byte) error { _, err := codec.CBOR[any]().Unmarshal(b); return err }},
		{"json", js, func(b []byte) error { _, err := codec.JSON[any]().Unmarshal(b); return err }},
	} {
		u := measure(t, tc.name+" payload of "+kib(int64(len(tc.data)))+" of zeros into any", func() {
			if err := tc.dec(tc.data); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		})
		factor := u.allocated / int64(len(tc.data))
		t.Logf("%s: %d bytes allocated per payload byte", tc.name, factor)
		within(t, tc.name+" payload: allocated", u.allocated, 64*int64(len(tc.data)))
	}
}
