package gorilla

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
)

// The upgrade of a connection the AdmittingListener admitted (Run serves
// on it) hands gorilla the TCP socket itself, so that gorilla writes a
// message larger than its buffer in one vectored write, which it makes
// only on a *net.TCPConn; without the AdmittingListener, the socket is
// what net/http hands over anyway.
func TestUpgradeGetsTheAdmittedSocket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := NewServer(adapters.ServerOptions{})
	defer s.Close(ctx)
	for _, admitting := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan net.Conn, 1)
		hs := &http.Server{ReadHeaderTimeout: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _, err := socketHijacker{w, w.(http.Hijacker)}.Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				c = nil
			}
			got <- c
		})}
		served := make(chan error, 1)
		l := ln
		if admitting {
			l = s.AdmittingListener(ln)
		}
		go func() { served <- hs.Serve(l) }()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(client, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		var c net.Conn
		select {
		case c = <-got:
		case <-ctx.Done():
			t.Fatal("the request never reached the handler")
		}
		if _, ok := c.(*net.TCPConn); !ok {
			t.Errorf("admitting %v: the upgrade got a %T, want the *net.TCPConn", admitting, c)
		}
		if c != nil {
			c.Close()
		}
		client.Close()
		hs.Close()
		if err := <-served; err != http.ErrServerClosed {
			t.Fatalf("Serve: %v", err)
		}
	}
}
