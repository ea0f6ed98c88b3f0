package adapters

import "github.com/bettersocket/bettersocket/proto"

// The writer's batching looks at the first bytes of the messages the
// machine emits. Every frame is a CBOR array whose first element is the
// frame type, a small unsigned integer (codec/doc.go has the layouts): a
// message starts with an array header byte 0x80|n and the type byte.

// ackOnly reports whether msg is exactly one ACK frame: [3, ack].
func ackOnly(msg []byte) bool {
	if len(msg) < 3 || msg[0] != 0x82 || msg[1] != byte(proto.TypeAck) {
		return false
	}
	// The length of the unsigned integer ack by its CBOR initial byte.
	switch b := msg[2]; {
	case b < 24:
		return len(msg) == 3
	case b == 24:
		return len(msg) == 4
	case b == 25:
		return len(msg) == 5
	case b == 26:
		return len(msg) == 7
	case b == 27:
		return len(msg) == 11
	}
	return false
}

// carriesAck reports whether the first frame of msg carries the sender's
// cumulative acknowledgement, which is never lower than that of a frame
// queued before it on the same connection.
func carriesAck(msg []byte) bool {
	if len(msg) < 2 || msg[0]&0xe0 != 0x80 {
		return false
	}
	switch proto.FrameType(msg[1]) {
	case proto.TypeWelcome, proto.TypeAck, proto.TypeHeartbeat, proto.TypeData,
		proto.TypeRequest, proto.TypeResponse, proto.TypeJoin, proto.TypeLeave:
		return true
	}
	return false
}

// coalesce joins consecutive messages into transport messages of at most
// max bytes (a message is a sequence of frames, so the concatenation of two
// is one that holds the frames of both). It reuses msgs for the result.
// With max 0 (the peer's limit is not known yet) it changes nothing.
func coalesce(msgs [][]byte, max int) [][]byte {
	if max <= 0 || len(msgs) < 2 {
		return msgs
	}
	out := msgs[:0]
	for i := 0; i < len(msgs); {
		j, size := i+1, len(msgs[i])
		for j < len(msgs) && size+len(msgs[j]) <= max {
			size += len(msgs[j])
			j++
		}
		if j == i+1 {
			out = append(out, msgs[i])
		} else {
			joined := make([]byte, 0, size)
			for _, m := range msgs[i:j] {
				joined = append(joined, m...)
			}
			out = append(out, joined)
		}
		i = j
	}
	return out
}
