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
	if m.b != nil {
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
