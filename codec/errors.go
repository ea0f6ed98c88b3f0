package codec

import (
	"errors"
	"fmt"

	"github.com/bettersocket/bettersocket/proto"
)

// Sentinel errors wrapped by every [*DecodeError]; test with errors.Is.
var (
	// ErrTooLarge: the message is longer than the configured maximum.
	ErrTooLarge = errors.New("codec: message too large")
	// ErrEmpty: the message holds no frame at all.
	ErrEmpty = errors.New("codec: empty message")
	// ErrMalformed: the bytes are not a well-formed frame (truncated,
	// not a CBOR array, wrong field count or type, out-of-range value,
	// forbidden CBOR feature, limit exceeded).
	ErrMalformed = errors.New("codec: malformed frame")
	// ErrUnknownType: the frame type is not one of protocol version 1.
	ErrUnknownType = errors.New("codec: unknown frame type")
	// ErrTrailingBytes: bytes follow the single frame [Decode] expects.
	ErrTrailingBytes = errors.New("codec: trailing bytes after frame")
)

// DecodeError describes why a message could not be decoded.
type DecodeError struct {
	Offset int             // byte offset in the message where the bad frame starts
	Type   proto.FrameType // the frame type, when it could be read; 0 otherwise
	Kind   error           // one of the package's sentinel errors
	Err    error           // the underlying cause, if any (a CBOR or validation error)
}

func (e *DecodeError) Error() string {
	s := e.Kind.Error()
	if e.Type != 0 {
		s += " (" + e.Type.String() + ")"
	}
	s += fmt.Sprintf(" at offset %d", e.Offset)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel kind and the cause, so that errors.Is works
// with both.
func (e *DecodeError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
