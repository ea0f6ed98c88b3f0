package adapters

import (
	"context"
	"fmt"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// The typed helpers let applications send and receive their own types. A
// nil codec means codec.CBOR; pass codec.JSON[T]() (or your own
// codec.Codec[T]) to choose another encoding. Both sides of a message must
// agree on the codec.

// ownedPeer is implemented by the library's peers: the typed helpers hand
// over freshly encoded payloads without the defensive copy.
type ownedPeer interface {
	sendOwned(ctx context.Context, payload []byte) error
	requestOwned(ctx context.Context, payload []byte) ([]byte, error)
}

func orCBOR[T any](c codec.Codec[T]) codec.Codec[T] {
	if c == nil {
		return codec.CBOR[T]()
	}
	return c
}

// Send encodes v with CBOR and sends it to p (see [Client.Send]).
func Send[T any](ctx context.Context, p Peer, v T) error {
	return SendCodec(ctx, p, nil, v)
}

// SendCodec encodes v with c and sends it to p.
func SendCodec[T any](ctx context.Context, p Peer, c codec.Codec[T], v T) error {
	b, err := orCBOR(c).Marshal(v)
	if err != nil {
		return err
	}
	if op, ok := p.(ownedPeer); ok {
		return op.sendOwned(ctx, b)
	}
	return p.Send(ctx, b)
}

// Call encodes req with CBOR, sends it to p as a request and decodes the
// response as a Resp: adapters.Call[Quote, Price](ctx, client, q). Errors
// are those of [Client.Request], plus codec.ErrPayload when req does not
// encode or the response does not decode into a Resp.
func Call[Req, Resp any](ctx context.Context, p Peer, req Req) (Resp, error) {
	return CallCodec[Req, Resp](ctx, p, nil, nil, req)
}

// CallCodec is Call with explicit codecs for the request and the response.
func CallCodec[Req, Resp any](ctx context.Context, p Peer, rc codec.Codec[Req], pc codec.Codec[Resp], req Req) (Resp, error) {
	var zero Resp
	b, err := orCBOR(rc).Marshal(req)
	if err != nil {
		return zero, err
	}
	var resp []byte
	if op, ok := p.(ownedPeer); ok {
		resp, err = op.requestOwned(ctx, b)
	} else {
		resp, err = p.Request(ctx, b)
	}
	if err != nil {
		return zero, err
	}
	return orCBOR(pc).Unmarshal(resp)
}

// Broadcast encodes v with CBOR and broadcasts it to room (see
// [Server.Broadcast]).
func Broadcast[T any](ctx context.Context, s *Server, room string, v T) error {
	return BroadcastCodec(ctx, s, room, nil, v)
}

// BroadcastCodec encodes v with c and broadcasts it to room.
func BroadcastCodec[T any](ctx context.Context, s *Server, room string, c codec.Codec[T], v T) error {
	b, err := orCBOR(c).Marshal(v)
	if err != nil {
		return err
	}
	return s.broadcastOwned(ctx, room, proto.ClientID{}, b)
}

// HandleMessage returns a MessageHandler that decodes each payload into a T
// with c (nil: CBOR) and calls fn. A payload that does not decode is not
// dropped in silence: fn gets the zero T and the error (which wraps
// codec.ErrPayload), as filepath.WalkFunc gets its errors.
func HandleMessage[T any](c codec.Codec[T], fn func(ctx context.Context, m Message, v T, err error)) MessageHandler {
	c = orCBOR(c)
	return func(ctx context.Context, m Message) {
		v, err := c.Unmarshal(m.Payload)
		fn(ctx, m, v, err)
	}
}

// HandleRequest returns a RequestHandler that decodes each request payload
// into a Req with rc (nil: CBOR), calls fn, and encodes its result with pc
// (nil: CBOR). A request that does not decode is answered with an error
// response of code proto.ErrCodeBadRequest, without calling fn; errors from
// fn are answered as [RequestHandler] describes.
func HandleRequest[Req, Resp any](rc codec.Codec[Req], pc codec.Codec[Resp], fn func(ctx context.Context, r Request, v Req) (Resp, error)) RequestHandler {
	rc, pc = orCBOR(rc), orCBOR(pc)
	return func(ctx context.Context, r Request) ([]byte, error) {
		v, err := rc.Unmarshal(r.Payload)
		if err != nil {
			return nil, &session.RemoteError{Code: proto.ErrCodeBadRequest, Message: err.Error()}
		}
		resp, err := fn(ctx, r, v)
		if err != nil {
			return nil, err
		}
		b, err := pc.Marshal(resp)
		if err != nil {
			return nil, fmt.Errorf("adapters: encoding the response: %w", err)
		}
		return b, nil
	}
}
