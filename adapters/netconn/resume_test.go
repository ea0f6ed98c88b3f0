package netconn_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/netconn"
	"github.com/bettersocket/bettersocket/codec"
)

// growChunk mirrors the Reader's growth step, so message sizes can be
// drawn on either side of where its buffer grows.
const growChunk = 64 << 10

// netTimeout is a net.Error that reports a timeout without wrapping
// os.ErrDeadlineExceeded, the form a net.Conn outside package net may use;
// the Reader must resume after it as well.
type netTimeout struct{}

func (netTimeout) Error() string   { return "test: i/o timeout" }
func (netTimeout) Timeout() bool   { return true }
func (netTimeout) Temporary() bool { return true }

// timeoutErrs are the timeouts the flaky stream injects: the bare sentinel
// (net.Pipe's), the *net.OpError that wraps it (TCP's), and a net.Error
// that only says it is one.
var timeoutErrs = []error{
	os.ErrDeadlineExceeded,
	&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded},
	netTimeout{},
}

// flakyStream delivers data in chunks whose sizes rapid draws, and fails
// some Reads with a timeout instead. By default a timeout comes with no
// bytes, as from a net.Conn whose read deadline passed; withData lets it
// carry some, as a Read may return data and an error together.
type flakyStream struct {
	t        *rapid.T
	data     []byte
	off      int
	maxChunk int
	percent  int // chance of a timeout on each Read
	withData bool
	injected int
	// streak counts the timeouts in a row. It is capped so the stream
	// always gets to its end: rapid favours small draws, and its shrinker
	// would otherwise turn every Read into a timeout.
	streak int
}

// maxStreak is how many Reads in a row may time out; more would exercise
// nothing new.
const maxStreak = 2

func (s *flakyStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	rest := s.data[s.off:]
	if s.streak < maxStreak && rapid.IntRange(0, 99).Draw(s.t, "roll") < s.percent {
		s.streak++
		s.injected++
		err := timeoutErrs[rapid.IntRange(0, len(timeoutErrs)-1).Draw(s.t, "kind")]
		n := 0
		if s.withData && len(rest) > 0 {
			n = rapid.IntRange(0, min(len(p), len(rest), s.maxChunk)).Draw(s.t, "withTimeout")
		}
		s.off += copy(p, rest[:n])
		return n, err
	}
	s.streak = 0
	if len(rest) == 0 {
		return 0, io.EOF
	}
	n := rapid.IntRange(1, min(len(p), len(rest), s.maxChunk)).Draw(s.t, "chunk")
	s.off += copy(p, rest[:n])
	return n, nil
}

// injectedTimeout returns which injected timeout err is, by identity, so
// the test knows ReadMessage passed the stream's own error up.
func injectedTimeout(err error) bool {
	for _, e := range timeoutErrs {
		if err == e {
			return true
		}
	}
	return false
}

// message makes the i-th message of n bytes from seed; the content depends
// on both, so a byte lost, repeated or shifted shows as a mismatch.
func message(seed uint64, i, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	msg := make([]byte, n)
	for j := range msg {
		msg[j] = byte(rng.Uint32())
	}
	return msg
}

// TestReaderResumesAfterTimeouts is the resumability property: whatever
// the chunking of the stream and wherever timeouts strike (inside a prefix,
// right after one, inside a body, between messages), with or without a
// bufio.Reader in between, ReadMessage returns exactly the messages in
// order, each timeout surfaces as the stream's own error, and the stream
// still ends as it would have without them: io.EOF between messages,
// io.ErrUnexpectedEOF inside one, codec.ErrTooLarge at an oversized prefix.
func TestReaderResumesAfterTimeouts(t *testing.T) {
	var total struct{ runs, msgs, bytes, timeouts, buffered int }
	rapid.Check(t, func(t *rapid.T) {
		// Large messages only with large chunks: a 128 KiB message read a
		// byte at a time would cost a draw per byte and prove nothing more.
		maxChunk := rapid.SampledFrom([]int{1, 3, 64, 1500, 1 << 20}).Draw(t, "maxChunk")
		seed := rapid.Uint64().Draw(t, "seed")
		var msgs [][]byte
		var stream []byte
		longest := 0
		for i := range rapid.IntRange(0, 12).Draw(t, "messages") {
			var n int
			switch {
			case maxChunk >= 64 && rapid.IntRange(0, 9).Draw(t, "large") == 0:
				n = rapid.SampledFrom([]int{growChunk, 2 * growChunk}).Draw(t, "edge") + rapid.IntRange(-3, 3).Draw(t, "offset")
			default:
				n = rapid.IntRange(0, 4096+16).Draw(t, "size")
			}
			msg := message(seed, i, n)
			msgs = append(msgs, msg)
			stream = netconn.AppendMessage(stream, msg)
			longest = max(longest, n)
		}
		limit := longest + rapid.IntRange(0, 3).Draw(t, "slack")
		var wantErr error = io.EOF
		switch rapid.IntRange(0, 2).Draw(t, "end") {
		case 1: // the stream stops inside one more message
			extra := netconn.AppendMessage(nil, message(seed, len(msgs), rapid.IntRange(0, limit).Draw(t, "cutSize")))
			stream = append(stream, extra[:rapid.IntRange(1, len(extra)-1).Draw(t, "cut")]...)
			wantErr = io.ErrUnexpectedEOF
		case 2: // a prefix over the limit, followed by bytes never to be read
			claim := rapid.Uint32Range(uint32(limit)+1, math.MaxUint32).Draw(t, "claim")
			stream = binary.BigEndian.AppendUint32(stream, claim)
			stream = append(stream, "not read"...)
			wantErr = codec.ErrTooLarge
		}
		src := &flakyStream{
			t: t, data: stream, maxChunk: maxChunk,
			percent:  rapid.IntRange(0, 50).Draw(t, "timeoutPercent"),
			withData: rapid.Bool().Draw(t, "timeoutWithData"),
		}
		var under io.Reader = src
		buffered := rapid.Bool().Draw(t, "buffered")
		if buffered {
			// bufio must keep what it read across the stream's errors;
			// sizes around the prefix and the messages test its edges.
			under = bufio.NewReaderSize(src, rapid.IntRange(16, 5000).Draw(t, "bufSize"))
		}
		r := netconn.NewReader(under, limit)

		var got [][]byte
		surfaced := 0
		var end error
		for calls := 0; end == nil; calls++ {
			// Every Read but the timeouts, which come at most maxStreak
			// in a row, yields a byte or the end; more calls than that
			// mean ReadMessage returned without progress.
			if calls > (maxStreak+1)*(len(stream)+2) {
				t.Fatalf("no end after %d calls", calls)
			}
			msg, err := r.ReadMessage()
			switch {
			case err == nil:
				got = append(got, bytes.Clone(msg)) // valid until the next call
			case injectedTimeout(err):
				if msg != nil {
					t.Fatalf("timeout %v came with %d bytes", err, len(msg))
				}
				if !errors.Is(err, os.ErrDeadlineExceeded) && err != (netTimeout{}) {
					t.Fatalf("timeout %v does not wrap os.ErrDeadlineExceeded", err)
				}
				surfaced++
			default:
				if msg != nil {
					t.Fatalf("error %v came with %d bytes", err, len(msg))
				}
				end = err
			}
		}

		if len(got) != len(msgs) {
			t.Fatalf("read %d messages, want %d", len(got), len(msgs))
		}
		for i := range msgs {
			if !bytes.Equal(got[i], msgs[i]) {
				t.Fatalf("message %d: %d bytes differ from the %d sent", i, len(got[i]), len(msgs[i]))
			}
		}
		if !errors.Is(end, wantErr) || (wantErr != codec.ErrTooLarge && end != wantErr) {
			t.Fatalf("stream ended with %v, want %v", end, wantErr)
		}
		// A timeout that came without bytes always surfaces. One whose
		// bytes complete a message may be left behind, as a deadline
		// persists and meets the next call anyway.
		if src.withData && surfaced > src.injected || !src.withData && surfaced != src.injected {
			t.Fatalf("%d timeouts surfaced of %d injected (with data: %v)", surfaced, src.injected, src.withData)
		}
		total.runs++
		total.msgs += len(got)
		total.bytes += len(stream)
		total.timeouts += surfaced
		if buffered {
			total.buffered++
		}
	})
	t.Logf("%d runs (%d through bufio): %d messages, %d stream bytes, %d timeouts surfaced",
		total.runs, total.buffered, total.msgs, total.bytes, total.timeouts)
}

// repeatStream is a stream that says the same bytes over and over, failing
// every other Read with a timeout, so a benchmark loop never runs dry.
type repeatStream struct {
	b       []byte
	off     int
	timeout bool
}

func (s *repeatStream) Read(p []byte) (int, error) {
	if s.timeout = !s.timeout; s.timeout {
		return 0, os.ErrDeadlineExceeded
	}
	p[0] = s.b[s.off]
	s.off = (s.off + 1) % len(s.b)
	return 1, nil
}

// An oversized prefix that arrives a byte at a time, with timeouts between
// its bytes, is still refused before anything is allocated for the length
// it claims: the partial prefix lives in the Reader, not in a buffer.
func TestReaderRefusesResumedPrefixWithoutAllocating(t *testing.T) {
	const limit = 1 << 20
	prefix := binary.BigEndian.AppendUint32(nil, limit+1)
	r := netconn.NewReader(&repeatStream{b: prefix}, limit)
	read := func() {
		for {
			_, err := r.ReadMessage()
			if errors.Is(err, codec.ErrTooLarge) {
				return
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read: %v", err)
			}
		}
	}
	read() // warm up anything allocated once
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 100
	for range runs {
		read()
	}
	runtime.ReadMemStats(&after)
	// Only the error is allocated; a body buffer would be 64 KiB at least.
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 1<<10 {
		t.Fatalf("%d bytes allocated per refused prefix, want at most 1 KiB", perRun)
	}
}

// countingConn reports the size of every Read that returned bytes, so the
// test knows when bytes written have reached the reading side.
type countingConn struct {
	net.Conn
	read chan int
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.read <- n
	}
	return n, err
}

// pairs make connected net.Conns: net.Pipe, whose writes wait for the
// reader and whose deadlines are its own, and TCP loopback, whose
// deadlines are the runtime poller's.
var pairs = map[string]func(t *testing.T) (w, r net.Conn){
	"pipe": func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() },
	"tcp": func(t *testing.T) (net.Conn, net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept() // nil on error, checked below
			accepted <- c
		}()
		w, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		r := <-accepted
		if r == nil {
			w.Close()
			t.Fatal("accept failed")
		}
		return w, r
	},
}

// result is what one ReadMessage returned.
type result struct {
	msg []byte
	err error
}

// A real connection, interrupted by a read deadline in the past while a
// message is half written, then cleared: the message arrives whole, and
// the stream stays in step for the next one. The split points fall inside
// the prefix, right after it, and inside the body.
func TestConnInterruptedReadResumes(t *testing.T) {
	msg := message(1, 0, 10000)
	frame := netconn.AppendMessage(nil, msg)
	next := []byte("the next message")
	for name, pair := range pairs {
		for _, split := range []int{1, 2, 4, 5, 4 + len(msg)/2, len(frame) - 1} {
			t.Run(fmt.Sprintf("%s/split=%d", name, split), func(t *testing.T) {
				w, rc := pair(t)
				defer w.Close()
				counted := countingConn{rc, make(chan int, len(frame)+len(next)+4)}
				c := netconn.NewConn(counted, len(msg))
				defer c.Close(0, "")
				ri, ok := c.(adapters.ReadInterrupter)
				if !ok {
					t.Fatal("netconn's Conn is not an adapters.ReadInterrupter")
				}
				results := make(chan result, 1)
				read := func() {
					go func() {
						m, err := c.ReadMessage()
						results <- result{m, err}
					}()
				}
				wantTimeout := func(step string) {
					res := <-results
					if !errors.Is(res.err, os.ErrDeadlineExceeded) || res.msg != nil {
						t.Fatalf("%s: %d bytes, %v; want a deadline error", step, len(res.msg), res.err)
					}
				}

				setDeadline := func(d time.Time) {
					if err := ri.SetReadDeadline(d); err != nil {
						t.Fatalf("SetReadDeadline: %v", err)
					}
				}

				// A deadline already past fails the next read at once.
				setDeadline(time.Unix(1, 0))
				read()
				wantTimeout("read after the deadline")
				setDeadline(time.Time{})

				// Half a message reaches the reader, which then is
				// interrupted, whether it is blocked already or not yet.
				read()
				if _, err := w.Write(frame[:split]); err != nil {
					t.Fatal(err)
				}
				for arrived := 0; arrived < split; {
					arrived += <-counted.read
				}
				setDeadline(time.Now().Add(-time.Second))
				wantTimeout("interrupted read")

				// Cleared, the read resumes: the rest completes the
				// message, and the one after it comes out intact.
				setDeadline(time.Time{})
				read()
				wrote := make(chan error, 1)
				go func() {
					// Written from a goroutine because net.Pipe's Write
					// waits for the reader, which stops after one message.
					_, err := w.Write(append(frame[split:], netconn.AppendMessage(nil, next)...))
					wrote <- err
				}()
				res := <-results
				if res.err != nil || !bytes.Equal(res.msg, msg) {
					t.Fatalf("resumed read: %d bytes, %v; want the %d-byte message", len(res.msg), res.err, len(msg))
				}
				read()
				if res := <-results; res.err != nil || !bytes.Equal(res.msg, next) {
					t.Fatalf("next read: %q, %v; want %q", res.msg, res.err, next)
				}
				if err := <-wrote; err != nil {
					t.Fatalf("write: %v", err)
				}
			})
		}
	}
}
