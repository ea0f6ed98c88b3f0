package readbuf

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadAllReusesSmallBuffers(t *testing.T) {
	var m Buffer
	a, err := m.ReadAll(bytes.NewReader([]byte("first message")))
	if err != nil || string(a) != "first message" {
		t.Fatalf("first: %q, %v", a, err)
	}
	b, err := m.ReadAll(iotest.OneByteReader(bytes.NewReader([]byte("second"))))
	if err != nil || string(b) != "second" {
		t.Fatalf("second: %q, %v", b, err)
	}
	if &a[:1][0] != &b[:1][0] {
		t.Error("a small message did not reuse the buffer")
	}
	third := []byte("third")
	r := bytes.NewReader(third)
	if n := testing.AllocsPerRun(100, func() { r.Reset(third); m.ReadAll(r) }); n != 0 {
		t.Errorf("%v allocations per small message, want 0", n)
	}
}

func TestReadAllDropsLargeBuffers(t *testing.T) {
	var m Buffer
	big := bytes.Repeat([]byte("x"), Keep+1)
	got, err := m.ReadAll(bytes.NewReader(big))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big: %d bytes, %v", len(got), err)
	}
	if cap(m.b) > Keep {
		t.Errorf("kept %d bytes after a message of %d", cap(m.b), len(big))
	}
	near := bytes.Repeat([]byte("y"), Keep-1)
	got, err = m.ReadAll(bytes.NewReader(near))
	if err != nil || !bytes.Equal(got, near) {
		t.Fatalf("near: %d bytes, %v", len(got), err)
	}
	if cap(m.b) < Keep-1 || cap(m.b) > Keep {
		t.Errorf("kept %d bytes after a message of Keep-1, want up to %d", cap(m.b), Keep)
	}
}

// After one large message, the next one that outgrows Keep grows at once
// to the last one's size, instead of doubling step by step, each step a
// copy: past Keep, it is read in one Read, and one more meets io.EOF.
func TestReadAllGrowsToTheLastLargeSize(t *testing.T) {
	for _, pooled := range []bool{false, true} {
		m := Buffer{Pooled: pooled}
		big := bytes.Repeat([]byte("z"), 40<<10)
		r := &roomReader{r: bytes.NewReader(big)}
		for range 2 {
			r.r.Reset(big)
			r.at, r.reads = 0, nil
			got, err := m.ReadAll(r)
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("pooled %t: %d bytes, %v", pooled, len(got), err)
			}
		}
		past := 0
		for _, at := range r.reads {
			if at >= Keep {
				past++
			}
		}
		if past > 2 {
			t.Errorf("pooled %t: the second large message was read from offsets %v", pooled, r.reads)
		}
	}
}

// roomReader records the offset each Read starts at.
type roomReader struct {
	r     *bytes.Reader
	at    int
	reads []int
}

func (r *roomReader) Read(p []byte) (int, error) {
	r.reads = append(r.reads, r.at)
	n, err := r.r.Read(p)
	r.at += n
	return n, err
}

func TestReadAllReportsErrors(t *testing.T) {
	var m Buffer
	boom := errors.New("boom")
	got, err := m.ReadAll(io.MultiReader(bytes.NewReader([]byte("part")), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || string(got) != "part" {
		t.Fatalf("got %q, %v; want \"part\", boom", got, err)
	}
	got, err = m.ReadAll(bytes.NewReader(nil))
	if err != nil || len(got) != 0 {
		t.Fatalf("empty: %q, %v", got, err)
	}
}

// A Pooled Buffer holds no memory once released, and reading a small
// message through it allocates nothing: the memory comes from the pool.
func TestPooledBufferHoldsNothingWhenReleased(t *testing.T) {
	m := Buffer{Pooled: true}
	got, err := m.ReadAll(bytes.NewReader([]byte("hello")))
	if err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
	if m.blk == nil {
		t.Fatal("no block borrowed while the message is in use")
	}
	m.Release()
	if m.blk != nil || m.b != nil {
		t.Fatalf("released Buffer still holds %d bytes", cap(m.b))
	}
	msg := []byte("small message")
	r := bytes.NewReader(msg)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(msg)
		if got, err := m.ReadAll(r); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("got %q, %v", got, err)
		}
		m.Release()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per pooled small message, want 0", allocs)
	}
	big := bytes.Repeat([]byte("b"), Keep+1)
	if got, err := m.ReadAll(bytes.NewReader(big)); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big: %d bytes, %v", len(got), err)
	}
	m.Release()
	if got, err := m.ReadAll(bytes.NewReader(msg)); err != nil || !bytes.Equal(got, msg) || cap(got) > Keep {
		t.Fatalf("after big: %q (capacity %d), %v", got, cap(got), err)
	}
	m.Release()
}
