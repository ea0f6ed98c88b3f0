package proto_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// testID is 00010203-0405-0607-0809-0a0b0c0d0e0f.
var testID = proto.ClientID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

func TestFrameString(t *testing.T) {
	payload64 := []byte(strings.Repeat("x", 64))
	tests := []struct {
		f    proto.Frame
		want string
	}{
		{&proto.Hello{Version: 1}, "HELLO v=1"},
		{&proto.Hello{Version: 1, Auth: []byte{}}, "HELLO v=1 auth=0B"},
		{
			&proto.Hello{Version: 1, Resume: &proto.Resume{ID: testID, Token: []byte("secret"), Ack: 7}, Auth: []byte("abc")},
			"HELLO v=1 resume=00010203-0405-0607-0809-0a0b0c0d0e0f ack=7 attempt=0 auth=3B",
		},
		{
			&proto.Welcome{Version: 1, ID: testID, Token: []byte("t"), Heartbeat: 30 * time.Second, IdleTimeout: 90 * time.Second, Resumed: true, Ack: 5},
			"WELCOME id=00010203-0405-0607-0809-0a0b0c0d0e0f hb=30s idle=1m30s resumed=true seq=0 ack=5",
		},
		{
			&proto.Welcome{Version: 1, ID: testID, Heartbeat: 1500 * time.Millisecond, IdleTimeout: time.Hour},
			"WELCOME id=00010203-0405-0607-0809-0a0b0c0d0e0f hb=1.5s idle=1h0m0s resumed=false seq=0 ack=0",
		},
		{&proto.Ack{Ack: 42}, "ACK 42"},
		{&proto.Ack{Ack: 1<<64 - 1}, "ACK 18446744073709551615"},
		{&proto.Heartbeat{Ack: 3, Echo: 99}, "HEARTBEAT ack=3 echo=99"},
		{&proto.Data{Seq: 3, Ack: 1, Payload: []byte("hello")}, `DATA seq=3 ack=1 "hello"`},
		{&proto.Data{Seq: 3, Ack: 1}, `DATA seq=3 ack=1 ""`},
		{&proto.Data{Seq: 3, Ack: 1, Payload: payload64}, "DATA seq=3 ack=1 len=64"},
		{&proto.Data{Seq: 3, Ack: 1, Payload: []byte{0, 1, 2}}, "DATA seq=3 ack=1 len=3"},
		{&proto.Data{Seq: 3, Ack: 1, Payload: []byte("hi"), Room: "lobby"}, `DATA seq=3 ack=1 "hi" room="lobby"`},
		{&proto.Data{Seq: 3, Ack: 1, Payload: []byte("hi"), Room: "lobby", Name: "chat"}, `DATA seq=3 ack=1 "hi" room="lobby" name="chat"`},
		{&proto.Data{Seq: 3, Ack: 1, Payload: []byte("hi"), Name: "tick"}, `DATA seq=3 ack=1 "hi" name="tick"`},
		{&proto.Request{Seq: 4, Ack: 2, ID: 7, Payload: []byte("ping"), Name: "quote"}, `REQUEST seq=4 ack=2 id=7 "ping" name="quote"`},
		{&proto.Publish{Seq: 8, Ack: 2, ID: 10, Room: "lobby", Payload: []byte("hi")}, `PUBLISH seq=8 ack=2 id=10 room="lobby" "hi"`},
		{&proto.Publish{Seq: 8, Ack: 2, ID: 10, Room: "lobby", Payload: []byte("hi"), Name: "chat"}, `PUBLISH seq=8 ack=2 id=10 room="lobby" "hi" name="chat"`},
		{&proto.Request{Seq: 4, Ack: 2, ID: 7, Payload: []byte("ping")}, `REQUEST seq=4 ack=2 id=7 "ping"`},
		{&proto.Request{Seq: 4, Ack: 2, ID: 7, Payload: payload64}, `REQUEST seq=4 ack=2 id=7 len=64`},
		{&proto.Response{Seq: 5, Ack: 3, ID: 7, Payload: []byte("pong")}, `RESPONSE seq=5 ack=3 id=7 "pong"`},
		{&proto.Response{Seq: 5, Ack: 3, ID: 7}, `RESPONSE seq=5 ack=3 id=7 ""`},
		{
			&proto.Response{Seq: 5, Ack: 3, ID: 7, Error: &proto.Error{Code: proto.ErrCodeForbidden, Message: "no"}},
			`RESPONSE seq=5 ack=3 id=7 error=forbidden "no"`,
		},
		{
			&proto.Response{Seq: 5, Ack: 3, ID: 7, Error: &proto.Error{Code: 1001, Message: ""}},
			`RESPONSE seq=5 ack=3 id=7 error=app(1001) ""`,
		},
		{&proto.Close{Code: proto.CloseGoingAway, Reason: "restart"}, `CLOSE going-away "restart"`},
		{&proto.Close{Code: 3000}, `CLOSE close(3000) ""`},
		{&proto.Join{Seq: 6, Ack: 0, ID: 8, Room: "lobby"}, `JOIN seq=6 ack=0 id=8 room="lobby"`},
		{&proto.Leave{Seq: 7, Ack: 1, ID: 9, Room: "lobby"}, `LEAVE seq=7 ack=1 id=9 room="lobby"`},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%T.String() = %q, want %q", tt.f, got, tt.want)
		}
	}
}

// TestFrameStringOneLine feeds every user-controlled field a newline and
// checks that the rendering stays on one line (traces are line based).
func TestFrameStringOneLine(t *testing.T) {
	nl := "a\nb\r\n"
	frames := []proto.Frame{
		&proto.Hello{Version: 1, Resume: &proto.Resume{Token: []byte(nl)}, Auth: []byte(nl)},
		&proto.Welcome{Token: []byte(nl)},
		&proto.Data{Seq: 1, Payload: []byte(nl), Room: nl, Name: nl},
		&proto.Request{Seq: 1, Payload: []byte(nl), Name: nl},
		&proto.Publish{Seq: 1, Payload: []byte(nl), Room: nl, Name: nl},
		&proto.Response{Seq: 1, Payload: []byte(nl)},
		&proto.Response{Seq: 1, Error: &proto.Error{Code: 1, Message: nl}},
		&proto.Close{Code: proto.CloseNormal, Reason: nl},
		&proto.Join{Seq: 1, Room: nl},
		&proto.Leave{Seq: 1, Room: nl},
	}
	for _, f := range frames {
		if s := f.String(); strings.ContainsAny(s, "\r\n") {
			t.Errorf("%T.String() = %q spans lines", f, s)
		}
	}
}

func TestFrameTypeMethods(t *testing.T) {
	tests := []struct {
		f        proto.Frame
		name     string
		reliable bool
	}{
		{&proto.Hello{}, "HELLO", false},
		{&proto.Welcome{}, "WELCOME", false},
		{&proto.Ack{}, "ACK", false},
		{&proto.Heartbeat{}, "HEARTBEAT", false},
		{&proto.Data{}, "DATA", true},
		{&proto.Request{}, "REQUEST", true},
		{&proto.Response{}, "RESPONSE", true},
		{&proto.Close{}, "CLOSE", false},
		{&proto.Join{}, "JOIN", true},
		{&proto.Leave{}, "LEAVE", true},
		{&proto.Publish{}, "PUBLISH", true},
	}
	for i, tt := range tests {
		ft := tt.f.Type()
		// The wire values are frozen: HELLO is 1, and so on in this order.
		if want := proto.FrameType(i + 1); ft != want {
			t.Errorf("%T.Type() = %d, want %d", tt.f, ft, want)
		}
		if got := ft.String(); got != tt.name {
			t.Errorf("FrameType(%d).String() = %q, want %q", ft, got, tt.name)
		}
		if !ft.Valid() {
			t.Errorf("%s.Valid() = false", ft)
		}
		if got := ft.Reliable(); got != tt.reliable {
			t.Errorf("%s.Reliable() = %t, want %t", ft, got, tt.reliable)
		}
		r, isReliable := tt.f.(proto.Reliable)
		if isReliable != tt.reliable {
			t.Errorf("%T implements proto.Reliable = %t, want %t", tt.f, isReliable, tt.reliable)
		}
		if isReliable {
			if seq, ack := r.Header(); seq != 0 || ack != 0 {
				t.Errorf("%T.Header() of zero frame = %d, %d", tt.f, seq, ack)
			}
		}
	}
	if got := proto.TypePublish; got != 11 {
		t.Errorf("TypePublish = %d, want 11", got)
	}
	for _, ft := range []proto.FrameType{0, 12, 13, 200, 255} {
		if ft.Valid() {
			t.Errorf("FrameType(%d).Valid() = true", ft)
		}
		if ft.Reliable() {
			t.Errorf("FrameType(%d).Reliable() = true", ft)
		}
	}
	for ft, want := range map[proto.FrameType]string{0: "FrameType(0)", 12: "FrameType(12)", 255: "FrameType(255)"} {
		if got := ft.String(); got != want {
			t.Errorf("FrameType(%d).String() = %q, want %q", uint8(ft), got, want)
		}
	}
}

func TestHeader(t *testing.T) {
	frames := []proto.Reliable{
		&proto.Data{Seq: 11, Ack: 22},
		&proto.Request{Seq: 11, Ack: 22},
		&proto.Response{Seq: 11, Ack: 22},
		&proto.Join{Seq: 11, Ack: 22},
		&proto.Leave{Seq: 11, Ack: 22},
		&proto.Publish{Seq: 11, Ack: 22},
	}
	for _, f := range frames {
		if seq, ack := f.Header(); seq != 11 || ack != 22 {
			t.Errorf("%T.Header() = %d, %d, want 11, 22", f, seq, ack)
		}
	}
}

func TestCloseCode(t *testing.T) {
	tests := []struct {
		c         proto.CloseCode
		value     uint16
		name      string
		resumable bool
	}{
		{proto.CloseNormal, 1000, "normal", false},
		{proto.CloseGoingAway, 1001, "going-away", true},
		{proto.CloseProtocolError, 1002, "protocol-error", false},
		{proto.ClosePolicy, 1008, "policy", false},
		{proto.CloseTooLarge, 1009, "too-large", false},
		{proto.CloseSessionExpired, 4000, "session-expired", false},
		{proto.CloseOverloaded, 4001, "overloaded", true},
		{proto.CloseHandshakeTimeout, 4002, "handshake-timeout", true},
		{proto.CloseIdleTimeout, 4003, "idle-timeout", true},
		{proto.CloseUnsupportedVersion, 4004, "unsupported-version", false},
		{proto.CloseSuperseded, 4005, "superseded", false},
		{proto.CloseSecurity, 4006, "security", false},
		{0, 0, "close(0)", false},
		{1234, 1234, "close(1234)", false},
		{65535, 65535, "close(65535)", false},
	}
	for _, tt := range tests {
		if uint16(tt.c) != tt.value {
			t.Errorf("%s = %d, want %d (close codes are frozen)", tt.name, uint16(tt.c), tt.value)
		}
		if got := tt.c.String(); got != tt.name {
			t.Errorf("CloseCode(%d).String() = %q, want %q", tt.value, got, tt.name)
		}
		if got := tt.c.Resumable(); got != tt.resumable {
			t.Errorf("CloseCode(%d).Resumable() = %t, want %t", tt.value, got, tt.resumable)
		}
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		c     proto.ErrorCode
		value uint32
		name  string
	}{
		{proto.ErrCodeInternal, 1, "internal"},
		{proto.ErrCodeForbidden, 2, "forbidden"},
		{proto.ErrCodeNotFound, 3, "not-found"},
		{proto.ErrCodeBadRequest, 4, "bad-request"},
		{proto.ErrCodeUnavailable, 5, "unavailable"},
		{proto.ErrCodeLimit, 6, "limit"},
		{0, 0, "error(0)"},
		{7, 7, "error(7)"},
		{999, 999, "error(999)"},
		{proto.ErrCodeApplication, 1000, "app(1000)"},
		{1<<32 - 1, 1<<32 - 1, "app(4294967295)"},
	}
	for _, tt := range tests {
		if uint32(tt.c) != tt.value {
			t.Errorf("%s = %d, want %d (error codes are frozen)", tt.name, uint32(tt.c), tt.value)
		}
		if got := tt.c.String(); got != tt.name {
			t.Errorf("ErrorCode(%d).String() = %q, want %q", tt.value, got, tt.name)
		}
	}
}

func TestClientID(t *testing.T) {
	if got, want := testID.String(), "00010203-0405-0607-0809-0a0b0c0d0e0f"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var zero proto.ClientID
	if got, want := zero.String(), "00000000-0000-0000-0000-000000000000"; got != want {
		t.Errorf("zero String() = %q, want %q", got, want)
	}
	ff := proto.ClientID{}
	for i := range ff {
		ff[i] = 0xff
	}
	if got, want := ff.String(), "ffffffff-ffff-ffff-ffff-ffffffffffff"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !zero.IsZero() {
		t.Error("zero.IsZero() = false")
	}
	if testID.IsZero() {
		t.Error("testID.IsZero() = true")
	}
	if (proto.ClientID{15: 1}).IsZero() {
		t.Error("IsZero() ignores the last byte")
	}
}

func TestLimitsString(t *testing.T) {
	l := proto.Limits{MaxMessageSize: 65536, MaxInflight: 128, MaxRequests: 16}
	if got, want := l.String(), "msg=65536 inflight=128 req=16"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestPreview(t *testing.T) {
	tests := []struct {
		p    []byte
		want string
	}{
		{nil, `""`},
		{[]byte{}, `""`},
		{[]byte("hello world"), `"hello world"`},
		{[]byte(`say "hi"`), `"say \"hi\""`},
		{[]byte(strings.Repeat("a", 24)), `"` + strings.Repeat("a", 24) + `"`},
		{[]byte(strings.Repeat("a", 25)), "len=25"},
		{[]byte("tab\there"), "len=8"},
		{[]byte{0x7f}, "len=1"},
		{[]byte("héllo"), "len=6"}, // non-ASCII is shown by length
	}
	for _, tt := range tests {
		if got := proto.Preview(tt.p); got != tt.want {
			t.Errorf("Preview(%q) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func validWelcome() *proto.Welcome {
	return &proto.Welcome{
		Version: proto.Version, ID: testID, Token: make([]byte, proto.TokenLen),
		Heartbeat: 30 * time.Second, IdleTimeout: 90 * time.Second,
	}
}

func TestValidateAccepts(t *testing.T) {
	room255 := strings.Repeat("r", proto.MaxRoomLen)
	text255 := strings.Repeat("é", proto.MaxReasonLen/2) + "x" // 255 bytes, multi-byte runes
	frames := []proto.Frame{
		&proto.Hello{Version: 1},
		&proto.Hello{Version: 1, Auth: make([]byte, proto.MaxAuthLen)},
		&proto.Hello{Version: 1, Resume: &proto.Resume{ID: testID, Token: make([]byte, proto.MaxTokenLen), Ack: 9}},
		&proto.Hello{Version: 1, Resume: &proto.Resume{}}, // a zero ID is the server's problem, not a bound
		validWelcome(),
		func() proto.Frame {
			w := validWelcome()
			w.Token = make([]byte, proto.MaxTokenLen)
			w.Heartbeat, w.IdleTimeout = time.Millisecond, proto.MaxDuration
			return w
		}(),
		&proto.Ack{},
		&proto.Heartbeat{},
		&proto.Data{Seq: 1},
		&proto.Data{Seq: 1<<64 - 1, Ack: 1<<64 - 1, Payload: []byte("x"), Room: room255},
		&proto.Data{Seq: 1, Room: "ünïcödé 房间"},
		&proto.Request{Seq: 1},
		&proto.Response{Seq: 1},
		&proto.Response{Seq: 1, Payload: []byte{}},
		&proto.Response{Seq: 1, Error: &proto.Error{Code: proto.ErrCodeInternal, Message: text255}},
		&proto.Close{Code: proto.CloseNormal},
		&proto.Close{Code: proto.CloseNormal, Reason: text255},
		&proto.Join{Seq: 1, Room: "a"},
		&proto.Join{Seq: 1, Room: room255},
		&proto.Leave{Seq: 1, Room: "a"},
		&proto.Leave{Seq: 1, Room: room255},
	}
	if len(text255) != proto.MaxReasonLen {
		t.Fatalf("test bug: text255 has %d bytes", len(text255))
	}
	for _, f := range frames {
		if err := proto.Validate(f); err != nil {
			t.Errorf("Validate(%v) = %v, want nil", f, err)
		}
	}
}

// otherFrame is a Frame that is not one of the protocol's.
type otherFrame struct{}

func (otherFrame) Type() proto.FrameType { return 99 }
func (otherFrame) String() string        { return "OTHER" }

func TestValidateRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("r", n) }
	badUTF8 := "ok\xff\xfe"
	welcome := func(mod func(*proto.Welcome)) proto.Frame {
		w := validWelcome()
		mod(w)
		return w
	}
	tests := []struct {
		name string
		f    proto.Frame
	}{
		{"nil frame", nil},
		{"unknown frame", otherFrame{}},

		{"HELLO resume token too long", &proto.Hello{Version: 1, Resume: &proto.Resume{ID: testID, Token: make([]byte, proto.MaxTokenLen+1)}}},
		{"HELLO auth too long", &proto.Hello{Version: 1, Auth: make([]byte, proto.MaxAuthLen+1)}},

		{"WELCOME zero id", welcome(func(w *proto.Welcome) { w.ID = proto.ClientID{} })},
		{"WELCOME token too long", welcome(func(w *proto.Welcome) { w.Token = make([]byte, proto.MaxTokenLen+1) })},
		{"WELCOME heartbeat zero", welcome(func(w *proto.Welcome) { w.Heartbeat = 0 })},
		{"WELCOME heartbeat negative", welcome(func(w *proto.Welcome) { w.Heartbeat = -time.Second })},
		{"WELCOME heartbeat below 1ms", welcome(func(w *proto.Welcome) { w.Heartbeat = time.Millisecond - 1 })},
		{"WELCOME heartbeat above max", welcome(func(w *proto.Welcome) { w.Heartbeat = proto.MaxDuration + time.Millisecond })},
		{"WELCOME idle zero", welcome(func(w *proto.Welcome) { w.IdleTimeout = 0 })},
		{"WELCOME idle below 1ms", welcome(func(w *proto.Welcome) { w.IdleTimeout = time.Microsecond })},
		{"WELCOME idle above max", welcome(func(w *proto.Welcome) { w.IdleTimeout = proto.MaxDuration + 1 })},

		{"DATA seq 0", &proto.Data{Seq: 0, Payload: []byte("x")}},
		{"DATA room too long", &proto.Data{Seq: 1, Room: long(proto.MaxRoomLen + 1)}},
		{"DATA room invalid UTF-8", &proto.Data{Seq: 1, Room: badUTF8}},

		{"REQUEST seq 0", &proto.Request{Seq: 0}},

		{"RESPONSE seq 0", &proto.Response{Seq: 0}},
		{"RESPONSE payload and error", &proto.Response{Seq: 1, Payload: []byte("x"), Error: &proto.Error{Code: 1}}},
		{"RESPONSE empty payload and error", &proto.Response{Seq: 1, Payload: []byte{}, Error: &proto.Error{Code: 1}}},
		{"RESPONSE error message too long", &proto.Response{Seq: 1, Error: &proto.Error{Code: 1, Message: long(proto.MaxReasonLen + 1)}}},
		{"RESPONSE error message invalid UTF-8", &proto.Response{Seq: 1, Error: &proto.Error{Code: 1, Message: badUTF8}}},

		{"CLOSE reason too long", &proto.Close{Code: proto.CloseNormal, Reason: long(proto.MaxReasonLen + 1)}},
		{"CLOSE reason invalid UTF-8", &proto.Close{Code: proto.CloseNormal, Reason: badUTF8}},

		{"JOIN seq 0", &proto.Join{Seq: 0, Room: "a"}},
		{"JOIN empty room", &proto.Join{Seq: 1, Room: ""}},
		{"JOIN room too long", &proto.Join{Seq: 1, Room: long(proto.MaxRoomLen + 1)}},
		{"JOIN room invalid UTF-8", &proto.Join{Seq: 1, Room: badUTF8}},

		{"LEAVE seq 0", &proto.Leave{Seq: 0, Room: "a"}},
		{"LEAVE empty room", &proto.Leave{Seq: 1, Room: ""}},
		{"LEAVE room too long", &proto.Leave{Seq: 1, Room: long(proto.MaxRoomLen + 1)}},
		{"LEAVE room invalid UTF-8", &proto.Leave{Seq: 1, Room: badUTF8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := proto.Validate(tt.f)
			if err == nil {
				t.Fatalf("Validate(%v) = nil, want an error", tt.f)
			}
			if !errors.Is(err, proto.ErrInvalid) {
				t.Fatalf("Validate(%v) = %v, not wrapping proto.ErrInvalid", tt.f, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

// TestValidateMessages pins a few error texts: they name the frame type and
// the offending field.
func TestValidateMessages(t *testing.T) {
	tests := []struct {
		f    proto.Frame
		want string
	}{
		{&proto.Data{Seq: 0}, "proto: invalid frame: DATA: seq 0"},
		{&proto.Join{Seq: 1}, "proto: invalid frame: JOIN: empty room"},
		{&proto.Data{Seq: 1, Room: strings.Repeat("r", 256)}, "proto: invalid frame: DATA: room of 256 bytes exceeds 255"},
		{&proto.Close{Reason: "\xff"}, "proto: invalid frame: CLOSE: reason is not valid UTF-8"},
		{&proto.Response{Seq: 1, Payload: []byte{}, Error: &proto.Error{}}, "proto: invalid frame: RESPONSE: both payload and error"},
	}
	for _, tt := range tests {
		if err := proto.Validate(tt.f); err == nil || err.Error() != tt.want {
			t.Errorf("Validate(%v) = %v, want %q", tt.f, err, tt.want)
		}
	}
}
