package netconn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
	"github.com/bettersocket/bettersocket/adapters/netconn"
	"github.com/bettersocket/bettersocket/session"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Over a TLS listener the Authenticate hook sees the connection's
// completed TLS handshake, and a plain connection has none.
func TestAuthenticateSeesTLSState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cert, pool := selfSigned(t)
	seen := make(chan *tls.ConnectionState, 2)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, addr, stop := transport.Serve(t, tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}), adapters.ServerOptions{
		Authenticate: func(ctx context.Context, r session.AuthRequest) (adapters.Identity, error) {
			seen <- adapters.TLSState(r)
			return adapters.Identity{}, nil
		},
	})
	d := &netconn.Dialer{DialContext: (&tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}).DialContext}
	c, err := d.Dial(ctx, "tcp", addr, adapters.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := <-seen
	if st == nil || !st.HandshakeComplete || st.Version < tls.VersionTLS12 {
		t.Fatalf("TLSState = %+v, want a completed handshake", st)
	}
	if err := c.Close(ctx); err != nil {
		t.Error(err)
	}
	if err := stop(ctx); err != nil {
		t.Error(err)
	}

	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, addr, stop = transport.Serve(t, ln, adapters.ServerOptions{
		Authenticate: func(ctx context.Context, r session.AuthRequest) (adapters.Identity, error) {
			seen <- adapters.TLSState(r)
			return adapters.Identity{}, nil
		},
	})
	c, err = netconn.Dial(ctx, "tcp", addr, adapters.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := <-seen; st != nil {
		t.Fatalf("TLSState of a plain connection = %+v, want nil", st)
	}
	if err := c.Close(ctx); err != nil {
		t.Error(err)
	}
	if err := stop(ctx); err != nil {
		t.Error(err)
	}
}
