package e2etest

import (
	"bufio"
	"context"
	"errors"
	"net"
	"time"

	"github.com/gorilla/websocket"

	"github.com/bettersocket/bettersocket/adapters/netconn"
)

// RawConn is a peer that speaks a transport's framing but not the protocol:
// the hostile tests use it to send what no client would.
type RawConn interface {
	// WriteMessage sends b as one transport message.
	WriteMessage(b []byte) error
	// ReadMessage returns the next transport message. Reads fail after
	// a generous deadline, so a test never hangs.
	ReadMessage() ([]byte, error)
	// Status returns the transport's close status carried by err (the
	// WebSocket close code), or -1 when the transport has none.
	Status(err error) int
	Close() error
}

const rawDeadline = 20 * time.Second

type wsRaw struct{ ws *websocket.Conn }

// DialWebSocket opens a raw WebSocket connection to url.
func DialWebSocket(ctx context.Context, url string) (RawConn, error) {
	return RawWebSocketWith(ctx, url, nil)
}

// RawWebSocketWith opens a raw WebSocket connection to url through dial
// (nil: the default dialer's).
func RawWebSocketWith(ctx context.Context, url string, dial NetDial) (RawConn, error) {
	d := *websocket.DefaultDialer
	d.NetDialContext = dial
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	ws.SetReadDeadline(time.Now().Add(rawDeadline))
	return wsRaw{ws}, nil
}

func (c wsRaw) WriteMessage(b []byte) error {
	return c.ws.WriteMessage(websocket.BinaryMessage, b)
}

func (c wsRaw) ReadMessage() ([]byte, error) {
	_, b, err := c.ws.ReadMessage()
	return b, err
}

func (c wsRaw) Status(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

func (c wsRaw) Close() error { return c.ws.Close() }

type tcpRaw struct {
	nc net.Conn
	r  *netconn.Reader
}

// DialTCP opens a raw TCP connection to addr, framed like package netconn.
func DialTCP(ctx context.Context, addr string) (RawConn, error) {
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newTCPRaw(nc), nil
}

func newTCPRaw(nc net.Conn) tcpRaw {
	nc.SetDeadline(time.Now().Add(rawDeadline))
	return tcpRaw{nc, netconn.NewReader(bufio.NewReader(nc), 1<<20)}
}

func (c tcpRaw) WriteMessage(b []byte) error {
	_, err := c.nc.Write(netconn.AppendMessage(nil, b))
	return err
}

func (c tcpRaw) ReadMessage() ([]byte, error) { return c.r.ReadMessage() }

func (c tcpRaw) Status(error) int { return -1 }

func (c tcpRaw) Close() error { return c.nc.Close() }
