// Package readbuf reads whole transport messages into memory that is
// reused from one message to the next, so that reading a small message
// allocates nothing. The driver steps each message before it reads the
// next (adapters.Conn), so a transport can hand out the same memory again.
package readbuf

import "io"

// Keep is the largest buffer a Buffer keeps between messages. A larger
// message gets memory of its own, which is dropped after it: a connection
// that once received a large message does not hold that much while idle.
const Keep = 4 << 10

// first is the capacity a Buffer starts with, as io.ReadAll does: most
// protocol messages fit.
const first = 512

// Buffer is the reusable memory of one connection's reads. The zero value
// is ready to use. It is not safe for concurrent use.
type Buffer struct{ b []byte }

// ReadAll reads r until io.EOF and returns what it read, like io.ReadAll.
// The result is valid until the next call.
func (m *Buffer) ReadAll(r io.Reader) ([]byte, error) {
	b := m.b[:0]
	if b == nil {
		b = make([]byte, 0, first)
	}
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			m.keep(b)
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow as append does
		}
	}
}

// keep keeps b's memory for the next message if it is small enough.
func (m *Buffer) keep(b []byte) {
	if cap(b) <= Keep {
		m.b = b[:0]
	} else {
		m.b = nil
	}
}
