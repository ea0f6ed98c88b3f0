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

// BenchmarkHandshake is one connection's handshake, both sides' work: the
// server's share is about half (one fewer key generation in psk and
// server-key mode).
func BenchmarkHandshake(b *testing.B) {
	for _, mode := range modes {
		b.Run(mode.String(), func(b *testing.B) {
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
}
