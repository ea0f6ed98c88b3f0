package adapters

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"

	"github.com/bettersocket/bettersocket/session"
)

// Where a connection comes from reaches the server twice: as the source
// that the machine's per-source limits count (session.ServerConfig's
// MaxPendingPerSource, SourceSessionBurst, MaxDetachedPerSource), and, in
// the Authorize hook, as the remote address and, for a WebSocket, the
// HTTP request of the upgrade (RemoteAddr, HTTPRequest). The machine keeps
// them only until the handshake ends.

// SourceFunc names the source of a connection from its remote address
// (nil when the transport has none) and, for a WebSocket, the request of
// its upgrade (else nil). An empty source exempts the connection from the
// per-source limits.
type SourceFunc func(remote net.Addr, r *http.Request) string

// DefaultSource is the source of a connection unless ServerOptions.Source
// says otherwise: the remote IP address, an IPv6 address by its /64
// prefix (what one subscriber is usually given), and "" (no limits) when
// there is no IP address, as on a Unix socket. Behind a reverse proxy
// every connection comes from the proxy: give the server a SourceFunc
// that reads the header the proxy sets.
func DefaultSource(remote net.Addr, _ *http.Request) string {
	var ip netip.Addr
	switch a := remote.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case nil:
		return ""
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return ""
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return ""
	case ip.Is6():
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// remoteAddresser is implemented by transport connections that know their
// peer's address (netconn's).
type remoteAddresser interface{ RemoteAddr() net.Addr }

// peerInfo is what the Authorize hook can learn of a connection
// (session.AuthRequest.Transport).
type peerInfo struct {
	remote net.Addr
	req    *http.Request
	tls    *tls.Conn // a TLS connection attached directly (netconn)
}

// RemoteAddr returns the remote address of the connection r is about, or
// nil when its transport has none.
func RemoteAddr(r session.AuthRequest) net.Addr {
	if p, ok := r.Transport.(*peerInfo); ok {
		return p.remote
	}
	return nil
}

// HTTPRequest returns the HTTP request that was upgraded to the WebSocket
// r is about, or nil. Its body is closed; read its headers, cookies, URL
// and TLS state.
func HTTPRequest(r session.AuthRequest) *http.Request {
	if p, ok := r.Transport.(*peerInfo); ok {
		return p.req
	}
	return nil
}

// TLSState returns the TLS state of the connection r is about: of the
// HTTP request of a WebSocket over https, or of a *tls.Conn attached
// directly (netconn on a TLS listener), whose handshake has completed by
// the time the hooks run (the HELLO came through it). Nil when the
// connection is not TLS.
func TLSState(r session.AuthRequest) *tls.ConnectionState {
	p, ok := r.Transport.(*peerInfo)
	switch {
	case !ok:
		return nil
	case p.req != nil:
		return p.req.TLS
	case p.tls != nil:
		st := p.tls.ConnectionState()
		return &st
	}
	return nil
}

// httpAddr is the remote address of an HTTP request.
func httpAddr(r *http.Request) net.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}
