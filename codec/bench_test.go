package codec_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

var benchData64 = &proto.Data{Seq: 1000, Ack: 999, Payload: bytes.Repeat([]byte{0xab}, 64)}

// BenchmarkEncodeData64 appends a DATA frame with a 64-byte payload into a
// reused buffer, as a connection's writer does.
func BenchmarkEncodeData64(b *testing.B) {
	var e codec.Encoder
	buf := make([]byte, 0, 256)
	out, err := e.Append(buf[:0], benchData64)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = e.Append(buf[:0], benchData64)
	}
}

// BenchmarkDecodeData64 decodes the same frame with a reused Decoder.
func BenchmarkDecodeData64(b *testing.B) {
	msg, err := codec.Encode(benchData64)
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, msg)
}

// BenchmarkDecodeHello decodes a resuming HELLO, the largest control frame.
func BenchmarkDecodeHello(b *testing.B) {
	msg, err := codec.Encode(&proto.Hello{
		Version: proto.Version,
		Resume:  &proto.Resume{ID: testID, Token: bytes.Repeat([]byte{7}, proto.TokenLen), Ack: 12345},
		Auth:    []byte("bearer eyJhbGciOiJIUzI1NiJ9"),
		Limits:  proto.Limits{MaxMessageSize: 1 << 20, MaxInflight: 1024, MaxRequests: 64},
	})
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, msg)
}

// BenchmarkDecodeWelcome decodes the server's answer to HELLO.
func BenchmarkDecodeWelcome(b *testing.B) {
	msg, err := codec.Encode(&proto.Welcome{
		Version: proto.Version, ID: testID, Token: bytes.Repeat([]byte{9}, proto.TokenLen),
		Heartbeat: 30 * time.Second, IdleTimeout: 90 * time.Second, Resumed: true, Ack: 7,
	})
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, msg)
}

// BenchmarkDecodeBatch64 decodes one message carrying 64 DATA frames of 64
// bytes each, the batched shape the protocol is designed around; the
// reported time is per message.
func BenchmarkDecodeBatch64(b *testing.B) {
	var e codec.Encoder
	var msg []byte
	for range 64 {
		msg, _ = e.Append(msg, benchData64)
	}
	benchDecode(b, msg)
}

// A request and its response with 64-byte payloads: the frames of a round
// trip (Client.Request).
var (
	benchRequest64  = &proto.Request{Seq: 1000, Ack: 999, ID: 77, Payload: bytes.Repeat([]byte{0xab}, 64)}
	benchResponse64 = &proto.Response{Seq: 1000, Ack: 1000, ID: 77, Payload: bytes.Repeat([]byte{0xcd}, 64)}
)

// BenchmarkEncodeRoundTrip64 appends a REQUEST and its RESPONSE into a
// reused buffer; the reported time is per pair.
func BenchmarkEncodeRoundTrip64(b *testing.B) {
	var e codec.Encoder
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = e.Append(buf[:0], benchRequest64)
		buf, _ = e.Append(buf[:0], benchResponse64)
	}
}

// BenchmarkDecodeRequest64 and BenchmarkDecodeResponse64 decode the frames
// of a round trip with a reused Decoder.
func BenchmarkDecodeRequest64(b *testing.B) {
	msg, err := codec.Encode(benchRequest64)
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, msg)
}

func BenchmarkDecodeResponse64(b *testing.B) {
	msg, err := codec.Encode(benchResponse64)
	if err != nil {
		b.Fatal(err)
	}
	benchDecode(b, msg)
}

func benchDecode(b *testing.B, msg []byte) {
	d := codec.NewDecoder(codec.Limits{})
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Reset(msg); err != nil {
			b.Fatal(err)
		}
		for d.More() {
			if _, err := d.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
