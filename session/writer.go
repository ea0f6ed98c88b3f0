package session

import (
	"strings"
	"unicode/utf8"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
)

// writer packs frames into transport messages for one Ready. All messages of
// a Ready share one arena, so a batch costs one allocation however many
// frames and connections it holds; messages are cut so that none exceeds the
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

func (w *writer) reliable(f *outFrame, ack uint64) {
	switch f.typ {
	case proto.TypeData:
		w.data = proto.Data{Seq: f.seq, Ack: ack, Payload: f.payload, Room: f.room}
		w.frame(&w.data)
	case proto.TypeRequest:
		w.request = proto.Request{Seq: f.seq, Ack: ack, ID: f.id, Payload: f.payload}
		w.frame(&w.request)
	case proto.TypeResponse:
		w.response = proto.Response{Seq: f.seq, Ack: ack, ID: f.id, Payload: f.payload, Error: f.err}
		if f.err != nil && wireText(f.err.Message) != f.err.Message {
			w.response.Error = &proto.Error{Code: f.err.Code, Message: wireText(f.err.Message)}
		}
		w.frame(&w.response)
	case proto.TypeJoin:
		w.join = proto.Join{Seq: f.seq, Ack: ack, ID: f.id, Room: f.room}
		w.frame(&w.join)
	case proto.TypeLeave:
		w.leave = proto.Leave{Seq: f.seq, Ack: ack, ID: f.id, Room: f.room}
		w.frame(&w.leave)
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

// take hands the arena over to the Ready being built and sizes the next one
// by what this one used, with room to double: a burst's arena is not
// reallocated at its full size for every small Ready that follows it (each
// arena is garbage once its messages are written).
func (w *writer) take() {
	w.arena = make([]byte, 0, max(256, min(2*len(w.arena), 1<<20)))
}

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
