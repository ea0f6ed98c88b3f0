package proto

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// Version is the wire protocol version spoken by this package.
const Version = 1

// FrameType identifies a frame on the wire. Values are frozen: they are part
// of wire protocol version 1.
type FrameType uint8

// Frame types of wire protocol version 1.
const (
	TypeHello     FrameType = 1
	TypeWelcome   FrameType = 2
	TypeAck       FrameType = 3
	TypeHeartbeat FrameType = 4
	TypeData      FrameType = 5
	TypeRequest   FrameType = 6
	TypeResponse  FrameType = 7
	TypeClose     FrameType = 8
	TypeJoin      FrameType = 9
	TypeLeave     FrameType = 10
	TypePublish   FrameType = 11
)

var typeNames = [...]string{
	TypeHello:     "HELLO",
	TypeWelcome:   "WELCOME",
	TypeAck:       "ACK",
	TypeHeartbeat: "HEARTBEAT",
	TypeData:      "DATA",
	TypeRequest:   "REQUEST",
	TypeResponse:  "RESPONSE",
	TypeClose:     "CLOSE",
	TypeJoin:      "JOIN",
	TypeLeave:     "LEAVE",
	TypePublish:   "PUBLISH",
}

// String returns the upper-case name of the frame type, as used in traces.
func (t FrameType) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "FrameType(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is a frame type of this protocol version.
func (t FrameType) Valid() bool { return t >= TypeHello && t <= TypePublish }

// Reliable reports whether frames of type t carry a sequence number and are
// retransmitted until acknowledged.
func (t FrameType) Reliable() bool {
	switch t {
	case TypeData, TypeRequest, TypeResponse, TypeJoin, TypeLeave, TypePublish:
		return true
	}
	return false
}

// ClientID is the server-assigned identifier of a logical session: a UUID
// (version 4, random) in binary form. It is an identifier, not a credential:
// resuming a session also needs the secret resume token.
type ClientID [16]byte

// String formats the ID in the canonical 8-4-4-4-12 UUID form.
func (id ClientID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}

// IsZero reports whether id is the zero value, which is never assigned.
func (id ClientID) IsZero() bool { return id == ClientID{} }

// Limits is what a receiver announces about itself in HELLO and WELCOME. The
// peer must respect it: it never sends a transport message longer than
// MaxMessageSize, never has more than MaxInflight reliable frames
// unacknowledged, and never has more than MaxRequests of its requests waiting
// for a response. Zero means "not announced"; the peer then applies its own
// defaults.
type Limits struct {
	MaxMessageSize uint32 // bytes in one transport message
	MaxInflight    uint32 // reliable frames sent but not yet acknowledged
	MaxRequests    uint32 // requests waiting for their response
}

func (l Limits) String() string {
	return fmt.Sprintf("msg=%d inflight=%d req=%d", l.MaxMessageSize, l.MaxInflight, l.MaxRequests)
}

// Frame is one protocol frame. The concrete types are [Hello], [Welcome],
// [Ack], [Heartbeat], [Data], [Request], [Response], [Close], [Join],
// [Leave] and [Publish], used as pointers.
type Frame interface {
	// Type returns the frame type.
	Type() FrameType
	// String returns a one-line rendering for traces and logs, for example
	// "DATA seq=3 ack=1 len=64".
	String() string
}

// Reliable is implemented by the frames that carry a sequence number.
type Reliable interface {
	Frame
	// Header returns the sequence number and the piggybacked ack.
	Header() (seq, ack uint64)
}

// Resume is what a client presents in HELLO to resume an existing session.
type Resume struct {
	ID    ClientID
	Token []byte // the secret resume token from the last WELCOME
	Ack   uint64 // the last server sequence number received in order
	// Attempt numbers the client's connections for this session, rising
	// with each one. The server refuses a resume whose Attempt is not above
	// the last one it accepted: a HELLO that arrives late on a connection
	// the client already gave up cannot take the session from the newer
	// one.
	Attempt uint64
}

// Hello is the first frame of every connection, sent by the client.
type Hello struct {
	Version uint64
	Resume  *Resume // nil for a new session
	Auth    []byte  // opaque credentials for the server application, or nil
	Limits  Limits  // what the client accepts
}

// Welcome answers HELLO. It is sequence 0 of the server: "we both start from
// 0" for a new session, or resume from Ack for a resumed one.
type Welcome struct {
	Version     uint64
	ID          ClientID
	Token       []byte        // the new secret resume token (rotated on every WELCOME)
	Heartbeat   time.Duration // the client sends a HEARTBEAT this often (millisecond precision on the wire)
	IdleTimeout time.Duration // nothing received for this long means the transport is dead
	Resumed     bool          // true: the session in HELLO continues; false: a new session
	Ack         uint64        // the last client sequence number the server received in order
	Limits      Limits        // what the server accepts
}

// Ack acknowledges everything up to and including Ack. The client's ACK
// after WELCOME completes the handshake.
type Ack struct {
	Ack uint64
}

// Heartbeat keeps a connection alive and reports the sender's ack. The
// client sends one every heartbeat interval with Echo set to a value of its
// choosing; the server answers each with its own HEARTBEAT echoing that
// value back, so the client can measure the round-trip time.
type Heartbeat struct {
	Ack  uint64
	Echo uint64
}

// Data is an application message, optionally tagged with the room it was
// broadcast or published to, and optionally named: the name is the event
// the receiver routes it by.
type Data struct {
	Seq     uint64
	Ack     uint64
	Payload []byte
	Room    string // "" when the message was addressed to the session itself
	Name    string // the event name, or "" for an unnamed message (at most MaxNameLen bytes)
}

// Request is an application message that expects exactly one [Response]
// with the same ID, optionally named: the name is the method the receiver
// routes it by.
type Request struct {
	Seq     uint64
	Ack     uint64
	ID      uint64 // chosen by the requester, unique among its pending requests
	Payload []byte
	Name    string // the method name, or "" for an unnamed request (at most MaxNameLen bytes)
}

// Response answers the request with the same ID. Exactly one of Payload and
// Error is meaningful: a non-nil Error makes it an error response.
type Response struct {
	Seq     uint64
	Ack     uint64
	ID      uint64
	Payload []byte
	Error   *Error
}

// Error is the error carried by an error [Response].
type Error struct {
	Code    ErrorCode
	Message string
}

// Close ends a connection gracefully. The code tells the peer what to do next
// (see [CloseCode]).
type Close struct {
	Code   CloseCode
	Reason string
}

// Join asks the server to add the client's session to a room. The server
// answers with a [Response] carrying the same ID.
type Join struct {
	Seq  uint64
	Ack  uint64
	ID   uint64
	Room string
}

// Leave asks the server to remove the client's session from a room. The
// server answers with a [Response] carrying the same ID.
type Leave struct {
	Seq  uint64
	Ack  uint64
	ID   uint64
	Room string
}

// Publish asks the server to deliver a message to every other member of a
// room the client is a member of. The server answers with a [Response]
// carrying the same ID: an empty payload when the message was queued for
// every other member, an error otherwise (see package session for the
// codes). The members receive it as a [Data] tagged with Room and Name.
type Publish struct {
	Seq     uint64
	Ack     uint64
	ID      uint64
	Room    string
	Payload []byte
	Name    string // the event name, or "" (at most MaxNameLen bytes)
}

// Type implements [Frame].
func (*Hello) Type() FrameType { return TypeHello }

// Type implements [Frame].
func (*Welcome) Type() FrameType { return TypeWelcome }

// Type implements [Frame].
func (*Ack) Type() FrameType { return TypeAck }

// Type implements [Frame].
func (*Heartbeat) Type() FrameType { return TypeHeartbeat }

// Type implements [Frame].
func (*Data) Type() FrameType { return TypeData }

// Type implements [Frame].
func (*Request) Type() FrameType { return TypeRequest }

// Type implements [Frame].
func (*Response) Type() FrameType { return TypeResponse }

// Type implements [Frame].
func (*Close) Type() FrameType { return TypeClose }

// Type implements [Frame].
func (*Join) Type() FrameType { return TypeJoin }

// Type implements [Frame].
func (*Leave) Type() FrameType { return TypeLeave }

// Type implements [Frame].
func (*Publish) Type() FrameType { return TypePublish }

// Header implements [Reliable].
func (f *Data) Header() (seq, ack uint64) { return f.Seq, f.Ack }

// Header implements [Reliable].
func (f *Request) Header() (seq, ack uint64) { return f.Seq, f.Ack }

// Header implements [Reliable].
func (f *Response) Header() (seq, ack uint64) { return f.Seq, f.Ack }

// Header implements [Reliable].
func (f *Join) Header() (seq, ack uint64) { return f.Seq, f.Ack }

// Header implements [Reliable].
func (f *Leave) Header() (seq, ack uint64) { return f.Seq, f.Ack }

// Header implements [Reliable].
func (f *Publish) Header() (seq, ack uint64) { return f.Seq, f.Ack }

func (f *Hello) String() string {
	s := "HELLO v=" + strconv.FormatUint(f.Version, 10)
	if f.Resume != nil {
		s += fmt.Sprintf(" resume=%s ack=%d attempt=%d", f.Resume.ID, f.Resume.Ack, f.Resume.Attempt)
	}
	if f.Auth != nil {
		s += " auth=" + strconv.Itoa(len(f.Auth)) + "B"
	}
	return s
}

func (f *Welcome) String() string {
	return fmt.Sprintf("WELCOME id=%s hb=%s idle=%s resumed=%t seq=0 ack=%d",
		f.ID, f.Heartbeat, f.IdleTimeout, f.Resumed, f.Ack)
}

func (f *Ack) String() string { return "ACK " + strconv.FormatUint(f.Ack, 10) }

func (f *Heartbeat) String() string {
	return fmt.Sprintf("HEARTBEAT ack=%d echo=%d", f.Ack, f.Echo)
}

func (f *Data) String() string {
	s := fmt.Sprintf("DATA seq=%d ack=%d %s", f.Seq, f.Ack, Preview(f.Payload))
	if f.Room != "" {
		s += " room=" + strconv.Quote(f.Room)
	}
	if f.Name != "" {
		s += " name=" + strconv.Quote(f.Name)
	}
	return s
}

func (f *Request) String() string {
	s := fmt.Sprintf("REQUEST seq=%d ack=%d id=%d %s", f.Seq, f.Ack, f.ID, Preview(f.Payload))
	if f.Name != "" {
		s += " name=" + strconv.Quote(f.Name)
	}
	return s
}

func (f *Response) String() string {
	if f.Error != nil {
		return fmt.Sprintf("RESPONSE seq=%d ack=%d id=%d error=%s %q", f.Seq, f.Ack, f.ID, f.Error.Code, f.Error.Message)
	}
	return fmt.Sprintf("RESPONSE seq=%d ack=%d id=%d %s", f.Seq, f.Ack, f.ID, Preview(f.Payload))
}

func (f *Close) String() string {
	return fmt.Sprintf("CLOSE %s %q", f.Code, f.Reason)
}

func (f *Join) String() string {
	return fmt.Sprintf("JOIN seq=%d ack=%d id=%d room=%q", f.Seq, f.Ack, f.ID, f.Room)
}

func (f *Leave) String() string {
	return fmt.Sprintf("LEAVE seq=%d ack=%d id=%d room=%q", f.Seq, f.Ack, f.ID, f.Room)
}

func (f *Publish) String() string {
	s := fmt.Sprintf("PUBLISH seq=%d ack=%d id=%d room=%q %s", f.Seq, f.Ack, f.ID, f.Room, Preview(f.Payload))
	if f.Name != "" {
		s += " name=" + strconv.Quote(f.Name)
	}
	return s
}

// Preview renders a payload for traces: printable text up to 24 bytes is
// quoted, anything else is shown by its length.
func Preview(p []byte) string {
	if len(p) <= 24 {
		printable := true
		for _, c := range p {
			if c < 0x20 || c > 0x7e {
				printable = false
				break
			}
		}
		if printable {
			return strconv.Quote(string(p))
		}
	}
	return "len=" + strconv.Itoa(len(p))
}
