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
// agree on the codec. Decoding is strict: a payload with a field the
// receiving struct does not have, or of another shape, is an error, not a
// zero value (see codec.CBOR).

// ownedPeer is implemented by the library's peers: the typed helpers hand
// over freshly encoded payloads without the defensive copy.
type ownedPeer interface {
	sendOwned(ctx context.Context, name string, payload []byte) error
	requestOwned(ctx context.Context, name string, payload []byte) ([]byte, error)
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
	return emit(ctx, p, "", orCBOR(c), v)
}

// Emit encodes v with CBOR and sends it to p as a message named event,
// which the receiver's [Mux] routes to the handler registered with
// [HandleEvent] (or [Mux.HandleMessage]) for event.
func Emit[T any](ctx context.Context, p Peer, event string, v T) error {
	return emit(ctx, p, event, codec.CBOR[T](), v)
}

func emit[T any](ctx context.Context, p Peer, event string, c codec.Codec[T], v T) error {
	b, err := c.Marshal(v)
	if err != nil {
		return err
	}
	if op, ok := p.(ownedPeer); ok {
		return op.sendOwned(ctx, event, b)
	}
	return p.Emit(ctx, event, b)
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
	return invoke(ctx, p, "", orCBOR(rc), orCBOR(pc), req)
}

// Invoke encodes req with CBOR, sends it to p as a request for method, and
// decodes the response as a Resp: adapters.Invoke[Quote, Price](ctx,
// client, "quote", q). The receiver's [Mux] routes it to the handler
// registered with [HandleMethod] for method; a method it has no handler
// for fails with a [*session.RemoteError] of code proto.ErrCodeNotFound,
// and a req the handler's type does not accept with proto.ErrCodeBadRequest.
// Other errors are those of [Call].
func Invoke[Req, Resp any](ctx context.Context, p Peer, method string, req Req) (Resp, error) {
	return invoke(ctx, p, method, codec.CBOR[Req](), codec.CBOR[Resp](), req)
}

func invoke[Req, Resp any](ctx context.Context, p Peer, method string, rc codec.Codec[Req], pc codec.Codec[Resp], req Req) (Resp, error) {
	var zero Resp
	b, err := rc.Marshal(req)
	if err != nil {
		return zero, err
	}
	var resp []byte
	if op, ok := p.(ownedPeer); ok {
		resp, err = op.requestOwned(ctx, method, b)
	} else {
		resp, err = p.Invoke(ctx, method, b)
	}
	if err != nil {
		return zero, err
	}
	return pc.Unmarshal(resp)
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
	return s.broadcastOwned(ctx, room, "", proto.ClientID{}, b)
}

// BroadcastEvent encodes v with CBOR and broadcasts it to room as a
// message named event (see [Server.BroadcastEvent]).
func BroadcastEvent[T any](ctx context.Context, s *Server, room, event string, v T) error {
	b, err := codec.CBOR[T]().Marshal(v)
	if err != nil {
		return err
	}
	return s.broadcastOwned(ctx, room, event, proto.ClientID{}, b)
}

// Publish encodes v with CBOR and publishes it to room as a message named
// event (see [Client.Publish]): every other member gets it.
func Publish[T any](ctx context.Context, c *Client, room, event string, v T) error {
	b, err := codec.CBOR[T]().Marshal(v)
	if err != nil {
		return err
	}
	return c.publishOwned(ctx, room, event, b)
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

// HandleEvent registers fn with mux for messages named event: each payload
// is decoded into a T with CBOR and handed to fn, as [HandleMessage] does
// (a payload that does not decode gives fn the zero T and the error).
func HandleEvent[T any](mux *Mux, event string, fn func(ctx context.Context, m Message, v T, err error)) {
	mux.HandleMessage(event, HandleMessage(nil, fn))
}

// HandleMethod registers fn with mux for requests naming method, as
// [HandleRequest] with CBOR both ways: a request whose payload does not
// decode into a Req is answered with proto.ErrCodeBadRequest without
// calling fn.
func HandleMethod[Req, Resp any](mux *Mux, method string, fn func(ctx context.Context, r Request, v Req) (Resp, error)) {
	mux.HandleRequest(method, HandleRequest(nil, nil, fn))
}

// errBadPayload answers a request whose payload does not decode. Its text
// is fixed: the decoder's error names the server's Go types.
var errBadPayload = &session.RemoteError{Code: proto.ErrCodeBadRequest, Message: "payload does not match the request type"}

// HandleRequest returns a RequestHandler that decodes each request payload
// into a Req with rc (nil: CBOR), calls fn, and encodes its result with pc
// (nil: CBOR). A request that does not decode (a field Req does not have,
// another shape) is answered with an error response of code
// proto.ErrCodeBadRequest, without calling fn; its message says only that
// the payload does not match, never the server's types. Errors from fn are
// answered as [RequestHandler] describes.
func HandleRequest[Req, Resp any](rc codec.Codec[Req], pc codec.Codec[Resp], fn func(ctx context.Context, r Request, v Req) (Resp, error)) RequestHandler {
	rc, pc = orCBOR(rc), orCBOR(pc)
	return func(ctx context.Context, r Request) ([]byte, error) {
		v, err := rc.Unmarshal(r.Payload)
		if err != nil {
			return nil, errBadPayload
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
