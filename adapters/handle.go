package adapters

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// handle runs the application's handler for one event, on an event queue's
// goroutine, with ctx (the driver's, or the one of a reader that runs its
// session's handlers inline); last says no other event of the queue is
// waiting.
func (d *driver) handle(ctx context.Context, ev session.Event, last bool) {
	switch ev := ev.(type) {
	case *session.Delivered:
		if d.h.msg != nil {
			// Built before the identity is looked up rather than around
			// it, so that the fields are written well before the message
			// is copied into the handler's arguments: a copy right after
			// the writes stalls on them.
			m := Message{Client: ev.Client, Room: ev.Room, Name: ev.Name, Seq: ev.Seq, Payload: ev.Payload}
			m.Identity = d.identity(ev.Client)
			d.h.msg(ctx, m)
		}
	case *session.RequestReceived:
		d.answer(ctx, ev, last)
	default:
		if d.h.ev != nil {
			d.h.ev(ctx, ev)
		}
		if sc, ok := ev.(*session.SessionClosed); ok {
			if e, ok := d.eng.(*serverEngine); ok && e.auth != nil {
				e.ids.forget(sc.Client)
			}
		}
	}
}

// identity is the identity of a server's session client (identity.go);
// zero on a client or without ServerOptions.Authenticate.
func (d *driver) identity(client proto.ClientID) Identity {
	if e, ok := d.eng.(*serverEngine); ok && e.auth != nil {
		id, _ := e.ids.get(client)
		return id
	}
	return Identity{}
}

// answer runs the request handler and steps its reply (see driver.reply).
func (d *driver) answer(ctx context.Context, ev *session.RequestReceived, last bool) {
	rep := session.Reply{To: ev.Client, ID: ev.ID}
	if d.h.req == nil {
		rep.Err = remoteError(errNoRequestHandler)
	} else {
		payload, err := d.h.req(ctx, Request{Client: ev.Client, ID: ev.ID, Name: ev.Name, Payload: ev.Payload, Identity: d.identity(ev.Client)})
		if err != nil {
			rep.Err = remoteError(err)
			if rep.Err.Code == proto.ErrCodeInternal && !isRemote(err) {
				// The peer gets a bare "internal error"; the details stay here.
				d.log.Warn("request handler failed", "client", ev.Client.String(), "method", ev.Name, "err", err)
			}
		} else {
			rep.Payload = payload
		}
	}
	d.reply(rep, last)
}

var errNoRequestHandler = &session.RemoteError{Code: proto.ErrCodeUnavailable, Message: "no request handler"}

func isRemote(err error) bool {
	var re *session.RemoteError
	return errors.As(err, &re)
}

// remoteError turns a handler's error into the error response it sends. A
// [*session.RemoteError] is sent as it is; any other error could carry
// server internals (type names, paths, queries), so the peer gets only
// "internal error".
func remoteError(err error) *proto.Error {
	var re *session.RemoteError
	if errors.As(err, &re) {
		return &proto.Error{Code: re.Code, Message: truncate(re.Message, proto.MaxReasonLen)}
	}
	return &proto.Error{Code: proto.ErrCodeInternal, Message: "internal error"}
}

// truncate makes s valid UTF-8 of at most n bytes.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
