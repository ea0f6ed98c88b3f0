package netconn_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/bettersocket/bettersocket/adapters/netconn"
)

// readAll collects everything written to the far end of a pipe.
func readAll(t *testing.T, nc net.Conn) <-chan []byte {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(nc)
		got <- b
	}()
	return got
}

// A connection made by NewConn borrows its write buffer for each batch:
// batches of small, empty and buffer-sized messages arrive framed and
// whole, one after the other, and a failed batch reports its error without
// leaving it in the buffer for the next connection that borrows it.
func TestConnWritesBatchesThroughBorrowedBuffers(t *testing.T) {
	big := bytes.Repeat([]byte("b"), 10_000) // over the 4 KiB buffer
	batches := [][][]byte{
		{[]byte("one"), nil, []byte("two")},
		{big, []byte("after big")},
		{[]byte("last")},
	}
	a, b := net.Pipe()
	got := readAll(t, b)
	c := netconn.NewConn(a, len(big))
	var want []byte
	for _, batch := range batches {
		if err := c.WriteMessages(batch); err != nil {
			t.Fatalf("WriteMessages: %v", err)
		}
		for _, m := range batch {
			want = netconn.AppendMessage(want, m)
		}
	}
	a.Close()
	if w := <-got; !bytes.Equal(w, want) {
		t.Fatalf("the peer read %d bytes that differ from the %d written", len(w), len(want))
	}

	// A batch whose write fails reports it.
	a, b = net.Pipe()
	b.Close()
	if err := netconn.NewConn(a, 64).WriteMessages([][]byte{[]byte("lost")}); err == nil {
		t.Fatal("WriteMessages to a closed pipe reported no error")
	}
	a.Close()

	// The next connection's batches are unaffected by that failure.
	a, b = net.Pipe()
	got = readAll(t, b)
	c = netconn.NewConn(a, 64)
	for range 3 {
		if err := c.WriteMessages([][]byte{[]byte("fine")}); err != nil {
			t.Fatalf("WriteMessages after another connection's failure: %v", err)
		}
	}
	a.Close()
	want = nil
	for range 3 {
		want = netconn.AppendMessage(want, []byte("fine"))
	}
	if w := <-got; !bytes.Equal(w, want) {
		t.Fatalf("the peer read %q, want %q", w, want)
	}
}
