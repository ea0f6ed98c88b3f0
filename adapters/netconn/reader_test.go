package netconn_test

import (
	"bytes"
	"errors"
	"io"
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
// memory in proportion to what it sent, not to what it announced.
func TestReaderAllocatesAsBytesArrive(t *testing.T) {
	const max = 16 << 20
	input := append([]byte{0, 0xff, 0xff, 0xff}, make([]byte, 100)...) // announces ~16 MiB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 10
	for range runs {
		if _, err := netconn.NewReader(bytes.NewReader(input), max).ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("read: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 128<<10 {
		t.Fatalf("%d bytes allocated per read of 100 bytes, want at most 128 KiB", perRun)
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
