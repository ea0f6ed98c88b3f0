package codec

import (
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// The wire structs mirror the proto frames field by field as CBOR arrays.
// They live here, not in proto, so that proto stays free of encoding tags
// and the wire layout is owned by one package.

type wireLimits struct {
	_              struct{} `cbor:",toarray"`
	MaxMessageSize uint32
	MaxInflight    uint32
	MaxRequests    uint32
}

type wireResume struct {
	_       struct{} `cbor:",toarray"`
	ID      []byte
	Token   []byte
	Ack     uint64
	Attempt uint64
}

type wireHello struct {
	_       struct{} `cbor:",toarray"`
	T       proto.FrameType
	Version uint64
	Resume  *wireResume
	Auth    []byte
	Limits  wireLimits
}

type wireWelcome struct {
	_         struct{} `cbor:",toarray"`
	T         proto.FrameType
	Version   uint64
	ID        []byte
	Token     []byte
	Heartbeat uint64 // milliseconds
	Idle      uint64 // milliseconds
	Resumed   bool
	Ack       uint64
	Limits    wireLimits
}

type wireAck struct {
	_   struct{} `cbor:",toarray"`
	T   proto.FrameType
	Ack uint64
}

type wireHeartbeat struct {
	_    struct{} `cbor:",toarray"`
	T    proto.FrameType
	Ack  uint64
	Echo uint64
}

type wireData struct {
	_       struct{} `cbor:",toarray"`
	T       proto.FrameType
	Seq     uint64
	Ack     uint64
	Payload []byte
	Room    string
}

// wireDataNamed is DATA with its optional last element, the event name,
// present. A frame whose name is empty is encoded as wireData, so unnamed
// frames keep their bytes; the named form never carries an empty name.
type wireDataNamed struct {
	_       struct{} `cbor:",toarray"`
	T       proto.FrameType
	Seq     uint64
	Ack     uint64
	Payload []byte
	Room    string
	Name    string
}

type wireRequest struct {
	_       struct{} `cbor:",toarray"`
	T       proto.FrameType
	Seq     uint64
	Ack     uint64
	ID      uint64
	Payload []byte
}

// wireRequestNamed is REQUEST with the method name (see wireDataNamed).
type wireRequestNamed struct {
	_       struct{} `cbor:",toarray"`
	T       proto.FrameType
	Seq     uint64
	Ack     uint64
	ID      uint64
	Payload []byte
	Name    string
}

type wirePublish struct {
	_       struct{} `cbor:",toarray"`
	T       proto.FrameType
	Seq     uint64
	Ack     uint64
	ID      uint64
	Room    string
	Payload []byte
}

// wirePublishNamed is PUBLISH with the event name (see wireDataNamed).
type wirePublishNamed struct {
	_       struct{} `cbor:",toarray"`
	T       proto.FrameType
	Seq     uint64
	Ack     uint64
	ID      uint64
	Room    string
	Payload []byte
	Name    string
}

type wireError struct {
	_       struct{} `cbor:",toarray"`
	Code    proto.ErrorCode
	Message string
}

type wireResponse struct {
	_       struct{} `cbor:",toarray"`
	T       proto.FrameType
	Seq     uint64
	Ack     uint64
	ID      uint64
	Payload []byte
	Error   *wireError
}

type wireClose struct {
	_      struct{} `cbor:",toarray"`
	T      proto.FrameType
	Code   proto.CloseCode
	Reason string
}

// wireRoomOp is the layout shared by JOIN and LEAVE.
type wireRoomOp struct {
	_    struct{} `cbor:",toarray"`
	T    proto.FrameType
	Seq  uint64
	Ack  uint64
	ID   uint64
	Room string
}

func toWireLimits(l proto.Limits) wireLimits {
	return wireLimits{MaxMessageSize: l.MaxMessageSize, MaxInflight: l.MaxInflight, MaxRequests: l.MaxRequests}
}

func fromWireLimits(l wireLimits) proto.Limits {
	return proto.Limits{MaxMessageSize: l.MaxMessageSize, MaxInflight: l.MaxInflight, MaxRequests: l.MaxRequests}
}

func millis(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d / time.Millisecond)
}

// fromMillis converts a wire duration; values beyond proto.MaxDuration are
// clamped just above it so that validation rejects them without overflow.
func fromMillis(ms uint64) time.Duration {
	if ms > uint64(proto.MaxDuration/time.Millisecond) {
		return proto.MaxDuration + time.Millisecond
	}
	return time.Duration(ms) * time.Millisecond
}
