// Package readbuf reads whole transport messages into memory that is
// reused from one message to the next, so that reading a small message
// allocates nothing. The driver steps each message before it reads the
// next (adapters.Conn), so a transport can hand out the same memory again.
package readbuf

import (
	"io"
	"slices"
	"sync"
)

// Keep is the largest buffer kept between messages. A larger message gets
// memory of its own, which is dropped after it: a connection that once
// received a large message does not hold that much while idle.
const Keep = 4 << 10

// first is the capacity a buffer starts with, as io.ReadAll does: most
// protocol messages fit.
const first = 512

// Buffer is the reusable memory of one connection's reads. The zero value
// keeps its memory between messages, which suits a client's one
// connection. A Buffer with Pooled set borrows memory from a pool shared
// by all such Buffers for each message and gives it back at Release, so
// that the idle connections of a server hold none. A Buffer is not safe
// for concurrent use.
type Buffer struct {
	Pooled bool
	b      []byte // the kept memory, or the borrowed block's
	blk    *block // the borrowed block (Pooled), until Release
	// large is the size of the last message larger than Keep.
	large int
}

// block is what the pool holds: a pointer, so that Put does not allocate.
type block struct{ b []byte }

var blocks = sync.Pool{New: func() any { return &block{b: make([]byte, 0, first)} }}

// ReadAll reads r until io.EOF and returns what it read, like io.ReadAll.
// The result is valid until the next ReadAll or Release. A message larger
// than Keep grows past it at once to the size of the last such message, so
// that a stream of large messages costs one allocation each, not a series
// of copies; the memory within Keep it outgrew is kept.
func (m *Buffer) ReadAll(r io.Reader) ([]byte, error) {
	if m.Pooled {
		m.Release()
		m.blk = blocks.Get().(*block)
		m.b = m.blk.b
	}
	b := m.b[:0]
	if b == nil {
		b = make([]byte, 0, first)
	}
	kept := b // b, or the memory within Keep that b outgrew
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if cap(b) <= Keep {
				kept = b
			} else {
				m.large = len(b)
			}
			m.b = kept[:0]
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			more := 1 // grow as append does
			if cap(b) <= Keep {
				kept = b
			}
			if cap(b) >= Keep {
				// Room for the read that meets io.EOF, too.
				more = max(more, m.large+first-len(b))
			}
			b = slices.Grow(b, more)
		}
	}
}

// Release gives a Pooled Buffer's memory back, once the last message is
// no longer used; a connection calls it before it waits for the next one.
// It does nothing to a Buffer that keeps its memory.
func (m *Buffer) Release() {
	if m.blk == nil {
		return
	}
	m.blk.b = m.b[:0] // it may have grown, within Keep
	blocks.Put(m.blk)
	m.blk, m.b = nil, nil
}
