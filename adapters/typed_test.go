package adapters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

type quote struct {
	Symbol string
	Qty    int
}

type price struct {
	Symbol string
	Cents  int64
}

func priceOf(_ context.Context, _ Request, q quote) (price, error) {
	if q.Qty <= 0 {
		return price{}, &session.RemoteError{Code: proto.ErrCodeApplication, Message: "quantity must be positive"}
	}
	return price{Symbol: q.Symbol, Cents: int64(q.Qty) * 150}, nil
}

func TestTypedCall(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{OnRequest: HandleRequest(nil, nil, priceOf)})
	c := h.dial(ctx, ClientOptions{})

	p, err := Call[quote, price](ctx, c, quote{Symbol: "ABC", Qty: 3})
	if err != nil || p != (price{Symbol: "ABC", Cents: 450}) {
		t.Fatalf("call: %+v, %v", p, err)
	}
	_, err = Call[quote, price](ctx, c, quote{Symbol: "ABC"})
	var re *session.RemoteError
	if !errors.As(err, &re) || re.Code != proto.ErrCodeApplication || re.Message != "quantity must be positive" {
		t.Fatalf("call with no quantity: %v", err)
	}
	// A request that is not a quote is answered with bad-request.
	_, err = c.Request(ctx, []byte("not cbor at all"))
	if !errors.As(err, &re) || re.Code != proto.ErrCodeBadRequest || re.Message != "payload does not match the request type" {
		t.Fatalf("undecodable request: %v", err)
	}
	// A response of the wrong type is an error for the caller, not a panic.
	_, err = Call[quote, []string](ctx, c, quote{Symbol: "ABC", Qty: 1})
	if !errors.Is(err, codec.ErrPayload) {
		t.Fatalf("response of the wrong type: %v", err)
	}
	closeAll(ctx, t, h, c)
}

func TestTypedJSONBothWays(t *testing.T) {
	ctx := testCtx(t)
	got := newCollector()
	h := newHarness(t, ServerOptions{
		OnMessage: HandleMessage(codec.JSON[quote](), func(_ context.Context, m Message, q quote, err error) {
			if err != nil {
				got.add("error: " + err.Error())
				return
			}
			got.add(fmt.Sprintf("%s×%d", q.Symbol, q.Qty))
		}),
	})
	c := h.dial(ctx, ClientOptions{
		OnRequest: HandleRequest(codec.JSON[quote](), codec.JSON[price](), priceOf),
	})
	if err := SendCodec(ctx, c, codec.JSON[quote](), quote{Symbol: "X", Qty: 2}); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, []byte("{broken")); err != nil {
		t.Fatal(err)
	}
	msgs := got.wait(ctx, t, 2)
	if msgs[0] != "X×2" || !strings.HasPrefix(msgs[1], "error: codec: bad payload: json:") {
		t.Fatalf("server got %q", msgs)
	}
	// The server calls the client through its Peer.
	p, err := CallCodec(ctx, h.srv.Peer(c.ID()), codec.JSON[quote](), codec.JSON[price](), quote{Symbol: "Y", Qty: 1})
	if err != nil || p != (price{Symbol: "Y", Cents: 150}) {
		t.Fatalf("server call: %+v, %v", p, err)
	}
	resp, err := h.srv.Peer(c.ID()).Request(ctx, []byte(`{"Symbol":"Z","Qty":2}`))
	if err != nil || string(resp) != `{"Symbol":"Z","Cents":300}` {
		t.Fatalf("raw request through the peer: %s, %v", resp, err)
	}
	closeAll(ctx, t, h, c)
}

func TestTypedSendAndBroadcast(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, ServerOptions{Session: session.ServerConfig{AllowRoom: func(session.RoomRequest) bool { return true }}})
	got := newCollector()
	c := h.dial(ctx, ClientOptions{OnMessage: HandleMessage(nil, func(_ context.Context, m Message, q quote, err error) {
		got.add(fmt.Sprintf("%q %s %d %v", m.Room, q.Symbol, q.Qty, err))
	})})
	if err := c.Join(ctx, "ticker"); err != nil {
		t.Fatal(err)
	}
	if err := Send(ctx, h.srv.Peer(c.ID()), quote{Symbol: "A", Qty: 1}); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Peer(c.ID()).Send(ctx, []byte{0xff}); err != nil {
		t.Fatal(err)
	}
	if err := Broadcast(ctx, h.srv, "ticker", quote{Symbol: "B", Qty: 2}); err != nil {
		t.Fatal(err)
	}
	if err := Send(ctx, c, make(chan int)); !errors.Is(err, codec.ErrPayload) {
		t.Fatalf("sending what does not encode: %v", err)
	}
	msgs := got.wait(ctx, t, 3)
	want := []string{`"" A 1 <nil>`, `""  0 codec: bad payload: cbor: decoding adapters.quote: cbor: unexpected "break" code`, `"ticker" B 2 <nil>`}
	if !slices.Equal(msgs, want) {
		t.Fatalf("client got\n%q\nwant\n%q", msgs, want)
	}
	closeAll(ctx, t, h, c)
}
