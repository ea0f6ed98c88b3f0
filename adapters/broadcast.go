package adapters

import (
	"context"
	"errors"

	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session"
)

// SlowPolicy says what a broadcast does for a member whose send window is
// full: one that has not acknowledged enough of what it was sent
// (session.LinkConfig's MaxInflight and MaxUnackedBytes, as the member
// announced them), typically because it reads slower than the room talks
// or has stopped reading.
type SlowPolicy uint8

const (
	// WaitSlow, the default, waits for each such member's window under
	// the broadcast's ctx, as Send does, member by member: the others get
	// the message at once, and each waiting member gets it (tagged with
	// the room) as soon as its own window opens, behind what was already
	// waiting for it. The broadcast returns when every member has it. When
	// ctx ends first, the members that did not get it are named in a
	// *BroadcastError joined with ctx.Err(). A member that never
	// reads thus holds up the broadcast's caller, never the other members:
	// give ctx a deadline, or choose another policy.
	WaitSlow SlowPolicy = iota
	// SkipSlow never waits: such members are skipped and named in a
	// *BroadcastError (errors.Is(err, ErrBackpressure)).
	SkipSlow
	// EndSlow ends such a member's session at once (CLOSE overloaded, its
	// loss reported on both sides); its client starts a new session and
	// re-joins its rooms. It sets session.ServerConfig's
	// CloseSlowConsumers, which Send, Request and replies then follow too.
	EndSlow
)

// broadcastOwned steps a Broadcast and, under WaitSlow, parks a Send
// tagged with the room for every member skipped, in the same turn with
// the machine (so nothing queued for that member meanwhile overtakes
// it), then waits for them all.
func (s *Server) broadcastOwned(ctx context.Context, room, name string, except proto.ClientID, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := s.d
	now := d.lock()
	if d.ended {
		d.unlock()
		return session.ErrClosed
	}
	err := d.eng.step(now, session.Broadcast{Room: room, Name: name, Payload: payload, Except: except})
	var be *session.BroadcastError
	if s.slow != WaitSlow || !errors.As(err, &be) {
		d.settle(frameSize(payload, name) + len(room))
		d.unlockYield()
		return err
	}
	var failed []proto.ClientID
	var errs []error
	waiting := make([]*op, 0, len(be.Skipped))
	to := make([]proto.ClientID, 0, len(be.Skipped))
	for _, id := range be.Skipped {
		in := session.Send{To: id, Name: name, Payload: payload, Room: room}
		if len(d.parked[id]) == 0 {
			// Skipped for its window, or for a payload too large for it:
			// the latter fails again, and is reported.
			if err := d.eng.send(now, in); !waitable(err) {
				if err != nil {
					failed = append(failed, id)
					errs = append(errs, err)
				}
				continue
			}
		}
		o := newOp(in, id)
		d.park(o)
		waiting, to = append(waiting, o), append(to, id)
	}
	d.settle(0)
	d.unlock()
	for i, o := range waiting {
		if r := d.await(ctx, o); r.err != nil {
			failed = append(failed, to[i])
			errs = append(errs, r.err)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return errors.Join(append([]error{&session.BroadcastError{Room: room, Skipped: failed}}, uniq(errs)...)...)
}

// uniq drops repeated errors (the same ctx.Err() of every member that
// waited), keeping the first of each.
func uniq(errs []error) []error {
	out := errs[:0]
	for _, e := range errs {
		dup := false
		for _, o := range out {
			if o == e || o.Error() == e.Error() {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, e)
		}
	}
	return out
}
