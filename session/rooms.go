package session

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// room is a server-side set of sessions. Members are kept in a slice in
// join order (with swap-removal), so a broadcast visits them in an order that
// depends only on the inputs.
type room struct {
	name    string
	members []*serverSession
}

// BroadcastError reports the members a broadcast skipped because their
// send window was full (with CloseSlowConsumers off). Everyone else got the
// message. errors.Is(err, ErrBackpressure) holds.
type BroadcastError struct {
	Room    string
	Skipped []proto.ClientID
}

func (e *BroadcastError) Error() string {
	return fmt.Sprintf("session: broadcast to %q skipped %d members with full windows", e.Room, len(e.Skipped))
}

// Unwrap makes errors.Is(err, ErrBackpressure) true.
func (e *BroadcastError) Unwrap() error { return ErrBackpressure }

func (s *Server) join(sess *serverSession, name string) error {
	if err := checkRoom(name); err != nil {
		return err
	}
	r := s.rooms[name]
	if r != nil {
		if _, in := sess.rooms[r]; in {
			return nil
		}
	}
	if len(sess.rooms) >= s.cfg.MaxRoomsPerSession {
		return fmt.Errorf("%w: session %s is in %d rooms", ErrLimit, sess.id, len(sess.rooms))
	}
	if r == nil {
		r = &room{name: name}
		s.rooms[name] = r
	}
	if len(r.members) >= s.cfg.MaxRoomMembers {
		return fmt.Errorf("%w: room %q has %d members", ErrLimit, name, len(r.members))
	}
	if sess.rooms == nil {
		sess.rooms = make(map[*room]int)
	}
	sess.rooms[r] = len(r.members)
	r.members = append(r.members, sess)
	if s.cfg.Presence {
		s.add(&MemberJoined{Client: sess.id, Room: name})
	}
	return nil
}

func (s *Server) leave(sess *serverSession, name string) error {
	if err := checkRoom(name); err != nil {
		return err
	}
	if r := s.rooms[name]; r != nil {
		s.removeMember(r, sess)
	}
	return nil
}

func (s *Server) removeMember(r *room, sess *serverSession) {
	i, in := sess.rooms[r]
	if !in {
		return
	}
	last := len(r.members) - 1
	if i != last {
		moved := r.members[last]
		r.members[i] = moved
		moved.rooms[r] = i
	}
	r.members[last] = nil
	r.members = r.members[:last]
	delete(sess.rooms, r)
	if len(r.members) == 0 {
		delete(s.rooms, r.name)
	}
	if s.cfg.Presence {
		s.add(&MemberLeft{Client: sess.id, Room: r.name})
	}
}

func (s *Server) leaveAll(sess *serverSession) {
	if !s.cfg.Presence {
		for r := range sess.rooms {
			s.removeMember(r, sess)
		}
		return
	}
	// In the order of the rooms' names: the events must not depend on
	// the map's order.
	rooms := make([]*room, 0, len(sess.rooms))
	for r := range sess.rooms {
		rooms = append(rooms, r)
	}
	slices.SortFunc(rooms, func(a, b *room) int { return strings.Compare(a.name, b.name) })
	for _, r := range rooms {
		s.removeMember(r, sess)
	}
}

// IsMember reports whether session client is in room.
func (s *Server) IsMember(client proto.ClientID, room string) bool {
	sess, r := s.sessions[client], s.rooms[room]
	if sess == nil || r == nil {
		return false
	}
	_, in := sess.rooms[r]
	return in
}

// RoomsOf returns the rooms session client is in, sorted; nil when there
// is no such session or it is in none.
func (s *Server) RoomsOf(client proto.ClientID) []string {
	sess := s.sessions[client]
	if sess == nil || len(sess.rooms) == 0 {
		return nil
	}
	names := make([]string, 0, len(sess.rooms))
	for r := range sess.rooms {
		names = append(names, r.name)
	}
	slices.Sort(names)
	return names
}

// Members returns the client IDs in room, in broadcast order.
func (s *Server) Members(room string) []proto.ClientID {
	r := s.rooms[room]
	if r == nil {
		return nil
	}
	ids := make([]proto.ClientID, len(r.members))
	for i, m := range r.members {
		ids[i] = m.id
	}
	return ids
}

func (s *Server) broadcast(now time.Time, b Broadcast) error {
	if err := checkRoom(b.Room); err != nil {
		return err
	}
	if err := checkName(b.Name); err != nil {
		return err
	}
	r := s.rooms[b.Room]
	if r == nil {
		return nil
	}
	var skipped []proto.ClientID
	var overloaded []*serverSession
	// One payload slice and one frameText are shared by every member's send
	// buffer; only the frame around them is encoded per member, when its
	// connection is written.
	f := newOutFrame(proto.TypeData, 0, b.Payload, b.Room, b.Name, nil)
	size := f.size()
	for _, m := range r.members {
		if m.id == b.Except {
			continue
		}
		if size > s.maxPayload(m) {
			skipped = append(skipped, m.id)
			continue
		}
		if err := m.link.canPush(size); err != nil {
			if s.cfg.CloseSlowConsumers {
				overloaded = append(overloaded, m)
			} else {
				skipped = append(skipped, m.id)
			}
			continue
		}
		s.queue(m, &f)
	}
	for _, m := range overloaded {
		s.endSession(now, m, ErrOverloaded, &proto.Close{Code: proto.CloseOverloaded, Reason: "slow consumer"})
	}
	s.enforceDetachedBudget(now)
	if len(skipped) > 0 {
		return &BroadcastError{Room: b.Room, Skipped: skipped}
	}
	return nil
}

// roomRequest answers a client's JOIN or LEAVE through the AllowRoom hook.
func (s *Server) roomRequest(now time.Time, sess *serverSession, f inFrame) {
	join := f.typ == proto.TypeJoin
	allowed := s.cfg.AllowRoom != nil && s.cfg.AllowRoom(RoomRequest{Client: sess.id, Room: f.room, Join: join})
	var perr *proto.Error
	switch {
	case !allowed:
		perr = &proto.Error{Code: proto.ErrCodeForbidden, Message: "room request refused"}
	case join:
		if err := s.join(sess, f.room); err != nil {
			perr = &proto.Error{Code: proto.ErrCodeLimit, Message: reason(err)}
		}
	default:
		_ = s.leave(sess, f.room) // the room name was validated by the codec
	}
	sess.reqs.answer(f.id)
	// The answer must not be lost to backpressure: it takes a slot even
	// when the window is full, bounded by the peer's request limit.
	s.enqueue(now, sess, newOutFrame(proto.TypeResponse, f.id, nil, "", "", perr))
}

// publish answers a client's PUBLISH. A member whose publish the
// AllowPublish hook allows has it queued for every other member, as a
// Broadcast with the same slow-consumer policy, and the server application
// gets it as a Delivered event with Room set; anything else is refused.
// Either way the client gets exactly one RESPONSE.
func (s *Server) publish(now time.Time, sess *serverSession, f inFrame) {
	var perr *proto.Error
	r := s.rooms[f.room]
	_, member := sess.rooms[r]
	switch {
	case r == nil || !member:
		perr = &proto.Error{Code: proto.ErrCodeForbidden, Message: "not a member of the room"}
	case s.cfg.AllowPublish != nil && !s.cfg.AllowPublish(PublishRequest{Client: sess.id, Room: f.room, Name: f.name, Payload: f.payload}):
		perr = &proto.Error{Code: proto.ErrCodeForbidden, Message: "publish refused"}
	default:
		err := s.broadcast(now, Broadcast{Room: f.room, Name: f.name, Payload: f.payload, Except: sess.id})
		var be *BroadcastError
		var skipped []proto.ClientID
		if errors.As(err, &be) {
			skipped = be.Skipped
			perr = &proto.Error{Code: proto.ErrCodeUnavailable, Message: fmt.Sprintf("%d members skipped: send windows full", len(be.Skipped))}
		} else if err != nil {
			panic("session: bug: publish to a validated room failed: " + err.Error())
		}
		// The members' send buffers share f.payload; the application gets
		// its own copy to keep or modify.
		d := s.newDelivered()
		*d = Delivered{Client: sess.id, Seq: f.seq, Payload: bytes.Clone(f.payload), Room: f.room, Name: f.name, Skipped: skipped}
		s.add(d)
	}
	sess.reqs.answer(f.id)
	// The answer takes a slot even when the window is full, as a room
	// request's does. The fan-out above cannot have ended the publisher's
	// session: it skips the publisher, and evicts only detached sessions.
	s.enqueue(now, sess, newOutFrame(proto.TypeResponse, f.id, nil, "", "", perr))
}
