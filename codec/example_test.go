package codec_test

import (
	"errors"
	"fmt"
	"io"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// Encode turns one frame into bytes; Decode turns them back into a frame
// that the caller owns.
func ExampleEncode() {
	b, err := codec.Encode(&proto.Data{Seq: 3, Ack: 1, Payload: []byte("hello")})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", b)

	f, err := codec.Decode(b, codec.Limits{})
	if err != nil {
		panic(err)
	}
	fmt.Println(f)
	fmt.Printf("%s\n", f.(*proto.Data).Payload)
	// Output:
	// 850503014568656c6c6f60
	// DATA seq=3 ack=1 "hello"
	// hello
}

// Decode reports bad input as a *DecodeError wrapping a sentinel.
func ExampleDecode_error() {
	_, err := codec.Decode([]byte{0x81, 0x0c}, codec.Limits{}) // [12]
	fmt.Println(errors.Is(err, codec.ErrUnknownType))

	var de *codec.DecodeError
	_, err = codec.Decode([]byte{0x82, 0x03}, codec.Limits{}) // ACK cut short
	fmt.Println(errors.As(err, &de), de.Kind, de.Type, de.Offset)
	// Output:
	// true
	// true codec: malformed frame ACK 0
}

// A transport message carries several frames back to back: the sender packs
// them with Encoder.Append, the receiver takes them apart with a Decoder.
func ExampleDecoder() {
	var e codec.Encoder
	msg, err := e.Append(nil, &proto.Data{Seq: 7, Ack: 2, Payload: []byte("hi all"), Room: "lobby"})
	if err != nil {
		panic(err)
	}
	msg, err = e.Append(msg, &proto.Heartbeat{Ack: 2, Echo: 99})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(msg), "bytes")

	d := codec.NewDecoder(codec.Limits{MaxMessageSize: 64 << 10})
	if err := d.Reset(msg); err != nil {
		panic(err)
	}
	for {
		f, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err) // a real receiver closes the connection with proto.CloseProtocolError
		}
		fmt.Println(f)
	}
	// Output:
	// 22 bytes
	// DATA seq=7 ack=2 "hi all" room="lobby"
	// HEARTBEAT ack=2 echo=99
}
