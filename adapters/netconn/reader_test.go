package netconn_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/bettersocket/bettersocket/adapters/netconn"
	"github.com/bettersocket/bettersocket/codec"
)

func TestReaderMessages(t *testing.T) {
	var b []byte
	b = netconn.AppendMessage(b, []byte("abc"))
	b = netconn.AppendMessage(b, nil)
	b = netconn.AppendMessage(b, []byte("12345678"))
	if want := "\x00\x00\x00\x03abc\x00\x00\x00\x00\x00\x00\x00\x0812345678"; string(b) != want {
		t.Fatalf("framing %q, want %q", b, want)
	}
	r := netconn.NewReader(bytes.NewReader(b), 8)
	for _, want := range []string{"abc", "", "12345678"} {
		msg, err := r.ReadMessage()
		if err != nil || string(msg) != want {
			t.Fatalf("read %q, %v; want %q", msg, err, want)
		}
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

func TestReaderErrors(t *testing.T) {
	cases := []struct {
		name  string
		input []byte
		want  error
	}{
		{"too large", []byte{0, 0, 0, 9, 'x'}, codec.ErrTooLarge},
		{"huge", []byte{0xff, 0xff, 0xff, 0xff}, codec.ErrTooLarge},
		{"truncated prefix", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"truncated body", []byte{0, 0, 0, 5, 'a', 'b'}, io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := netconn.NewReader(bytes.NewReader(tc.input), 8).ReadMessage()
			if !errors.Is(err, tc.want) || msg != nil {
				t.Fatalf("%q, %v; want %v", msg, err, tc.want)
			}
		})
	}
}

// A peer that announces a large message and sends little of it costs
// memory in proportion to what it sent, not to what it announced: a reader
// holding 100 bytes of an announced 1 MiB message (the peer stalls: the
// read times out, which keeps the partial message) has allocated at most
// 8 KiB, its first buffer and the Reader itself.
func TestReaderAllocatesAsBytesArrive(t *testing.T) {
	const max = 1 << 20
	input := append([]byte{0, 0x10, 0, 0}, make([]byte, 100)...) // announces 1 MiB
	readers := make([]*netconn.Reader, 0, 100)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range cap(readers) {
		r := netconn.NewReader(&stalling{data: input}, max)
		if _, err := r.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v, want the stall's timeout", err)
		}
		readers = append(readers, r)
	}
	runtime.ReadMemStats(&after)
	if perReader := (after.TotalAlloc - before.TotalAlloc) / uint64(len(readers)); perReader > 8<<10 {
		t.Fatalf("%d bytes allocated per reader holding 100 bytes of an announced 1 MiB, want at most 8 KiB", perReader)
	}
	runtime.KeepAlive(readers)
}

// stalling yields data, then times out as a net.Conn whose peer went
// silent does.
type stalling struct{ data []byte }

func (s *stalling) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}

// A message much larger than the first buffer still arrives whole, the
// buffer doubling as its bytes come in.
func TestReaderGrowsToLargeMessage(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	r := netconn.NewReader(bytes.NewReader(netconn.AppendMessage(nil, body)), len(body))
	msg, err := r.ReadMessage()
	if err != nil || !bytes.Equal(msg, body) {
		t.Fatalf("read %d bytes, %v; want the 1 MiB body", len(msg), err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(netconn.AppendMessage(netconn.AppendMessage(nil, []byte("one")), []byte("two")))
	f.Add([]byte{0, 0, 1, 0, 'x'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 64
		r := netconn.NewReader(bytes.NewReader(data), max)
		var again []byte
		for {
			msg, err := r.ReadMessage()
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, codec.ErrTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(msg) > max {
				t.Fatalf("message of %d bytes over the limit %d", len(msg), max)
			}
			again = netconn.AppendMessage(again, msg)
		}
		if !bytes.HasPrefix(data, again) {
			t.Fatalf("messages read do not frame back to the input")
		}
	})
}

// Small messages reuse the memory of the one before: a connection reads
// them without allocating. A message over 4 KiB gets memory of its own,
// which the Reader does not keep.
func TestReaderReusesSmallMessages(t *testing.T) {
	small := bytes.Repeat([]byte("s"), 100)
	big := bytes.Repeat([]byte("b"), 5000)
	var stream []byte
	for range 50 {
		stream = netconn.AppendMessage(stream, small)
	}
	stream = netconn.AppendMessage(stream, big)
	stream = netconn.AppendMessage(stream, small)
	src := bytes.NewReader(stream)
	r := netconn.NewReader(src, 1<<20)
	first, err := r.ReadMessage()
	if err != nil || !bytes.Equal(first, small) {
		t.Fatalf("first: %d bytes, %v", len(first), err)
	}
	allocs := testing.AllocsPerRun(48, func() {
		if msg, err := r.ReadMessage(); err != nil || !bytes.Equal(msg, small) {
			t.Fatalf("small: %d bytes, %v", len(msg), err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per small message, want 0", allocs)
	}
	for _, want := range [][]byte{big, small} {
		msg, err := r.ReadMessage()
		if err != nil || !bytes.Equal(msg, want) {
			t.Fatalf("got %d bytes, %v; want %d", len(msg), err, len(want))
		}
		if len(want) == len(small) && &msg[0] != &first[0] {
			t.Error("a small message after a big one did not reuse the small one's memory")
		}
	}
}
