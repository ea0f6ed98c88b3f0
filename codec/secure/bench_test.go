package secure

import (
	"bytes"
	"testing"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// BenchmarkFrame compares one DATA frame's trip through the codec in
// plaintext and sealed: encode (+ seal) and (open +) decode, per 64-byte and
// 1 KiB payload. The difference is what encryption costs per transport
// message.
func BenchmarkFrame(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"64B", 64}, {"1KiB", 1024}} {
		frame := &proto.Data{Seq: 1, Ack: 1, Payload: bytes.Repeat([]byte{'x'}, size.n)}
		b.Run("plain/"+size.name, func(b *testing.B) {
			var enc codec.Encoder
			dec := codec.NewDecoder(codec.Limits{})
			var buf []byte
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = enc.Append(buf[:0], frame)
				if err := dec.Reset(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := dec.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("sealed/"+size.name, func(b *testing.B) {
			client, server := pair(b, PSK)
			var enc codec.Encoder
			dec := codec.NewDecoder(codec.Limits{})
			var buf, rec, plain []byte
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = enc.Append(buf[:0], frame)
				rec, _ = client.Seal(rec[:0], buf)
				var err error
				if plain, _, _, err = server.Read(plain, rec); err != nil {
					b.Fatal(err)
				}
				if err := dec.Reset(plain); err != nil {
					b.Fatal(err)
				}
				if _, err := dec.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealOpen is the secure layer alone: seal and open one record.
func BenchmarkSealOpen(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"64B", 64}, {"1KiB", 1024}} {
		b.Run(size.name, func(b *testing.B) {
			client, server := pair(b, PSK)
			msg := bytes.Repeat([]byte{'x'}, size.n)
			var rec, plain []byte
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				rec, _ = client.Seal(rec[:0], msg)
				var err error
				if plain, _, _, err = server.Read(plain, rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandshake is one connection's handshake: both sides' work
// (both/MODE), and the server's alone (server/MODE), which is what a flood
// of handshakes costs a server. The server's share is measured by replaying
// one client's messages to fresh server layers that draw the same
// randomness, so that they answer alike and the client's last message (XK)
// fits every one.
func BenchmarkHandshake(b *testing.B) {
	for _, mode := range modes {
		b.Run("both/"+mode.String(), func(b *testing.B) {
			ccfg, scfg := configs(b, mode)
			r := seeded(5)
			b.ReportAllocs()
			for b.Loop() {
				c, _ := NewConn(ccfg, false, r)
				s, _ := NewConn(scfg, true, r)
				if err := shake(b, c, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, mode := range modes {
		b.Run("server/"+mode.String(), func(b *testing.B) {
			ccfg, scfg := configs(b, mode)
			c, _ := NewConn(ccfg, false, seeded(6))
			s, _ := NewConn(scfg, true, seeded(7))
			first, _ := c.Start()
			_, answer, _, _ := s.Read(nil, first)
			_, last, _, _ := c.Read(nil, answer)
			b.ReportAllocs()
			for b.Loop() {
				s, _ := NewConn(scfg, true, seeded(7))
				if _, _, _, err := s.Read(nil, first); err != nil {
					b.Fatal(err)
				}
				if last != nil {
					if _, _, _, err := s.Read(nil, last); err != nil {
						b.Fatal(err)
					}
				}
				if !s.Established() {
					b.Fatal("not established")
				}
			}
		})
	}
}
