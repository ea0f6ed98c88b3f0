package fuzz

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"testing"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Checks shared by the machine targets.

// trace logs every step of the machine targets: go test ./fuzz -run=X -trace.
var trace = flag.Bool("trace", false, "log every step of the machine targets")

// outDecoder decodes what a machine transmits, with no size limit of its
// own: the size limits are checked separately.
func outDecoder() *codec.Decoder { return codec.NewDecoder(codec.Limits{MaxMessageSize: math.MaxInt}) }

// checkTransmit asserts that msg, written by a machine, is a well-formed
// transport message: it decodes completely into valid frames of types the
// sender may send, and it exceeds the peer's size limit only when it holds
// a single frame (a frame too large on its own goes out alone, by design).
// It returns the frames (owned by the caller).
func checkTransmit(t testing.TB, d *codec.Decoder, who string, msg []byte, limit int, mayClient bool) []proto.Frame {
	t.Helper()
	if len(msg) == 0 {
		t.Fatalf("%s transmitted an empty message", who)
	}
	if err := d.Reset(msg); err != nil {
		t.Fatalf("%s transmitted a message the codec refuses: %v", who, err)
	}
	var frames []proto.Frame
	for {
		f, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s transmitted an undecodable frame: %v (message %x)", who, err, msg)
		}
		fromClient := f.Type() != proto.TypeWelcome
		fromServer := f.Type() != proto.TypeHello && f.Type() != proto.TypeJoin && f.Type() != proto.TypeLeave && f.Type() != proto.TypePublish
		if mayClient && !fromClient || !mayClient && !fromServer {
			t.Fatalf("%s transmitted %v, which it never sends", who, f)
		}
		frames = append(frames, codec.Clone(f))
	}
	if len(frames) > 1 && len(msg) > limit {
		t.Fatalf("%s packed %d frames into %d bytes, beyond the peer's limit of %d", who, len(frames), len(msg), limit)
	}
	return frames
}

// checkLost asserts that a loss report is well-formed and within the send
// window: consecutive sequence numbers, at most maxFrames frames, and more
// than maxBytes only when a single frame holds them (the first frame of an
// empty window may be as large as a message allows).
func checkLost(t testing.TB, who string, l session.Lost, maxFrames, maxBytes int) {
	t.Helper()
	if len(l.Unacked) > maxFrames {
		t.Fatalf("%s: %d frames unacknowledged, beyond the window of %d", who, len(l.Unacked), maxFrames)
	}
	bytes := 0
	for i, f := range l.Unacked {
		if i > 0 && f.Seq != l.Unacked[i-1].Seq+1 {
			t.Fatalf("%s: lost report seqs not consecutive: %v", who, l)
		}
		if !f.Type.Reliable() {
			t.Fatalf("%s: lost report lists a %s frame", who, f.Type)
		}
		bytes += len(f.Payload) + len(f.Room)
	}
	if bytes > maxBytes && len(l.Unacked) > 1 {
		t.Fatalf("%s: %d unacknowledged bytes in %d frames, beyond the limit of %d", who, bytes, len(l.Unacked), maxBytes)
	}
	if !slices.IsSorted(l.Requests) {
		t.Fatalf("%s: lost requests not sorted: %v", who, l.Requests)
	}
}

// checkResponseErr asserts that a Response event's outcome is one the API
// documents.
func checkResponseErr(t testing.TB, who string, r *session.Response) {
	t.Helper()
	var re *session.RemoteError
	switch {
	case r.Err == nil:
	case errors.As(r.Err, &re):
		if r.Payload != nil {
			t.Fatalf("%s: error response %d with a payload", who, r.ID)
		}
	case errors.Is(r.Err, session.ErrRequestTimeout), errors.Is(r.Err, session.ErrSessionLost):
	default:
		t.Fatalf("%s: response %d with undocumented outcome %v", who, r.ID, r.Err)
	}
}

// commandErrors are the errors Step may return for an application command.
var commandErrors = []error{
	session.ErrBackpressure, session.ErrClosed, session.ErrTooLarge, session.ErrTooManyRequests,
	session.ErrDuplicateRequest, session.ErrUnknownRequest, session.ErrUnknownClient, session.ErrLimit,
	session.ErrInvalid, session.ErrOverloaded,
}

func checkCommandErr(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, e := range commandErrors {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("%s returned an undocumented error %v", what, err)
}

// mustStep asserts that a machine accepted a transport or timer input: Step
// errors are only ever about the caller's own commands.
func mustStep(t testing.TB, who string, in session.Input, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s.Step(%s) = %v: peer input and time must never return an error", who, describe(in), err)
	}
}

func describe(in session.Input) string {
	if r, ok := in.(session.Recv); ok {
		return fmt.Sprintf("Recv{conn %d, %d bytes}", r.Conn, len(r.Data))
	}
	return fmt.Sprintf("%T%+v", in, in)
}
