package adapters

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Who is connecting (ServerOptions.Authenticate).
//
// The decision may take I/O (a token introspection, a database), so it
// must not run under the server's lock, where session.ServerConfig's
// Authorize runs. The adapters cannot decide before the machine sees the
// HELLO either: with encryption only the machine holds the opened bytes,
// and only it knows whether a resume token is valid. So the machine asks
// (session.ServerConfig.DeferAuthorize): a HELLO that passes the
// protocol's checks parks its connection and emits session.AuthPending;
// the server runs Authenticate on a goroutine of its own, with a deadline,
// and steps session.Authorized with the verdict. The machine stays free of
// I/O and time, other connections are stepped meanwhile, and the
// connection stays bounded by the handshake timeout.

// DefaultAuthTimeout bounds ServerOptions.Authenticate unless
// ServerOptions.AuthTimeout says otherwise.
const DefaultAuthTimeout = 5 * time.Second

// Identity is what ServerOptions.Authenticate says of a client: every
// later [Message] and [Request] of its session carries it, and
// [Server.Identity] returns it for events.
type Identity struct {
	// User is the application's identity of the client (a user ID, an
	// account): it outlives sessions, so that [Server.SessionsOf] and
	// [Server.SendUser] reach the user's current sessions, whichever they
	// are. Empty: none.
	User string
	// Data is the application's per-session data (the user record, the
	// tenant).
	Data any
}

// identities is the server's record of who each session is; its own
// mutex, so that handlers read it without the machine's lock.
type identities struct {
	mu    sync.RWMutex
	by    map[proto.ClientID]Identity
	users map[string][]proto.ClientID // ascending
	// pending holds the identity of a connection whose Authorized is
	// being stepped, until its SessionStarted or Resumed is routed; driver
	// lock held.
	pending map[session.ConnID]Identity
}

func (ids *identities) get(id proto.ClientID) (Identity, bool) {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	v, ok := ids.by[id]
	return v, ok
}

// set records the identity of session id from the connection that
// started or resumed it; driver lock held.
func (ids *identities) set(id proto.ClientID, conn session.ConnID) {
	v, ok := ids.pending[conn]
	if !ok {
		return
	}
	ids.mu.Lock()
	defer ids.mu.Unlock()
	ids.unindex(id)
	ids.by[id] = v
	if v.User != "" {
		s := ids.users[v.User]
		i, _ := slices.BinarySearchFunc(s, id, compareID)
		ids.users[v.User] = slices.Insert(s, i, id)
	}
}

// end removes session id from its user's sessions; forget drops its
// identity too (after the SessionClosed handler has seen it).
func (ids *identities) end(id proto.ClientID, forget bool) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	ids.unindex(id)
	if forget {
		delete(ids.by, id)
	}
}

func (ids *identities) forget(id proto.ClientID) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	delete(ids.by, id)
}

func (ids *identities) unindex(id proto.ClientID) {
	old, ok := ids.by[id]
	if !ok || old.User == "" {
		return
	}
	s := ids.users[old.User]
	if i, found := slices.BinarySearchFunc(s, id, compareID); found {
		s = slices.Delete(s, i, i+1)
	}
	if len(s) == 0 {
		delete(ids.users, old.User)
	} else {
		ids.users[old.User] = s
	}
}

func compareID(a, b proto.ClientID) int { return bytes.Compare(a[:], b[:]) }

// authenticate runs ServerOptions.Authenticate for r on its own goroutine
// and steps the verdict; driver lock held (the goroutine is counted before
// the driver can end).
func (e *serverEngine) authenticate(r session.AuthRequest) {
	d := e.d
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(d.ctx, e.authTimeout)
		id, err := e.auth(ctx, r)
		if err != nil && ctx.Err() != nil {
			err = &session.CloseError{Code: proto.CloseHandshakeTimeout, Reason: "authentication timed out"}
		}
		cancel()
		now := d.lock()
		defer d.unlock()
		if d.ended {
			return
		}
		if err == nil {
			e.ids.pending[r.Conn] = id
		}
		if err := d.eng.step(now, session.Authorized{Conn: r.Conn, Err: err}); err != nil {
			d.log.Debug("authorization not stepped", "conn", r.Conn, "err", err)
		}
		d.settle(0)
		delete(e.ids.pending, r.Conn)
	}()
}

// Identity returns what ServerOptions.Authenticate said of session client
// at its latest authentication (its start or latest resume). It is there
// from SessionStarted until the OnEvent handler has seen the session's
// SessionClosed (when the server has no OnEvent handler, until the session
// ends); ok is false otherwise and on a server without Authenticate.
func (s *Server) Identity(client proto.ClientID) (id Identity, ok bool) {
	if s.eng.auth == nil {
		return Identity{}, false
	}
	return s.eng.ids.get(client)
}

// SessionsOf returns the live sessions (attached or waiting for a resume)
// whose latest authentication named user (Identity.User), in ascending
// order: a user's sessions across session loss, whatever their IDs.
func (s *Server) SessionsOf(user string) []proto.ClientID {
	if s.eng.auth == nil || user == "" {
		return nil
	}
	ids := &s.eng.ids
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	return slices.Clone(ids.users[user])
}

// SendUser sends payload to every session of user (see [Server.SessionsOf])
// like [Server.Send], waiting for each one's window under ctx in turn. It
// returns how many sessions it was sent to, and the errors of the others,
// joined (a session that ended meanwhile gives session.ErrUnknownClient).
func (s *Server) SendUser(ctx context.Context, user string, payload []byte) (int, error) {
	var errs []error
	n := 0
	for _, id := range s.SessionsOf(user) {
		if err := s.Send(ctx, id, payload); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// handlerKey is the context key of the Server or Client whose handler
// runs.
type handlerKey struct{}

// ServerFrom returns the Server whose handler (OnMessage, OnRequest,
// OnEvent) was given ctx, or nil: a handler can answer or broadcast
// without a variable of its own.
func ServerFrom(ctx context.Context) *Server {
	s, _ := ctx.Value(handlerKey{}).(*Server)
	return s
}

// ClientFrom returns the Client whose handler was given ctx, or nil.
func ClientFrom(ctx context.Context) *Client {
	c, _ := ctx.Value(handlerKey{}).(*Client)
	return c
}
