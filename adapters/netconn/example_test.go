package netconn_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/netconn"
)

// Any net.Listener will do; here a Unix socket. For TLS, serve a
// tls.NewListener and dial with a tls.Dialer's DialContext.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bettersocket")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s.sock")

	srv := netconn.NewServer(adapters.ServerOptions{
		OnRequest: func(ctx context.Context, r adapters.Request) ([]byte, error) {
			return bytes.ToUpper(r.Payload), nil
		},
	})
	ln, err := net.Listen("unix", sock)
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close(ctx)

	c, err := netconn.Dial(ctx, "unix", sock, adapters.ClientOptions{})
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	resp, err := c.Request(ctx, []byte("over a unix socket"))
	fmt.Printf("%s %v\n", resp, err)
	// Output: OVER A UNIX SOCKET <nil>
}

// Reading length-prefixed messages from any byte stream, with the size
// limit checked before anything is allocated.
func ExampleReader() {
	var stream bytes.Buffer
	stream.Write(netconn.AppendMessage(nil, []byte("first")))
	stream.Write(netconn.AppendMessage(nil, []byte("second, too long")))
	r := netconn.NewReader(&stream, 8)
	msg, err := r.ReadMessage()
	fmt.Printf("%q %v\n", msg, err)
	msg, err = r.ReadMessage()
	fmt.Printf("%q %v\n", msg, err)
	// Output:
	// "first" <nil>
	// "" netconn: codec: message too large: 16 bytes, limit 8
}
