// Package codec turns protocol frames into bytes and back.
//
// A frame is encoded as a CBOR array (RFC 8949) whose first element is the
// frame type, followed by the frame's fields in a fixed order; the encoding is
// deterministic (the same frame always gives the same bytes) and frozen by
// the golden files under testdata/. A transport message carries one or more
// frames back to back as a CBOR sequence (RFC 8742): [Encoder.Append] packs
// them, [Decoder] takes them apart.
//
// Decoding is defensive. The message size is checked before anything is
// read; CBOR nesting depth and element counts are capped; every length is
// checked against the bytes actually present before anything is allocated;
// indefinite lengths and tags are refused. Any malformed input gives a
// [*DecodeError] that wraps one of the sentinel errors ([ErrTooLarge],
// [ErrMalformed], [ErrUnknownType], [ErrTrailingBytes], [ErrEmpty]) and never
// panics.
//
// The field layouts (after the type):
//
//	HELLO      [1, version, resume|null, auth|null, limits]
//	           resume = [id(16 bytes), token, ack, attempt]; limits = [max message, max inflight, max requests]
//	WELCOME    [2, version, id, token, heartbeat ms, idle ms, resumed, ack, limits]
//	ACK        [3, ack]
//	HEARTBEAT  [4, ack, echo]
//	DATA       [5, seq, ack, payload, room]          or [5, seq, ack, payload, room, name]
//	REQUEST    [6, seq, ack, id, payload]            or [6, seq, ack, id, payload, name]
//	RESPONSE   [7, seq, ack, id, payload|null, error|null]   error = [code, message]
//	CLOSE      [8, code, reason]
//	JOIN       [9, seq, ack, id, room]
//	LEAVE      [10, seq, ack, id, room]
//	PUBLISH    [11, seq, ack, id, room, payload]     or [11, seq, ack, id, room, payload, name]
//
// The name of DATA, REQUEST and PUBLISH (a text string, the event or method
// name) is present exactly when it is not empty: an unnamed frame has one
// element less, and a named form whose name is empty is malformed, so that
// every frame has one encoding.
package codec
