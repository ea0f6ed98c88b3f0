package proto

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Bounds on variable-length fields. A frame that exceeds one is invalid
// whatever the receiver's configured limits.
const (
	MaxRoomLen   = 255              // bytes in a room name
	MaxNameLen   = 255              // bytes in a message's event name or a request's method name
	MaxReasonLen = 255              // bytes in a CLOSE reason or error message
	MaxTokenLen  = 64               // bytes in a resume token
	MaxAuthLen   = 8 << 10          // bytes of HELLO credentials
	MaxDuration  = 24 * time.Hour   // heartbeat interval and idle timeout
	TokenLen     = 32               // bytes in the tokens this implementation issues
	minDuration  = time.Millisecond // durations travel in milliseconds
)

// ErrInvalid is wrapped by every error [Validate] returns.
var ErrInvalid = errors.New("proto: invalid frame")

func invalid(t FrameType, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, t, fmt.Sprintf(format, args...))
}

// Validate checks the field bounds of f that the type system cannot express:
// string lengths (room and event or method names: valid UTF-8 of at most
// MaxRoomLen and MaxNameLen bytes), token length, durations, and the reliable sequence number
// (which starts at 1). Every frame package codec decodes satisfies it.
func Validate(f Frame) error {
	switch f := f.(type) {
	case *Hello:
		if f.Resume != nil && len(f.Resume.Token) > MaxTokenLen {
			return invalid(TypeHello, "resume token of %d bytes exceeds %d", len(f.Resume.Token), MaxTokenLen)
		}
		if len(f.Auth) > MaxAuthLen {
			return invalid(TypeHello, "auth of %d bytes exceeds %d", len(f.Auth), MaxAuthLen)
		}
	case *Welcome:
		if f.ID.IsZero() {
			return invalid(TypeWelcome, "zero client id")
		}
		if len(f.Token) > MaxTokenLen {
			return invalid(TypeWelcome, "token of %d bytes exceeds %d", len(f.Token), MaxTokenLen)
		}
		if f.Heartbeat < minDuration || f.Heartbeat > MaxDuration {
			return invalid(TypeWelcome, "heartbeat interval %s out of range", f.Heartbeat)
		}
		if f.IdleTimeout < minDuration || f.IdleTimeout > MaxDuration {
			return invalid(TypeWelcome, "idle timeout %s out of range", f.IdleTimeout)
		}
	case *Data:
		if f.Seq == 0 {
			return invalid(TypeData, "seq 0")
		}
		if err := checkText(TypeData, "room", f.Room, MaxRoomLen); err != nil {
			return err
		}
		return checkText(TypeData, "name", f.Name, MaxNameLen)
	case *Request:
		if f.Seq == 0 {
			return invalid(TypeRequest, "seq 0")
		}
		return checkText(TypeRequest, "name", f.Name, MaxNameLen)
	case *Response:
		if f.Seq == 0 {
			return invalid(TypeResponse, "seq 0")
		}
		if f.Error != nil {
			if f.Payload != nil {
				return invalid(TypeResponse, "both payload and error")
			}
			return checkText(TypeResponse, "error message", f.Error.Message, MaxReasonLen)
		}
	case *Close:
		return checkText(TypeClose, "reason", f.Reason, MaxReasonLen)
	case *Join:
		if f.Seq == 0 {
			return invalid(TypeJoin, "seq 0")
		}
		if f.Room == "" {
			return invalid(TypeJoin, "empty room")
		}
		return checkText(TypeJoin, "room", f.Room, MaxRoomLen)
	case *Leave:
		if f.Seq == 0 {
			return invalid(TypeLeave, "seq 0")
		}
		if f.Room == "" {
			return invalid(TypeLeave, "empty room")
		}
		return checkText(TypeLeave, "room", f.Room, MaxRoomLen)
	case *Publish:
		if f.Seq == 0 {
			return invalid(TypePublish, "seq 0")
		}
		if f.Room == "" {
			return invalid(TypePublish, "empty room")
		}
		if err := checkText(TypePublish, "room", f.Room, MaxRoomLen); err != nil {
			return err
		}
		return checkText(TypePublish, "name", f.Name, MaxNameLen)
	case *Ack, *Heartbeat:
	case nil:
		return fmt.Errorf("%w: nil frame", ErrInvalid)
	default:
		return fmt.Errorf("%w: unknown frame %T", ErrInvalid, f)
	}
	return nil
}

func checkText(t FrameType, what, s string, max int) error {
	if len(s) > max {
		return invalid(t, "%s of %d bytes exceeds %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid(t, "%s is not valid UTF-8", what)
	}
	return nil
}
