package adapters

import (
	"context"
	"slices"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Flush waits until the server has acknowledged everything this client
// queued before the call: messages, requests and responses. Acknowledged
// means received by the server's machine, not handled (a request may
// still be unanswered). It returns nil then; session.ErrSessionLost when
// the session was lost first (the [*session.SessionLost] event lists what
// was not acknowledged); session.ErrClosed when the client ended first; or
// ctx.Err() when ctx ended first. What is sent after the call is not
// waited for, and Flush does not stop anyone sending; across a reconnect
// it keeps waiting for the resumed session's acknowledgements.
func (c *Client) Flush(ctx context.Context) error {
	return c.d.flush(ctx, proto.ClientID{})
}

// Flush waits until the session client has acknowledged everything the
// server queued for it before the call (messages, broadcasts to its rooms,
// requests and responses), as [Client.Flush] does. It fails with
// session.ErrUnknownClient when there is no such session, and with
// session.ErrSessionLost when the session ends first; a detached session
// is waited for until it resumes or expires.
func (s *Server) Flush(ctx context.Context, client proto.ClientID) error {
	return s.d.flush(ctx, client)
}

// flushWait is a Flush waiting for the peer of session id to acknowledge
// up to mark.
type flushWait struct {
	id   proto.ClientID
	mark uint64
	res  chan error // buffered: the one outcome is sent under the lock
}

// flush waits until session id (zero: the client's current one) has
// acknowledged what is queued now.
func (d *driver) flush(ctx context.Context, id proto.ClientID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.lock()
	if d.ended {
		d.unlock()
		return session.ErrClosed
	}
	client := id == proto.ClientID{}
	id, sent, acked, ok := d.eng.acked(id)
	if !ok {
		d.unlock()
		if client {
			return session.ErrSessionLost // between a lost session and the next
		}
		return session.ErrUnknownClient
	}
	if acked >= sent {
		d.unlock()
		return nil
	}
	w := &flushWait{id: id, mark: sent, res: make(chan error, 1)}
	d.flushes = append(d.flushes, w)
	d.unlock()
	select {
	case err := <-w.res:
		return err
	case <-ctx.Done():
	}
	d.lock()
	if i := slices.Index(d.flushes, w); i >= 0 {
		d.flushes = slices.Delete(d.flushes, i, i+1)
	}
	d.unlock()
	select {
	case err := <-w.res: // decided before it was taken out
		return err
	default:
		return ctx.Err()
	}
}

// checkFlushes gives the waiting Flushes whose marks are acknowledged, or
// whose sessions are gone, their outcome; lock held.
func (d *driver) checkFlushes() {
	live := d.flushes[:0]
	for _, w := range d.flushes {
		id, _, acked, ok := d.eng.acked(w.id)
		switch {
		case !ok || id != w.id:
			w.res <- session.ErrSessionLost
		case acked >= w.mark:
			w.res <- nil
		default:
			live = append(live, w)
		}
	}
	clear(d.flushes[len(live):])
	d.flushes = live
}

// endFlushes fails every waiting Flush as the driver ends; lock held.
func (d *driver) endFlushes() {
	for _, w := range d.flushes {
		w.res <- session.ErrClosed
	}
	d.flushes = nil
}

func (e *clientEngine) acked(id proto.ClientID) (proto.ClientID, uint64, uint64, bool) {
	cur := e.m.ID()
	if (id != proto.ClientID{} && id != cur) || (cur == proto.ClientID{}) {
		return cur, 0, 0, false
	}
	sent, acked := e.m.Acked()
	return cur, sent, acked, true
}

func (e *serverEngine) acked(id proto.ClientID) (proto.ClientID, uint64, uint64, bool) {
	sent, acked, ok := e.m.Acked(id)
	return id, sent, acked, ok
}
