// Package refuse answers the WebSocket upgrade requests that a server's
// admission refuses (adapters.Server.AdmitsHTTP), the same way in every
// WebSocket adapter.
package refuse

import "net/http"

// HTTP answers a refused upgrade request with 503 Service Unavailable,
// Retry-After: 1 and Connection: close. The server then closes the
// connection at once: kept alive, a refused connection would hold the
// http.Server's goroutine and its read and write buffers (8 KiB) until the
// client went away, outside every limit on connections awaiting HELLO, and
// an attacker that never closes could hold any number of them.
func HTTP(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Retry-After", "1")
	h.Set("Connection", "close")
	http.Error(w, "too many connections awaiting their handshake", http.StatusServiceUnavailable)
}
