// Package proto defines wire protocol version 1 of better-socket: the frame
// types, their fields, and the close and error codes. It holds plain Go types
// and validation helpers only; turning frames into bytes is the job of package
// codec, and acting on them is the job of package session.
//
// # Frames
//
// A frame is one protocol unit. On the wire it is a CBOR array whose first
// element is the frame type (see package codec). One transport message carries
// one or more frames back to back.
//
//	type       from  fields after the type
//	HELLO      C     version, resume?, auth?, limits
//	WELCOME    S     version, client id, token, heartbeat, idle timeout, resumed, ack, limits
//	ACK        both  ack
//	HEARTBEAT  both  ack, echo
//	DATA       both  seq, ack, payload, room, name?
//	REQUEST    both  seq, ack, request id, payload, name?
//	RESPONSE   both  seq, ack, request id, payload, error?
//	CLOSE      both  code, reason
//	JOIN       C     seq, ack, request id, room
//	LEAVE      C     seq, ack, request id, room
//	PUBLISH    C     seq, ack, request id, room, payload, name?
//
// DATA, REQUEST, RESPONSE, JOIN, LEAVE and PUBLISH are reliable: they carry a sequence
// number, stay in the sender's buffer until acknowledged and are retransmitted
// as needed. Every reliable frame and every HEARTBEAT piggybacks the
// cumulative ack of the sender: the highest sequence number up to which it
// has received everything from the peer. WELCOME is sequence 0 of the server;
// the first reliable frame of each side is sequence 1.
//
// JOIN and LEAVE are this implementation's answer to "a client may ask to
// join or leave a room": they are requests with a fixed meaning, answered by
// an ordinary RESPONSE (empty payload on success, an error with
// [ErrCodeForbidden] when the server application refuses). PUBLISH is the
// same kind of request: a client asks the server to deliver a message to the
// other members of a room it is in, and learns from the RESPONSE whether it
// was refused.
//
// # Names
//
// DATA, REQUEST and PUBLISH carry an optional name: the event a message is
// about, or the method a request calls. Receivers route by it. A name is
// valid UTF-8 of 1 to [MaxNameLen] bytes; the empty name means "unnamed" and
// is left off the wire, so an unnamed frame is encoded exactly as before
// names existed.
package proto
