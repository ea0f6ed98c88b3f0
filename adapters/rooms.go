package adapters

import (
	"maps"
	"slices"
	"sync"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// Rooms that survive a lost session, on the client. The server's
// membership belongs to a session: when a session is lost (the server
// restarted, the resume window passed) the new one is in no room. The
// client remembers the rooms its Joins entered (and its Leaves left), and
// when a new session replaces a lost one it asks the server to re-join
// each of them, then reports the outcome in one [*session.RoomsRejoined]
// event. A broadcast sent before the re-join completes does not reach the
// new session: the SessionLost event is where the application learns that
// something may be missing.

// roomBook is what a client knows of its rooms; driver lock.
type roomBook struct {
	joined    map[string]struct{} // confirmed by the server, in this session
	lost      []string            // a lost session's rooms, re-joined by the next
	rejoining map[string]struct{} // asked for again, no outcome yet
}

// Rooms returns the rooms this client's session is in as far as it knows:
// those its Join entered and no Leave left since, and those re-joined
// after a lost session, in name order. A Join whose outcome was
// session.ErrSessionLost or ctx.Err() is not counted (the server may or
// may not have seen it), nor is a room the server removed the session
// from on its own.
func (c *Client) Rooms() []string {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	return slices.Sorted(maps.Keys(c.eng.rooms.joined))
}

// noteRoom records the outcome of o, when a JoinRoom or LeaveRoom, whose
// response is r; lock held, before the driver resolves it.
func (e *clientEngine) noteRoom(o *op, r *session.Response) {
	if r.Err != nil {
		return
	}
	b := &e.rooms
	switch in := o.in.(type) {
	case session.JoinRoom:
		if b.joined == nil {
			b.joined = make(map[string]struct{})
		}
		b.joined[in.Room] = struct{}{}
	case session.LeaveRoom:
		delete(b.joined, in.Room)
	}
}

// sessionLost remembers the lost session's rooms (and those it was still
// re-joining) for the next session; lock held.
func (e *clientEngine) sessionLost() {
	b := &e.rooms
	for r := range b.rejoining {
		if b.joined == nil {
			b.joined = make(map[string]struct{})
		}
		b.joined[r] = struct{}{}
	}
	b.lost = slices.Sorted(maps.Keys(b.joined))
	clear(b.joined)
}

// sessionStarted re-joins the rooms of the session it replaces, on a
// goroutine of its own; lock held.
func (e *clientEngine) sessionStarted(id proto.ClientID) {
	b := &e.rooms
	rooms := b.lost
	b.lost = nil
	if len(rooms) == 0 || e.d.ended {
		return
	}
	if b.rejoining == nil {
		b.rejoining = make(map[string]struct{})
	}
	for _, r := range rooms {
		b.rejoining[r] = struct{}{}
	}
	e.d.wg.Add(1)
	go e.rejoin(id, rooms)
}

// rejoin asks the server to join rooms, all at once, and reports the
// outcome as one RoomsRejoined event of session id.
func (e *clientEngine) rejoin(id proto.ClientID, rooms []string) {
	d := e.d
	defer d.wg.Done()
	errs := make([]error, len(rooms))
	var wg sync.WaitGroup
	for i, room := range rooms {
		wg.Go(func() { errs[i] = d.request(d.ctx, proto.ClientID{}, session.JoinRoom{Room: room}).err })
	}
	wg.Wait()
	ev := &session.RoomsRejoined{Client: id}
	for i, room := range rooms {
		if errs[i] == nil {
			ev.Rejoined = append(ev.Rejoined, room)
		} else {
			ev.Refused = append(ev.Refused, session.RoomRefused{Room: room, Err: errs[i]})
		}
	}
	d.lock()
	for _, r := range rooms {
		delete(e.rooms.rejoining, r)
	}
	if !d.ended {
		d.log.Info("rooms rejoined", "client", id.String(), "rejoined", len(ev.Rejoined), "refused", len(ev.Refused))
		if d.h.ev != nil {
			e.q.push(ev)
		}
	}
	d.unlock()
}
