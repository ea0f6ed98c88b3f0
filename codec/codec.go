package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"

	"github.com/bettersocket/bettersocket/proto"
)

// DefaultMaxMessageSize is the message size limit used when
// [Limits.MaxMessageSize] is zero.
const DefaultMaxMessageSize = 1 << 20

// Limits bound what a [Decoder] accepts.
type Limits struct {
	// MaxMessageSize is the largest transport message, in bytes, that is
	// decoded at all. Zero means DefaultMaxMessageSize.
	MaxMessageSize int
}

func (l Limits) maxMessage() int {
	if l.MaxMessageSize <= 0 {
		return DefaultMaxMessageSize
	}
	return l.MaxMessageSize
}

var (
	encMode cbor.UserBufferEncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{
		Sort:          cbor.SortCoreDeterministic,
		ShortestFloat: cbor.ShortestFloat16,
		IndefLength:   cbor.IndefLengthForbidden,
		NilContainers: cbor.NilContainerAsNull,
		TagsMd:        cbor.TagsForbidden,
	}.UserBufferEncMode()
	if err != nil {
		panic("codec: bug: " + err.Error())
	}
	decMode, err = cbor.DecOptions{
		// The deepest frame is HELLO: [.., [resume], .., [limits]].
		MaxNestedLevels:  4,
		MaxArrayElements: 16,
		MaxMapPairs:      16,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IntDec:           cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic("codec: bug: " + err.Error())
	}
}

// Encoder appends frames to byte slices. The zero value is ready to use. An
// Encoder keeps scratch space between calls, so encoding allocates only when
// the destination must grow; it is not safe for concurrent use.
type Encoder struct {
	buf      bytes.Buffer
	dataN    wireDataNamed
	request  wireRequest
	requestN wireRequestNamed
	publish  wirePublish
	publishN wirePublishNamed
	response wireResponse
	respErr  wireError
	hb       wireHeartbeat
	roomOp   wireRoomOp
	close    wireClose
	hello    wireHello
	resume   wireResume
	welcome  wireWelcome
}

// Append appends the encoding of f to dst and returns the extended slice.
// Frames are not validated here; the receiver validates.
func (e *Encoder) Append(dst []byte, f proto.Frame) ([]byte, error) {
	switch f := f.(type) {
	case *proto.Data:
		if f.Name == "" {
			return appendData(dst, f), nil // by hand (fast.go); a named one below
		}
	case *proto.Ack:
		return appendAck(dst, f), nil
	case *proto.Request:
		if f.Name == "" {
			return appendRequest(dst, f), nil
		}
	case *proto.Response:
		if f.Error == nil {
			return appendResponse(dst, f), nil
		}
	}
	var v any
	switch f := f.(type) {
	case *proto.Data:
		e.dataN = wireDataNamed{T: proto.TypeData, Seq: f.Seq, Ack: f.Ack, Payload: f.Payload, Room: f.Room, Name: f.Name}
		v = &e.dataN
	case *proto.Heartbeat:
		e.hb = wireHeartbeat{T: proto.TypeHeartbeat, Ack: f.Ack, Echo: f.Echo}
		v = &e.hb
	case *proto.Request:
		if f.Name != "" {
			e.requestN = wireRequestNamed{T: proto.TypeRequest, Seq: f.Seq, Ack: f.Ack, ID: f.ID, Payload: f.Payload, Name: f.Name}
			v = &e.requestN
			break
		}
		e.request = wireRequest{T: proto.TypeRequest, Seq: f.Seq, Ack: f.Ack, ID: f.ID, Payload: f.Payload}
		v = &e.request
	case *proto.Publish:
		if f.Name != "" {
			e.publishN = wirePublishNamed{T: proto.TypePublish, Seq: f.Seq, Ack: f.Ack, ID: f.ID, Room: f.Room, Payload: f.Payload, Name: f.Name}
			v = &e.publishN
			break
		}
		e.publish = wirePublish{T: proto.TypePublish, Seq: f.Seq, Ack: f.Ack, ID: f.ID, Room: f.Room, Payload: f.Payload}
		v = &e.publish
	case *proto.Response:
		e.response = wireResponse{T: proto.TypeResponse, Seq: f.Seq, Ack: f.Ack, ID: f.ID, Payload: f.Payload}
		if f.Error != nil {
			e.respErr = wireError{Code: f.Error.Code, Message: f.Error.Message}
			e.response.Error = &e.respErr
		}
		v = &e.response
	case *proto.Join:
		e.roomOp = wireRoomOp{T: proto.TypeJoin, Seq: f.Seq, Ack: f.Ack, ID: f.ID, Room: f.Room}
		v = &e.roomOp
	case *proto.Leave:
		e.roomOp = wireRoomOp{T: proto.TypeLeave, Seq: f.Seq, Ack: f.Ack, ID: f.ID, Room: f.Room}
		v = &e.roomOp
	case *proto.Close:
		e.close = wireClose{T: proto.TypeClose, Code: f.Code, Reason: f.Reason}
		v = &e.close
	case *proto.Hello:
		e.hello = wireHello{T: proto.TypeHello, Version: f.Version, Auth: f.Auth, Limits: toWireLimits(f.Limits)}
		if f.Resume != nil {
			e.resume = wireResume{ID: f.Resume.ID[:], Token: f.Resume.Token, Ack: f.Resume.Ack, Attempt: f.Resume.Attempt}
			e.hello.Resume = &e.resume
		}
		v = &e.hello
	case *proto.Welcome:
		e.welcome = wireWelcome{
			T: proto.TypeWelcome, Version: f.Version, ID: f.ID[:], Token: f.Token,
			Heartbeat: millis(f.Heartbeat), Idle: millis(f.IdleTimeout),
			Resumed: f.Resumed, Ack: f.Ack, Limits: toWireLimits(f.Limits),
		}
		v = &e.welcome
	default:
		return dst, fmt.Errorf("codec: cannot encode %T", f)
	}
	e.buf = *bytes.NewBuffer(dst)
	err := encMode.MarshalToBuffer(v, &e.buf)
	out := e.buf.Bytes()
	e.buf = bytes.Buffer{}
	if err != nil {
		return dst, fmt.Errorf("codec: encode %s: %w", f.Type(), err)
	}
	return out, nil
}

// Encode returns the encoding of a single frame in a new slice.
func Encode(f proto.Frame) ([]byte, error) {
	var e Encoder
	return e.Append(nil, f)
}

// Decoder takes a transport message apart into frames. Frames returned by
// [Decoder.Next] are owned by the Decoder and valid until the next call to
// Next or Reset; the byte slices and strings inside them are fresh copies
// that the caller may keep. A Decoder is not safe for concurrent use.
type Decoder struct {
	lim    Limits
	msg    []byte
	off    int
	frames struct {
		hello     proto.Hello
		resume    proto.Resume
		welcome   proto.Welcome
		ack       proto.Ack
		heartbeat proto.Heartbeat
		data      proto.Data
		request   proto.Request
		response  proto.Response
		respErr   proto.Error
		close     proto.Close
		join      proto.Join
		leave     proto.Leave
		publish   proto.Publish
	}
	wire struct {
		hello    wireHello
		welcome  wireWelcome
		ack      wireAck
		hb       wireHeartbeat
		data     wireData
		dataN    wireDataNamed
		request  wireRequest
		requestN wireRequestNamed
		publish  wirePublish
		publishN wirePublishNamed
		response wireResponse
		close    wireClose
		roomOp   wireRoomOp
	}
}

// NewDecoder returns a Decoder that enforces lim.
func NewDecoder(lim Limits) *Decoder { return &Decoder{lim: lim} }

// Reset starts decoding msg. It fails with [ErrTooLarge] when msg exceeds
// the size limit and with [ErrEmpty] when msg is empty, before reading
// anything.
func (d *Decoder) Reset(msg []byte) error {
	d.msg, d.off = nil, 0
	if len(msg) > d.lim.maxMessage() {
		return &DecodeError{Kind: ErrTooLarge, Err: fmt.Errorf("%d bytes, limit %d", len(msg), d.lim.maxMessage())}
	}
	if len(msg) == 0 {
		return &DecodeError{Kind: ErrEmpty}
	}
	d.msg = msg
	return nil
}

// More reports whether undecoded bytes remain in the current message.
func (d *Decoder) More() bool { return d.off < len(d.msg) }

// Remaining returns how many bytes of the current message are not decoded
// yet.
func (d *Decoder) Remaining() int { return len(d.msg) - d.off }

// Next decodes the next frame of the message. It returns io.EOF when the
// message is consumed. After an error other than io.EOF the rest of the
// message is skipped.
func (d *Decoder) Next() (proto.Frame, error) {
	if d.off >= len(d.msg) {
		return nil, io.EOF
	}
	start := d.off
	f, rest, ok := d.fast(d.msg[start:])
	if !ok {
		var err error
		if f, rest, err = d.decodeOne(d.msg[start:]); err != nil {
			d.off = len(d.msg)
			if de, ok := err.(*DecodeError); ok {
				de.Offset += start
			}
			return nil, err
		}
	}
	d.off = len(d.msg) - len(rest)
	return f, nil
}

// fast decodes the frames of the hot paths by hand (fast.go), valid ones
// only: it checks what [proto.Validate] would of them (a reliable frame's
// seq is not 0, DATA's room is at most MaxRoomLen bytes; fastData checks
// its UTF-8). ok is false for anything else, which decodeOne then takes,
// valid or not.
func (d *Decoder) fast(b []byte) (proto.Frame, []byte, bool) {
	if len(b) < 2 {
		return nil, nil, false
	}
	fr := &d.frames
	switch proto.FrameType(b[1]) {
	case proto.TypeData:
		rest, ok := fastData(b, &fr.data)
		if !ok || fr.data.Seq == 0 || len(fr.data.Room) > proto.MaxRoomLen {
			return nil, nil, false
		}
		return &fr.data, rest, true
	case proto.TypeAck:
		rest, ok := fastAck(b, &fr.ack)
		return &fr.ack, rest, ok
	case proto.TypeRequest:
		rest, ok := fastRequest(b, &fr.request)
		if !ok || fr.request.Seq == 0 {
			return nil, nil, false
		}
		return &fr.request, rest, true
	case proto.TypeResponse:
		rest, ok := fastResponse(b, &fr.response)
		if !ok || fr.response.Seq == 0 {
			return nil, nil, false
		}
		return &fr.response, rest, true
	}
	return nil, nil, false
}

// Decode decodes exactly one frame from b, which must hold nothing else. The
// frame is freshly allocated and owned by the caller.
func Decode(b []byte, lim Limits) (proto.Frame, error) {
	d := NewDecoder(lim)
	if err := d.Reset(b); err != nil {
		return nil, err
	}
	f, err := d.Next()
	if err != nil {
		return nil, err
	}
	if d.More() {
		return nil, &DecodeError{Offset: d.off, Kind: ErrTrailingBytes, Err: fmt.Errorf("%d bytes", len(b)-d.off)}
	}
	return Clone(f), nil
}

// peekType reads the array header and the frame type without allocating.
func peekType(b []byte) (proto.FrameType, error) {
	if len(b) < 2 {
		return 0, &DecodeError{Kind: ErrMalformed, Err: io.ErrUnexpectedEOF}
	}
	if b[0]>>5 != 4 { // major type 4: array
		return 0, &DecodeError{Kind: ErrMalformed, Err: fmt.Errorf("frame is not a CBOR array (initial byte 0x%02x)", b[0])}
	}
	if b[0]&0x1f > 23 { // frames are short arrays: the count fits the initial byte
		return 0, &DecodeError{Kind: ErrMalformed, Err: fmt.Errorf("array header 0x%02x is not a frame", b[0])}
	}
	t := b[1]
	if t>>5 != 0 || t&0x1f > 23 { // a small unsigned integer
		return 0, &DecodeError{Kind: ErrUnknownType, Err: fmt.Errorf("type byte 0x%02x", t)}
	}
	ft := proto.FrameType(t)
	if !ft.Valid() {
		return 0, &DecodeError{Kind: ErrUnknownType, Err: fmt.Errorf("type %d", t)}
	}
	return ft, nil
}

func (d *Decoder) decodeOne(b []byte) (proto.Frame, []byte, error) {
	t, err := peekType(b)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (proto.Frame, []byte, error) {
		return nil, nil, &DecodeError{Type: t, Kind: ErrMalformed, Err: err}
	}
	w, fr := &d.wire, &d.frames
	var f proto.Frame
	var rest []byte
	switch t {
	case proto.TypeData:
		if named(b, shapes[t]) {
			w.dataN = wireDataNamed{}
			if rest, err = decMode.UnmarshalFirst(b, &w.dataN); err != nil {
				return fail(err)
			}
			dn := &w.dataN
			if dn.Name == "" {
				return fail(errEmptyName)
			}
			fr.data = proto.Data{Seq: dn.Seq, Ack: dn.Ack, Payload: dn.Payload, Room: dn.Room, Name: dn.Name}
		} else {
			w.data = wireData{}
			if rest, err = decMode.UnmarshalFirst(b, &w.data); err != nil {
				return fail(err)
			}
			fr.data = proto.Data{Seq: w.data.Seq, Ack: w.data.Ack, Payload: w.data.Payload, Room: w.data.Room}
		}
		f = &fr.data
	case proto.TypeAck:
		w.ack = wireAck{}
		if rest, err = decMode.UnmarshalFirst(b, &w.ack); err != nil {
			return fail(err)
		}
		fr.ack = proto.Ack{Ack: w.ack.Ack}
		f = &fr.ack
	case proto.TypeHeartbeat:
		w.hb = wireHeartbeat{}
		if rest, err = decMode.UnmarshalFirst(b, &w.hb); err != nil {
			return fail(err)
		}
		fr.heartbeat = proto.Heartbeat{Ack: w.hb.Ack, Echo: w.hb.Echo}
		f = &fr.heartbeat
	case proto.TypeRequest:
		if named(b, shapes[t]) {
			w.requestN = wireRequestNamed{}
			if rest, err = decMode.UnmarshalFirst(b, &w.requestN); err != nil {
				return fail(err)
			}
			rn := &w.requestN
			if rn.Name == "" {
				return fail(errEmptyName)
			}
			fr.request = proto.Request{Seq: rn.Seq, Ack: rn.Ack, ID: rn.ID, Payload: rn.Payload, Name: rn.Name}
		} else {
			w.request = wireRequest{}
			if rest, err = decMode.UnmarshalFirst(b, &w.request); err != nil {
				return fail(err)
			}
			fr.request = proto.Request{Seq: w.request.Seq, Ack: w.request.Ack, ID: w.request.ID, Payload: w.request.Payload}
		}
		f = &fr.request
	case proto.TypePublish:
		if named(b, shapes[t]) {
			w.publishN = wirePublishNamed{}
			if rest, err = decMode.UnmarshalFirst(b, &w.publishN); err != nil {
				return fail(err)
			}
			pn := &w.publishN
			if pn.Name == "" {
				return fail(errEmptyName)
			}
			fr.publish = proto.Publish{Seq: pn.Seq, Ack: pn.Ack, ID: pn.ID, Room: pn.Room, Payload: pn.Payload, Name: pn.Name}
		} else {
			w.publish = wirePublish{}
			if rest, err = decMode.UnmarshalFirst(b, &w.publish); err != nil {
				return fail(err)
			}
			p := &w.publish
			fr.publish = proto.Publish{Seq: p.Seq, Ack: p.Ack, ID: p.ID, Room: p.Room, Payload: p.Payload}
		}
		f = &fr.publish
	case proto.TypeResponse:
		w.response = wireResponse{}
		if rest, err = decMode.UnmarshalFirst(b, &w.response); err != nil {
			return fail(err)
		}
		r := &w.response
		fr.response = proto.Response{Seq: r.Seq, Ack: r.Ack, ID: r.ID, Payload: r.Payload}
		if r.Error != nil {
			fr.respErr = proto.Error{Code: r.Error.Code, Message: r.Error.Message}
			fr.response.Error = &fr.respErr
		}
		f = &fr.response
	case proto.TypeJoin, proto.TypeLeave:
		w.roomOp = wireRoomOp{}
		if rest, err = decMode.UnmarshalFirst(b, &w.roomOp); err != nil {
			return fail(err)
		}
		o := &w.roomOp
		if t == proto.TypeJoin {
			fr.join = proto.Join{Seq: o.Seq, Ack: o.Ack, ID: o.ID, Room: o.Room}
			f = &fr.join
		} else {
			fr.leave = proto.Leave{Seq: o.Seq, Ack: o.Ack, ID: o.ID, Room: o.Room}
			f = &fr.leave
		}
	case proto.TypeClose:
		w.close = wireClose{}
		if rest, err = decMode.UnmarshalFirst(b, &w.close); err != nil {
			return fail(err)
		}
		fr.close = proto.Close{Code: w.close.Code, Reason: w.close.Reason}
		f = &fr.close
	case proto.TypeHello:
		w.hello = wireHello{}
		if rest, err = decMode.UnmarshalFirst(b, &w.hello); err != nil {
			return fail(err)
		}
		h := &w.hello
		fr.hello = proto.Hello{Version: h.Version, Auth: h.Auth, Limits: fromWireLimits(h.Limits)}
		if h.Resume != nil {
			if len(h.Resume.ID) != len(proto.ClientID{}) {
				return fail(fmt.Errorf("client id of %d bytes, want 16", len(h.Resume.ID)))
			}
			fr.resume = proto.Resume{Token: h.Resume.Token, Ack: h.Resume.Ack, Attempt: h.Resume.Attempt}
			copy(fr.resume.ID[:], h.Resume.ID)
			fr.hello.Resume = &fr.resume
		}
		f = &fr.hello
	case proto.TypeWelcome:
		w.welcome = wireWelcome{}
		if rest, err = decMode.UnmarshalFirst(b, &w.welcome); err != nil {
			return fail(err)
		}
		wl := &w.welcome
		if len(wl.ID) != len(proto.ClientID{}) {
			return fail(fmt.Errorf("client id of %d bytes, want 16", len(wl.ID)))
		}
		fr.welcome = proto.Welcome{
			Version: wl.Version, Token: wl.Token,
			Heartbeat: fromMillis(wl.Heartbeat), IdleTimeout: fromMillis(wl.Idle),
			Resumed: wl.Resumed, Ack: wl.Ack, Limits: fromWireLimits(wl.Limits),
		}
		copy(fr.welcome.ID[:], wl.ID)
		f = &fr.welcome
	}
	if err := checkShape(t, b[:len(b)-len(rest)]); err != nil {
		return fail(err)
	}

	if err := proto.Validate(f); err != nil {
		return fail(err)
	}
	return f, rest, nil
}

// errEmptyName: one encoding per frame, so an unnamed frame leaves the
// name off rather than carrying an empty one.
var errEmptyName = errors.New("empty name in the named form")

// Clone returns a deep copy of f that shares nothing with it.
func Clone(f proto.Frame) proto.Frame {
	cb := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		return append([]byte{}, b...)
	}
	switch f := f.(type) {
	case *proto.Hello:
		c := *f
		c.Auth = cb(f.Auth)
		if f.Resume != nil {
			r := *f.Resume
			r.Token = cb(r.Token)
			c.Resume = &r
		}
		return &c
	case *proto.Welcome:
		c := *f
		c.Token = cb(f.Token)
		return &c
	case *proto.Ack:
		c := *f
		return &c
	case *proto.Heartbeat:
		c := *f
		return &c
	case *proto.Data:
		c := *f
		c.Payload = cb(f.Payload)
		return &c
	case *proto.Request:
		c := *f
		c.Payload = cb(f.Payload)
		return &c
	case *proto.Response:
		c := *f
		c.Payload = cb(f.Payload)
		if f.Error != nil {
			e := *f.Error
			c.Error = &e
		}
		return &c
	case *proto.Close:
		c := *f
		return &c
	case *proto.Join:
		c := *f
		return &c
	case *proto.Leave:
		c := *f
		return &c
	case *proto.Publish:
		c := *f
		c.Payload = cb(f.Payload)
		return &c
	}
	return f
}
