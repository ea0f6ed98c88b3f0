package adapters

import (
	"net"
	"net/http"
	"testing"
)

func TestDefaultSource(t *testing.T) {
	cases := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4242}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.UDPAddr{IP: net.IPv4(192, 0, 2, 8)}, "192.0.2.8"},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, ""},
		{nil, ""},
	}
	for _, tc := range cases {
		if got := DefaultSource(tc.addr, nil); got != tc.want {
			t.Errorf("DefaultSource(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// AdmittingListener names sources from the remote address, which is what
// DefaultSource does; a Source of the application's own (behind a proxy,
// reading a header) cannot be called at accept, so the listener is left
// as it is and the handler refuses instead.
func TestAdmittingListenerNeedsTheDefaultSource(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := t.Context()
	def := NewServer(ServerOptions{})
	defer def.Close(ctx)
	if def.AdmittingListener(ln) == ln {
		t.Error("with the default Source, AdmittingListener returned the listener unwrapped")
	}
	own := NewServer(ServerOptions{Source: func(net.Addr, *http.Request) string { return "proxy" }})
	defer own.Close(ctx)
	if own.AdmittingListener(ln) != ln {
		t.Error("with a Source of the application's own, AdmittingListener wrapped the listener")
	}
}
