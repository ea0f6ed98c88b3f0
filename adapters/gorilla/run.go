package gorilla

import (
	"context"
	"net"

	"github.com/bettersocket/bettersocket/adapters/internal/graceful"
)

// Run serves on ln, s handling every request path, until ctx ends; then it
// shuts down gracefully: no new connections, CLOSE going-away to every
// client (they will try to resume elsewhere or later), connections
// flushed and handlers finished, all within
// adapters.ServerOptions.ShutdownTimeout (default 10 s), after which the
// connections are closed at once. It returns nil after a graceful
// shutdown, and otherwise what went wrong (ln failing, the shutdown
// running out of time).
//
// It is the way to serve clients that connect directly: it serves on
// s.AdmittingListener(ln), which closes the connections of a source over
// its limits as soon as they are accepted, and its HTTP server waits at
// most 10 s for a request's headers. For TLS, pass a tls.NewListener. To
// serve other handlers on the same port, mount s on your own http.Server
// (served on s.AdmittingListener(ln), with a ReadHeaderTimeout) and call
// Close before its Shutdown.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	return graceful.HTTP(ctx, s.AdmittingListener(ln), s, s.Close, s.ShutdownTimeout())
}
