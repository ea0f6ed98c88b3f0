package session

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/bettersocket/bettersocket/proto"
)

// Readys share an arena while it has room: the messages of one stay intact
// while later ones are appended after them, and none can be appended to
// in place.
func TestWriterArenaKeepsEarlierMessages(t *testing.T) {
	var w writer
	var out, copies [][]byte
	emit := func(m []byte) { out = append(out, m) }
	for i := range 300 {
		w.begin(1<<20, emit)
		w.data = proto.Data{Seq: uint64(i + 1), Payload: []byte(fmt.Sprintf("message %d", i))}
		w.frame(&w.data)
		if i%7 == 0 { // now and then a Ready of two messages
			w.end()
			w.begin(1<<20, emit)
			w.ackFrame(uint64(i))
		}
		if i%50 == 0 { // and a large one
			w.data = proto.Data{Seq: uint64(i + 1), Payload: bytes.Repeat([]byte{'x'}, 3000)}
			w.frame(&w.data)
		}
		w.end()
		w.take()
		for _, m := range out[len(copies):] {
			if cap(m) != len(m) {
				t.Fatalf("Ready %d: a message of %d bytes has capacity %d", i, len(m), cap(m))
			}
			copies = append(copies, bytes.Clone(m))
		}
	}
	for i := range out {
		if !bytes.Equal(out[i], copies[i]) {
			t.Fatalf("message %d changed after later Readys", i)
		}
	}
}

// A small Ready allocates a new arena only once in many.
func TestWriterArenaAllocations(t *testing.T) {
	var w writer
	out := make([][]byte, 0, 1)
	emit := func(m []byte) { out = append(out[:0], m) }
	payload := bytes.Repeat([]byte{'p'}, 64)
	seq := uint64(0)
	allocs := testing.AllocsPerRun(100, func() {
		for range 10 {
			seq++
			w.begin(1<<20, emit)
			w.data = proto.Data{Seq: seq, Ack: seq, Payload: payload}
			w.frame(&w.data)
			w.end()
			w.take()
		}
	})
	if allocs > 1 {
		t.Errorf("%.2f allocations per 10 Readys of one 64-byte message, want at most 1", allocs)
	}
}

// A Ready larger than its arena moves only the message under way to the
// next arena: what it allocates is about what it writes, not the multiple
// that growing the arena by doubling would allocate.
func TestWriterLargeReadyAllocatesItsSize(t *testing.T) {
	var w writer
	var out [][]byte
	emit := func(m []byte) { out = append(out, m) }
	payload := bytes.Repeat([]byte{'p'}, 64)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	seq := uint64(0)
	// One frame, as a broadcast's members share its text.
	f := newOutFrame(proto.TypeData, 0, payload, "r", "", nil)
	for range 100 { // connections
		w.begin(64<<10, emit)
		for range 400 {
			seq++
			w.reliable(&f, seq, 0)
		}
		w.end()
	}
	w.take()
	runtime.ReadMemStats(&ms)
	written := 0
	for _, m := range out {
		written += len(m)
	}
	if got := ms.TotalAlloc - before; got > uint64(2*written) {
		t.Errorf("a Ready of %d bytes in %d messages allocated %d bytes", written, len(out), got)
	}
}
