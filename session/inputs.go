package session

import (
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// ConnID is the adapter's handle for one transport connection to the
// [Server]. The adapter chooses it and must not reuse it while the server
// may still hear of the old connection; a counter is the usual choice. It is
// distinct from the logical [proto.ClientID], which survives reconnects.
type ConnID uint64

// Input is everything a machine consumes: transport events, the passing of
// time and the application's commands. The set is closed: it is implemented
// by the types in this file only.
type Input interface{ isInput() }

// Transport inputs. Conn names the connection on both machines: the client
// ignores Recv and Disconnected for any connection but its current one, so a
// late event of a connection it already hung up cannot touch the new one.
// Conn must be non-zero; on the client, Disconnected with Conn 0 means "the
// dial requested by [Dial] failed".
type (
	// Connected: the transport is up. The client queues HELLO; the server
	// starts the handshake timer for Conn, or refuses it (see
	// [ServerConfig.MaxPendingPerSource]).
	Connected struct {
		Conn ConnID
		// Source names where the connection comes from, for the
		// server's per-source limits (the adapters use the client's IP
		// address, an IPv6 address by its /64 prefix); empty exempts the
		// connection from them. The client ignores it.
		Source string
		// Transport is anything the driver wants the server's Authorize
		// hook to see of the connection (the adapters pass the
		// adapters.Conn, from which the remote address and a WebSocket's
		// HTTP request can be had). The server keeps it until the
		// handshake; the client ignores it.
		Transport any
	}
	// Recv: one transport message arrived. The machine keeps no reference
	// to Data after Step returns.
	Recv struct {
		Conn ConnID
		Data []byte
	}
	// Disconnected: the transport is gone (Err says why, may be nil).
	Disconnected struct {
		Conn ConnID
		Err  error
	}
	// Timeout: time has passed. Early or spurious timeouts are harmless;
	// drivers step one at Ready().Deadline.
	Timeout struct{}
)

// Application commands of both machines. On the client, To is ignored.
// Name, where there is one, is the event name of a message or the method
// name of a request, delivered with it to the peer's application; "" sends
// it unnamed. A name is valid UTF-8 of at most proto.MaxNameLen bytes
// (ErrInvalid otherwise).
type (
	// Send queues a reliable DATA message. The machine takes ownership of
	// Payload: the caller must not modify it afterwards. On the server,
	// Room (when not empty) tags the message as that room's, as a
	// Broadcast does: a driver delivers a broadcast to a member it had to
	// skip (its window was full) once the window opens. A client's Send
	// must leave Room empty.
	Send struct {
		To      proto.ClientID
		Name    string
		Payload []byte
		Room    string
	}
	// Call queues a REQUEST. ID is chosen by the caller and must be unique
	// among its pending requests on that session; the outcome arrives as
	// exactly one [Response] event with the same ID. Timeout zero means the
	// configured RequestTimeout.
	Call struct {
		To      proto.ClientID
		ID      uint64
		Name    string
		Payload []byte
		Timeout time.Duration
	}
	// Reply answers the peer's request ID with Payload, or with Err when
	// it is non-nil.
	Reply struct {
		To      proto.ClientID
		ID      uint64
		Payload []byte
		Err     *proto.Error
	}
)

// Client-only commands.
type (
	// JoinRoom asks the server to add this session to Room. It is a request:
	// its outcome arrives as a [Response] event with ID.
	JoinRoom struct {
		ID      uint64
		Room    string
		Timeout time.Duration
	}
	// LeaveRoom asks the server to remove this session from Room, like
	// JoinRoom.
	LeaveRoom struct {
		ID      uint64
		Room    string
		Timeout time.Duration
	}
	// Publish asks the server to deliver Payload, named Name, to every
	// other member of Room. It is a request, like JoinRoom: its outcome
	// arrives as a [Response] event with ID. The server refuses it with
	// proto.ErrCodeForbidden when this session is not a member of Room or
	// the server application's AllowPublish hook says no; it answers
	// proto.ErrCodeUnavailable when some members were skipped because their
	// send windows were full (the others got it). On success every other
	// member receives it as a [Delivered] event with Room and Name set.
	Publish struct {
		ID      uint64
		Room    string
		Name    string
		Payload []byte
		Timeout time.Duration
	}
	// Close ends the session gracefully: no new messages are accepted, what
	// is pending is flushed (until acknowledged and every request answered,
	// or CloseTimeout), then CLOSE normal is sent and the machine ends with a
	// [Closed] event. A connection lost meanwhile, or already lost, is
	// re-dialled at once (not after the backoff) and the session resumed to
	// flush over it; a refused resume ends the machine with
	// ErrResumeRefused. Whatever is still pending at the end is reported in
	// Closed.Lost.
	Close struct{ Reason string }
	// Abort ends the session at once; everything unacknowledged is reported
	// lost in the [Closed] event.
	Abort struct{ Reason string }
	// SetAuth replaces the credentials ([ClientConfig.Auth]) sent in the
	// next HELLO and every later one, so that a driver can refresh an
	// expiring token before it steps [Connected]. The machine takes
	// ownership of Auth.
	SetAuth struct{ Auth []byte }
)

// Server-only commands.
type (
	// Join adds the session Client to Room.
	Join struct {
		Client proto.ClientID
		Room   string
	}
	// Leave removes the session Client from Room.
	Leave struct {
		Client proto.ClientID
		Room   string
	}
	// Broadcast queues one DATA tagged with Room into the sequence of every
	// member session except Except (zero: none).
	Broadcast struct {
		Room    string
		Name    string
		Payload []byte
		Except  proto.ClientID
	}
	// Kick ends the session Client: CLOSE policy is sent if it is attached,
	// and a [SessionClosed] event reports what it loses.
	Kick struct {
		Client proto.ClientID
		Reason string
	}
	// Shutdown sends CLOSE going-away on every connection and hangs them
	// up. Sessions stay resumable within their window (useful when the
	// server hands over to a restarted process only if state is kept; with a
	// fresh process, clients learn their sessions are lost on resume).
	Shutdown struct{ Reason string }
	// Authorized answers an [AuthPending] (ServerConfig.DeferAuthorize):
	// Err nil accepts the HELLO of Conn; an error refuses it with the
	// code of a [*CloseError] it wraps, else with CLOSE policy (which, on
	// a resume, ends the session; another code leaves the session to a
	// later resume). An answer for a connection that is gone is ignored.
	Authorized struct {
		Conn ConnID
		Err  error
	}
)

func (Connected) isInput()    {}
func (Recv) isInput()         {}
func (Disconnected) isInput() {}
func (Timeout) isInput()      {}
func (Authorized) isInput()   {}
func (Send) isInput()         {}
func (Call) isInput()         {}
func (Reply) isInput()        {}
func (JoinRoom) isInput()     {}
func (LeaveRoom) isInput()    {}
func (Publish) isInput()      {}
func (Close) isInput()        {}
func (Abort) isInput()        {}
func (SetAuth) isInput()      {}
func (Join) isInput()         {}
func (Leave) isInput()        {}
func (Broadcast) isInput()    {}
func (Kick) isInput()         {}
func (Shutdown) isInput()     {}

// inputName names an input's type as %T would, without letting the input
// escape to the heap (a %T argument would make every Step allocate).
func inputName(in Input) string {
	switch in.(type) {
	case Connected:
		return "session.Connected"
	case Authorized:
		return "session.Authorized"
	case Recv:
		return "session.Recv"
	case Disconnected:
		return "session.Disconnected"
	case Timeout:
		return "session.Timeout"
	case Send:
		return "session.Send"
	case Call:
		return "session.Call"
	case Reply:
		return "session.Reply"
	case JoinRoom:
		return "session.JoinRoom"
	case LeaveRoom:
		return "session.LeaveRoom"
	case Publish:
		return "session.Publish"
	case Close:
		return "session.Close"
	case Abort:
		return "session.Abort"
	case SetAuth:
		return "session.SetAuth"
	case Join:
		return "session.Join"
	case Leave:
		return "session.Leave"
	case Broadcast:
		return "session.Broadcast"
	case Kick:
		return "session.Kick"
	case Shutdown:
		return "session.Shutdown"
	case nil:
		return "<nil>"
	}
	return "an unknown input"
}
