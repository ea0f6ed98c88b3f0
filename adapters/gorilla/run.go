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
// running out of time). The HTTP server waits at most 10 s for a request's
// headers. For TLS, pass a tls.NewListener; to serve other handlers on the
// same port, mount s on your own http.Server and call Close instead.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	return graceful.HTTP(ctx, ln, s, s.Close, s.ShutdownTimeout())
}
