package gorilla_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/gorilla"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// identityServer starts a gorilla server with opts over httptest and
// returns it with its ws:// URL; cleanup closes both.
func identityServer(t *testing.T, opts adapters.ServerOptions) (*adapters.Server, string) {
	t.Helper()
	s := gorilla.NewServer(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
		hs.Close()
	})
	return s.Server, "ws" + strings.TrimPrefix(hs.URL, "http")
}

// The Authenticate hook sees the remote address and a header of the
// upgrade request; the Identity it returns arrives with the session's
// next message, names the user's sessions, and handlers find their
// Server and Client in their ctx.
func TestAuthenticateIdentity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := make(chan session.AuthRequest, 1)
	got := make(chan adapters.Message, 1)
	var srv *adapters.Server
	srv, url := identityServer(t, adapters.ServerOptions{
		Authenticate: func(ctx context.Context, r session.AuthRequest) (adapters.Identity, error) {
			seen <- r
			if string(r.Auth) != "alice-token" {
				return adapters.Identity{}, errors.New("bad token")
			}
			return adapters.Identity{User: "alice", Data: adapters.HTTPRequest(r).Header.Get("X-Tenant")}, nil
		},
		OnMessage: func(ctx context.Context, m adapters.Message) {
			if adapters.ServerFrom(ctx) != srv || adapters.ClientFrom(ctx) != nil {
				t.Errorf("ServerFrom = %p, ClientFrom = %p; want the server %p and nil", adapters.ServerFrom(ctx), adapters.ClientFrom(ctx), srv)
			}
			got <- m
		},
	})
	echoed := make(chan string, 1)
	var c *adapters.Client
	d := &gorilla.Dialer{Header: http.Header{"X-Tenant": {"acme"}}}
	c, err := d.Dial(ctx, url, adapters.ClientOptions{
		Session: session.ClientConfig{Auth: []byte("alice-token")},
		OnMessage: func(ctx context.Context, m adapters.Message) {
			if adapters.ClientFrom(ctx) != c {
				t.Errorf("ClientFrom = %p, want the client %p", adapters.ClientFrom(ctx), c)
			}
			echoed <- string(m.Payload)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	r := <-seen
	if a, ok := adapters.RemoteAddr(r).(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		t.Errorf("RemoteAddr = %v, want a loopback TCP address", adapters.RemoteAddr(r))
	}
	if err := c.Send(ctx, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m.Identity.User != "alice" || m.Identity.Data != "acme" || m.Client != c.ID() {
		t.Fatalf("message from %s with identity %+v, want %s as alice of acme", m.Client, m.Identity, c.ID())
	}
	if id, ok := srv.Identity(c.ID()); !ok || id != m.Identity {
		t.Fatalf("Identity = %+v, %t", id, ok)
	}
	if s := srv.SessionsOf("alice"); !slices.Equal(s, []proto.ClientID{c.ID()}) {
		t.Fatalf("SessionsOf(alice) = %v, want [%s]", s, c.ID())
	}
	if n, err := srv.SendUser(ctx, "alice", []byte("to alice")); n != 1 || err != nil {
		t.Fatalf("SendUser = %d, %v", n, err)
	}
	if s := <-echoed; s != "to alice" {
		t.Fatalf("client got %q", s)
	}
	if n, err := srv.SendUser(ctx, "bob", []byte("x")); n != 0 || err != nil {
		t.Fatalf("SendUser to nobody = %d, %v", n, err)
	}

	// A refused client gets CLOSE policy with the hook's reason.
	_, err = gorilla.Dial(ctx, url, adapters.ClientOptions{Session: session.ClientConfig{Auth: []byte("mallory")}, FailFast: true})
	var ce *session.CloseError
	if !errors.As(err, &ce) || ce.Code != proto.ClosePolicy || !strings.Contains(ce.Reason, "bad token") {
		t.Fatalf("refused Dial: %v, want CLOSE policy with the hook's reason", err)
	}
	<-seen
}

// A slow Authenticate (I/O) blocks only its own client: other clients'
// round trips and handshakes proceed while it waits.
func TestAuthenticateSlowDoesNotBlockOthers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	started, release := make(chan struct{}), make(chan struct{})
	_, url := identityServer(t, adapters.ServerOptions{
		Authenticate: func(ctx context.Context, r session.AuthRequest) (adapters.Identity, error) {
			if string(r.Auth) == "slow" {
				close(started)
				select {
				case <-release:
				case <-ctx.Done():
					return adapters.Identity{}, ctx.Err()
				}
			}
			return adapters.Identity{User: string(r.Auth)}, nil
		},
		OnRequest: func(ctx context.Context, r adapters.Request) ([]byte, error) {
			return append([]byte(r.Identity.User+":"), r.Payload...), nil
		},
	})
	fast, err := gorilla.Dial(ctx, url, adapters.ClientOptions{Session: session.ClientConfig{Auth: []byte("fast")}})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close(ctx)
	type dialed struct {
		c   *adapters.Client
		err error
	}
	slow := make(chan dialed, 1)
	go func() {
		c, err := gorilla.Dial(ctx, url, adapters.ClientOptions{Session: session.ClientConfig{Auth: []byte("slow")}})
		slow <- dialed{c, err}
	}()
	<-started
	for i := range 10 {
		resp, err := fast.Request(ctx, []byte{byte('0' + i)})
		if err != nil || string(resp) != "fast:"+string(rune('0'+i)) {
			t.Fatalf("round trip %d while a hook waits: %q, %v", i, resp, err)
		}
	}
	other, err := gorilla.Dial(ctx, url, adapters.ClientOptions{Session: session.ClientConfig{Auth: []byte("other")}})
	if err != nil {
		t.Fatalf("a new client while a hook waits: %v", err)
	}
	defer other.Close(ctx)
	select {
	case d := <-slow:
		t.Fatalf("the slow client's Dial returned before its hook did: %v", d.err)
	default:
	}
	close(release)
	d := <-slow
	if d.err != nil {
		t.Fatal(d.err)
	}
	defer d.c.Close(ctx)
	if resp, err := d.c.Request(ctx, []byte("x")); err != nil || string(resp) != "slow:x" {
		t.Fatalf("slow client's round trip: %q, %v", resp, err)
	}
}

// A hook that outlives AuthTimeout refuses the client with CLOSE
// handshake-timeout, which it can retry.
func TestAuthenticateTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, url := identityServer(t, adapters.ServerOptions{
		AuthTimeout: 10 * time.Millisecond,
		Authenticate: func(ctx context.Context, r session.AuthRequest) (adapters.Identity, error) {
			<-ctx.Done() // the identity provider never answers
			return adapters.Identity{}, ctx.Err()
		},
	})
	_, err := gorilla.Dial(ctx, url, adapters.ClientOptions{FailFast: true})
	var ce *session.CloseError
	if !errors.As(err, &ce) || ce.Code != proto.CloseHandshakeTimeout || !strings.Contains(ce.Reason, "authentication timed out") {
		t.Fatalf("Dial: %v, want CLOSE handshake-timeout: authentication timed out", err)
	}
}
