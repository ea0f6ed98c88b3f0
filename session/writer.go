package session

import (
	"strings"
	"unicode/utf8"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// writer packs frames into transport messages for one Ready. The messages
// of a Ready, and of the Readys after it while there is room, share one
// arena, so a batch costs at most one allocation however many frames and
// connections it holds; messages are cut so that none exceeds the
// peer's size limit (a frame larger than the limit on its own still goes out
// alone: the peer closes with "too large", and the loss is reported).
type writer struct {
	enc   codec.Encoder
	arena []byte
	start int // start of the current message in arena
	last  int // end of the last complete frame of the current message
	max   int
	emit  func(msg []byte)

	// scratch frames, so encoding allocates nothing per frame
	data     proto.Data
	request  proto.Request
	response proto.Response
	join     proto.Join
	leave    proto.Leave
	publish  proto.Publish
	ack      proto.Ack
	hb       proto.Heartbeat
}

// begin starts messages for one connection whose peer accepts at most max
// bytes per message.
func (w *writer) begin(max int, emit func([]byte)) {
	w.start, w.last, w.max, w.emit = len(w.arena), len(w.arena), max, emit
}

// end emits the pending message of the current connection.
func (w *writer) end() {
	if w.last > w.start {
		w.emit(w.arena[w.start:w.last:w.last])
	}
	w.start = w.last
}

func (w *writer) frame(f proto.Frame) {
	if cl, ok := f.(*proto.Close); ok && wireText(cl.Reason) != cl.Reason {
		f = &proto.Close{Code: cl.Code, Reason: wireText(cl.Reason)}
	}
	out, err := w.enc.Append(w.arena, f)
	if err != nil {
		panic("session: bug: " + err.Error())
	}
	w.arena = out
	end := len(out)
	if end-w.start > w.max && w.last > w.start {
		// The new frame does not fit: the message ends before it.
		w.emit(w.arena[w.start:w.last:w.last])
		w.start = w.last
	}
	w.last = end
}

func (w *writer) reliable(f *outFrame, seq, ack uint64) {
	w.reserve(f.size() + frameOverhead)
	switch f.typ {
	case proto.TypeData:
		w.data = proto.Data{Seq: seq, Ack: ack, Payload: f.payload, Room: f.room(), Name: f.name()}
		w.frame(&w.data)
	case proto.TypeRequest:
		w.request = proto.Request{Seq: seq, Ack: ack, ID: f.id, Payload: f.payload, Name: f.name()}
		w.frame(&w.request)
	case proto.TypeResponse:
		e := f.err()
		w.response = proto.Response{Seq: seq, Ack: ack, ID: f.id, Payload: f.payload, Error: e}
		if e != nil && wireText(e.Message) != e.Message {
			w.response.Error = &proto.Error{Code: e.Code, Message: wireText(e.Message)}
		}
		w.frame(&w.response)
	case proto.TypeJoin:
		w.join = proto.Join{Seq: seq, Ack: ack, ID: f.id, Room: f.room()}
		w.frame(&w.join)
	case proto.TypeLeave:
		w.leave = proto.Leave{Seq: seq, Ack: ack, ID: f.id, Room: f.room()}
		w.frame(&w.leave)
	case proto.TypePublish:
		w.publish = proto.Publish{Seq: seq, Ack: ack, ID: f.id, Room: f.room(), Payload: f.payload, Name: f.name()}
		w.frame(&w.publish)
	default:
		panic("session: bug: unreliable frame type in send buffer")
	}
}

func (w *writer) ackFrame(ack uint64) {
	w.ack = proto.Ack{Ack: ack}
	w.frame(&w.ack)
}

func (w *writer) heartbeat(ack, echo uint64) {
	w.hb = proto.Heartbeat{Ack: ack, Echo: echo}
	w.frame(&w.hb)
}

// reserve makes room for n more bytes in the arena. A full arena whose
// messages already emitted take more than moveFrom bytes is not grown as
// append would grow it, copying them (they keep the old arena anyway):
// only the message under way moves to a new one, so a large Ready (a
// broadcast to many, a long stream) allocates and copies its bytes about
// once.
func (w *writer) reserve(n int) {
	if cap(w.arena)-len(w.arena) >= n || w.start < moveFrom {
		return
	}
	cur := w.arena[w.start:]
	size := max(arenaMin, min(2*cap(w.arena), 1<<20), 2*(len(cur)+n))
	w.arena = append(make([]byte, 0, size), cur...)
	w.last -= w.start
	w.start = 0
}

// take hands the messages of this Ready over. The next Readys append after
// them, in the same arena, while it has room for one as large as this: each
// message's capacity ends with it, so nothing appended later reaches into
// it. A new arena holds several Readys like this one (a small round trip
// then allocates once per dozens of Readys), and an arena is garbage once
// the machine has moved on and its messages are written.
func (w *writer) take() {
	used := len(w.arena)
	rest := w.arena[used:]
	if cap(rest) < max(used, 64) {
		rest = make([]byte, 0, max(arenaMin, min(4*used, 1<<20)))
	}
	w.arena = rest
}

// arenaMin is the smallest arena a writer allocates; moveFrom, see
// reserve.
const (
	arenaMin = 2 << 10
	moveFrom = 16 << 10
)

// wireText makes s fit a CLOSE reason or an error message on the wire: valid
// UTF-8 of at most proto.MaxReasonLen bytes. Applications may pass any
// string (Close, Kick, Reply); sent as is, the peer's decoder would refuse
// the whole frame and end the session with a protocol error.
func wireText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > proto.MaxReasonLen {
		i := proto.MaxReasonLen
		for i > 0 && !utf8.RuneStart(s[i]) { // do not split a UTF-8 sequence
			i--
		}
		s = s[:i]
	}
	return s
}
