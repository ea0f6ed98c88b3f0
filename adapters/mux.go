package adapters

import (
	"context"
	"sync"
	"unicode/utf8"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Mux routes named messages and requests to the handler registered for
// their name, as net/http's ServeMux routes paths. Give it to a Server or
// Client in ServerOptions.Mux or ClientOptions.Mux; it works the same on
// both sides:
//
//   - A named request goes to the handler registered for its method name.
//     A method with no handler is answered with an error response of code
//     proto.ErrCodeNotFound ("unknown method"), without reaching OnRequest.
//   - A named message goes to the handler registered for its event name;
//     one with no handler goes to OnMessage (with Message.Name set), or is
//     dropped when OnMessage is nil.
//   - Unnamed messages and requests go to OnMessage and OnRequest, as
//     without a Mux.
//
// Names are what the sender gave [Client.Emit], [Client.Invoke],
// [Client.Publish], [Emit], [Invoke] and their server counterparts: valid
// UTF-8 of 1 to proto.MaxNameLen bytes, compared exactly. A Mux is safe for
// concurrent use; handlers may be registered while it serves.
type Mux struct {
	mu   sync.RWMutex
	msgs map[string]MessageHandler
	reqs map[string]RequestHandler
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	return &Mux{msgs: make(map[string]MessageHandler), reqs: make(map[string]RequestHandler)}
}

// HandleMessage registers h for messages named event. It panics if event
// is not a valid name, h is nil, or event already has a handler, as
// ServeMux.Handle does for its patterns: these are programming errors.
func (m *Mux) HandleMessage(event string, h MessageHandler) {
	register(m, m.msgs, "event", event, h, h == nil)
}

// HandleRequest registers h for requests naming method. It panics as
// HandleMessage does.
func (m *Mux) HandleRequest(method string, h RequestHandler) {
	register(m, m.reqs, "method", method, h, h == nil)
}

func register[H any](m *Mux, routes map[string]H, kind, name string, h H, nilHandler bool) {
	if name == "" || len(name) > proto.MaxNameLen || !utf8.ValidString(name) {
		panic("adapters: Mux: a name must be 1 to 255 bytes of UTF-8")
	}
	if nilHandler {
		panic("adapters: Mux: nil handler for " + kind + " " + name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := routes[name]; dup {
		panic("adapters: Mux: a handler for " + kind + " " + name + " is already registered")
	}
	routes[name] = h
}

func (m *Mux) message(name string) MessageHandler {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.msgs[name]
}

func (m *Mux) request(name string) (RequestHandler, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, ok := m.reqs[name]
	return h, ok
}

// errUnknownMethod answers a named request no handler is registered for.
var errUnknownMethod = &session.RemoteError{Code: proto.ErrCodeNotFound, Message: "unknown method"}

// routed returns the handlers a driver runs: h with m's routes in front.
func (m *Mux) routed(h handlers) handlers {
	if m == nil {
		return h
	}
	fallbackMsg, fallbackReq := h.msg, h.req
	h.msg = func(ctx context.Context, msg Message) {
		if msg.Name != "" {
			if mh := m.message(msg.Name); mh != nil {
				mh(ctx, msg)
				return
			}
		}
		if fallbackMsg != nil {
			fallbackMsg(ctx, msg)
		}
	}
	h.req = func(ctx context.Context, r Request) ([]byte, error) {
		if r.Name != "" {
			rh, ok := m.request(r.Name)
			if !ok {
				return nil, errUnknownMethod
			}
			return rh(ctx, r)
		}
		if fallbackReq == nil {
			return nil, errNoRequestHandler
		}
		return fallbackReq(ctx, r)
	}
	return h
}
