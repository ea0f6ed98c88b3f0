package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime/metrics"
	"testing"
	"testing/iotest"

	"github.com/bettersocket/bettersocket/adapters/netconn"
	"github.com/bettersocket/bettersocket/codec"
)

// allocatedBytes is the cumulative heap allocation of the process. It is
// cheap to read (no stop-the-world), so a fuzz target can bound what one
// call allocates.
func allocatedBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// netconnMax turns the fuzzer's limit into the Reader's: small limits hit
// ErrTooLarge, 0 means "no limit at all" (math.MaxInt), so a 4 GiB length
// prefix is accepted and memory may only follow the bytes that arrive.
func netconnMax(limit uint32) int {
	if limit == 0 {
		return math.MaxInt
	}
	return int(limit % (1 << 20))
}

// FuzzNetconnReader feeds a byte stream to the length-prefixed message
// reader of adapters/netconn, whole or one byte per Read.
//
// Invariants: no panic; every message is at most the limit; messages
// re-framed with AppendMessage give back exactly the bytes consumed; the
// stream ends with io.EOF only between messages, io.ErrUnexpectedEOF
// inside one, and an error wrapping codec.ErrTooLarge exactly when a
// length prefix exceeds the limit, and no other error; a reader allocates
// at most what arrived plus one 64 KiB chunk, whatever length a prefix
// claims (4 GiB included).
func FuzzNetconnReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, limit uint32, oneByte bool, stream []byte) {
		max := netconnMax(limit)
		reframed, allocated, err := readStream(t, stream, max, oneByte)
		// The bound has slack for the messages' own growth (each at most
		// doubles). The process-wide counter also sees other goroutines of
		// the fuzzing engine, so an excess counts only if it repeats.
		bound := uint64(4*len(stream)) + 3*(64<<10)
		for try := 0; try < 3 && allocated > bound; try++ {
			_, again, _ := readStream(t, stream, max, oneByte)
			allocated = min(allocated, again)
		}
		if allocated > bound {
			t.Fatalf("reading %d bytes allocated %d bytes (bound %d)", len(stream), allocated, bound)
		}
		if !bytes.HasPrefix(stream, reframed) {
			t.Fatalf("re-framed messages are not the stream's prefix")
		}
		rest := stream[len(reframed):]
		switch {
		case errors.Is(err, codec.ErrTooLarge):
			if len(rest) < 4 || int64(binary.BigEndian.Uint32(rest)) <= int64(max) {
				t.Fatalf("ErrTooLarge (%v) at a prefix of %x that fits the limit %d", err, rest[:min(4, len(rest))], max)
			}
		case err == io.EOF:
			if len(rest) != 0 {
				t.Fatalf("io.EOF with %d bytes unread", len(rest))
			}
		case err == io.ErrUnexpectedEOF:
			if len(rest) == 0 {
				t.Fatalf("io.ErrUnexpectedEOF at a message boundary")
			}
			if len(rest) >= 4 && int64(binary.BigEndian.Uint32(rest)) > int64(max) {
				t.Fatalf("io.ErrUnexpectedEOF for a prefix over the limit: want ErrTooLarge")
			}
		default:
			t.Fatalf("untyped error %v", err)
		}
	})
}

// readStream reads messages from stream until an error and returns them
// re-framed, the bytes allocated meanwhile, and the error.
func readStream(t *testing.T, stream []byte, max int, oneByte bool) ([]byte, uint64, error) {
	var src io.Reader = bytes.NewReader(stream)
	if oneByte {
		src = iotest.OneByteReader(src)
	}
	r := netconn.NewReader(src, max)
	var reframed []byte
	before := allocatedBytes()
	for {
		msg, err := r.ReadMessage()
		if err != nil {
			allocated := allocatedBytes() - before
			if msg != nil {
				t.Fatalf("ReadMessage returned %d bytes with error %v", len(msg), err)
			}
			return reframed, allocated, err
		}
		if len(msg) > max {
			t.Fatalf("message of %d bytes, limit %d", len(msg), max)
		}
		reframed = netconn.AppendMessage(reframed, msg)
	}
}

// netconnSeeds: the conversations' messages framed as a stream, and the
// edges of the length prefix.
func netconnSeeds(c *corpus) {
	var stream []byte
	for _, m := range c.msgs[:min(len(c.msgs), 40)] {
		stream = netconn.AppendMessage(stream, m)
	}
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x83, 0x05, 0x01}
	c.add("FuzzNetconnReader", "conversation", uint32(1<<20-1), false, stream)
	c.add("FuzzNetconnReader", "conversation-bytewise", uint32(4096), true, stream[:min(len(stream), 2000)])
	c.add("FuzzNetconnReader", "claims-4GiB-unlimited", uint32(0), false, huge)
	c.add("FuzzNetconnReader", "claims-4GiB-limited", uint32(4096), false, huge)
	c.add("FuzzNetconnReader", "empty-messages", uint32(16), false, []byte{0, 0, 0, 0, 0, 0, 0, 0})
	c.add("FuzzNetconnReader", "truncated", uint32(16), true, []byte{0, 0, 0, 9, 1, 2, 3})
	c.add("FuzzNetconnReader", "truncated-prefix", uint32(16), false, []byte{0, 0})
}
