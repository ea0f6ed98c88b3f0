package session

import (
	"fmt"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// Event is something the application (or the driver) must learn about. The
// concrete types are pointers to the structs in this file. Events of one
// Ready are in the order they happened.
type Event interface {
	String() string
	isEvent()
}

// SessionStarted is reported when a new session is established: the first
// handshake, or one after the previous session was lost.
type SessionStarted struct {
	Client proto.ClientID
	Conn   ConnID // server only
	Auth   []byte // server only: the credentials from HELLO
}

// Resumed is reported when a session continues on a new connection.
type Resumed struct {
	Client proto.ClientID
	Conn   ConnID // server only
}

// Detached is reported by the server when a session's connection is gone;
// the session waits for a resume until its window passes.
type Detached struct {
	Client proto.ClientID
	Conn   ConnID
	Err    error
}

// Dial asks the client's driver to open a new transport at At (or as soon
// as possible after it) and step [Connected] when it is up, or
// [Disconnected] when dialing failed.
type Dial struct {
	At      time.Time
	Attempt int // 1 for the first retry after a loss
}

// ConnectionLost is reported by the client when its transport is gone; a
// [Dial] follows unless the machine is closing.
type ConnectionLost struct {
	Err error
}

// Delivered carries one application message, exactly once and in order.
// On a client, Room is set for a message broadcast or published to a room.
// On a server, Room is set for a client's accepted [Publish]: the other
// members of Room already have it queued.
type Delivered struct {
	Client  proto.ClientID // the session it arrived on
	Seq     uint64
	Payload []byte
	Room    string // the room it was broadcast or published to, or ""
	Name    string // the event name, or "" for an unnamed message
	// Skipped, on a server for a publish only, lists the members that did
	// not get it because their send windows were full (the publisher was
	// told so); see ServerConfig.CloseSlowConsumers.
	Skipped []proto.ClientID
}

// RequestReceived carries a peer's request; answer it with [Reply].
type RequestReceived struct {
	Client  proto.ClientID
	ID      uint64
	Payload []byte
	Name    string // the method name, or "" for an unnamed request
}

// Response is the one outcome of a request this side made (including
// JoinRoom and LeaveRoom): Err is nil for a response, a [*RemoteError] for an
// error response, [ErrRequestTimeout] or [ErrSessionLost].
type Response struct {
	Client  proto.ClientID
	ID      uint64
	Payload []byte
	Err     error
}

// Lost lists what a session that ended never got acknowledged.
type Lost struct {
	// Unacked are this side's reliable frames the peer never acknowledged,
	// in send order: messages, requests and responses.
	Unacked []LostFrame
	// Requests are the IDs of this side's requests that had no outcome yet;
	// each also gets a [Response] event with ErrSessionLost. (Package
	// adapters assigns these IDs itself: there, each such request's caller
	// gets ErrSessionLost from its own call, which is how an application
	// matches them.)
	Requests []uint64
	// LastReceived is the last sequence number received from the peer in
	// order.
	LastReceived uint64
}

// LostFrame is one unacknowledged reliable frame.
type LostFrame struct {
	Seq     uint64
	Type    proto.FrameType
	ID      uint64 // request or response ID; 0 for DATA
	Payload []byte
	Room    string
	Name    string
}

// SessionLost is reported by the client when its session ended but the
// machine goes on with a new session (resume refused, server restarted).
// Err says why.
type SessionLost struct {
	Client proto.ClientID // the ID of the lost session
	Err    error
	Lost   Lost
}

// Closed is the client machine's last event. Err is nil after a local
// Close or Abort, a [*CloseError] when the peer closed or broke the
// protocol, or the transport's error when it failed during a graceful
// close. Whatever the cause, Lost lists exactly what was not acknowledged.
type Closed struct {
	Client proto.ClientID
	Err    error
	Lost   Lost
}

// SessionClosed is reported by the server when a session ends for any
// reason (client closed, kicked, expired, evicted, overloaded, protocol
// error), with what it lost.
type SessionClosed struct {
	Client proto.ClientID
	Err    error
	Lost   Lost
}

// MemberJoined is reported by a server with ServerConfig.Presence when
// session Client joins Room.
type MemberJoined struct {
	Client proto.ClientID
	Room   string
}

// MemberLeft is reported by a server with ServerConfig.Presence when
// session Client leaves Room, or its session ends while in it.
type MemberLeft struct {
	Client proto.ClientID
	Room   string
}

// AuthPending is reported by a server with ServerConfig.DeferAuthorize
// for every HELLO that passed the protocol's checks: the driver decides
// Request (it may take its time, the connection waits within the
// HandshakeTimeout) and steps [Authorized] for Request.Conn.
type AuthPending struct {
	Request AuthRequest
}

// ConnRejected is reported by the server when it closes a connection that
// has no session (bad HELLO, refused, handshake timeout, overloaded).
type ConnRejected struct {
	Conn ConnID
	Err  error
}

// ConnectFailed is reported by a client driver (package adapters) for
// every connection attempt that failed before its session was established
// or resumed: the dial failed (refused, an HTTP error status, a timeout),
// or the connection closed or timed out before WELCOME. Attempt counts the
// failures since the last established connection, from 1. The client tries
// again after its backoff (unless it is closing, or Dial gave up).
// [ConnectionLost], by contrast, is reported once for each established
// connection that is lost, whatever the transport.
type ConnectFailed struct {
	Attempt int
	Err     error
}

func (*ConnectFailed) isEvent() {}
func (*AuthPending) isEvent()   {}
func (*MemberJoined) isEvent()  {}
func (*MemberLeft) isEvent()    {}

func (e *ConnectFailed) String() string {
	return fmt.Sprintf("connect-failed attempt=%d: %v", e.Attempt, e.Err)
}

// RoomsRejoined is reported by a client driver (package adapters) after a
// new session replaced a lost one, once it has asked the server to re-join
// every room the lost session was in: Rejoined are the rooms the new
// session is back in, Refused those it is not, each with why (a
// [*RemoteError] from the server's AllowRoom hook, or the error that ended
// the attempt). The machine itself does not re-join: membership is the
// application's, and the driver acts for it.
type RoomsRejoined struct {
	Client   proto.ClientID // the new session
	Rejoined []string       // in name order
	Refused  []RoomRefused  // in name order
}

// RoomRefused is one room a client could not re-join, and why.
type RoomRefused struct {
	Room string
	Err  error
}

func (*RoomsRejoined) isEvent() {}

func (e *RoomsRejoined) String() string {
	s := fmt.Sprintf("rooms-rejoined %s %q", e.Client, e.Rejoined)
	for _, r := range e.Refused {
		s += fmt.Sprintf(" refused %q: %v", r.Room, r.Err)
	}
	return s
}

func (*SessionStarted) isEvent()  {}
func (*Resumed) isEvent()         {}
func (*Detached) isEvent()        {}
func (*Dial) isEvent()            {}
func (*ConnectionLost) isEvent()  {}
func (*Delivered) isEvent()       {}
func (*RequestReceived) isEvent() {}
func (*Response) isEvent()        {}
func (*SessionLost) isEvent()     {}
func (*Closed) isEvent()          {}
func (*SessionClosed) isEvent()   {}
func (*ConnRejected) isEvent()    {}

func (e *SessionStarted) String() string { return fmt.Sprintf("session-started %s", e.Client) }
func (e *Resumed) String() string        { return fmt.Sprintf("resumed %s", e.Client) }
func (e *Detached) String() string       { return fmt.Sprintf("detached %s: %v", e.Client, e.Err) }
func (e *Dial) String() string {
	return fmt.Sprintf("dial attempt=%d at=%s", e.Attempt, e.At.Format(time.RFC3339Nano))
}
func (e *ConnectionLost) String() string { return fmt.Sprintf("connection-lost: %v", e.Err) }
func (e *Delivered) String() string {
	s := fmt.Sprintf("delivered seq=%d %s", e.Seq, proto.Preview(e.Payload))
	if e.Room != "" {
		s += fmt.Sprintf(" room=%q", e.Room)
	}
	if e.Name != "" {
		s += fmt.Sprintf(" name=%q", e.Name)
	}
	return s
}
func (e *RequestReceived) String() string {
	s := fmt.Sprintf("request id=%d %s", e.ID, proto.Preview(e.Payload))
	if e.Name != "" {
		s += fmt.Sprintf(" name=%q", e.Name)
	}
	return s
}
func (e *Response) String() string {
	if e.Err != nil {
		return fmt.Sprintf("response id=%d error: %v", e.ID, e.Err)
	}
	return fmt.Sprintf("response id=%d %s", e.ID, proto.Preview(e.Payload))
}
func (e *SessionLost) String() string {
	return fmt.Sprintf("session-lost %s: %v %s", e.Client, e.Err, e.Lost)
}
func (e *Closed) String() string { return fmt.Sprintf("closed: %v %s", e.Err, e.Lost) }
func (e *SessionClosed) String() string {
	return fmt.Sprintf("session-closed %s: %v %s", e.Client, e.Err, e.Lost)
}
func (e *ConnRejected) String() string { return fmt.Sprintf("conn-rejected %d: %v", e.Conn, e.Err) }

// String renders the report in one line: "unacked=[1 2] requests=[7] last=3".
func (l Lost) String() string {
	seqs := make([]uint64, len(l.Unacked))
	for i, f := range l.Unacked {
		seqs[i] = f.Seq
	}
	return fmt.Sprintf("unacked=%v requests=%v last=%d", seqs, l.Requests, l.LastReceived)
}

func (e *AuthPending) String() string {
	return fmt.Sprintf("auth-pending %d resume=%t", e.Request.Conn, e.Request.Resume)
}

func (e *MemberJoined) String() string { return fmt.Sprintf("member-joined %s %q", e.Client, e.Room) }

func (e *MemberLeft) String() string { return fmt.Sprintf("member-left %s %q", e.Client, e.Room) }
