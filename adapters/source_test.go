package adapters

import (
	"net"
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
