package session

import (
	"errors"
	"time"

	"github.com/bettersocket/bettersocket/proto"
)

// inbox collects a machine's events and turns delivered reliable frames into
// them; it is shared by Client and Server so that delivery, request
// bookkeeping and loss reports are written once.
type inbox struct {
	stats  *Stats
	events []Event
	dslab  slab[Delivered]
	qslab  slab[RequestReceived]
	rslab  slab[Response]
	// free holds the Delivered events given back (Recycle), cleared, for
	// the next deliveries.
	free []*Delivered
}

// keepDelivered is the most given-back Delivered events a machine keeps
// (104 KiB): a transport message of a stream brings hundreds.
const keepDelivered = 1024

// newDelivered returns a Delivered whose references are cleared (Payload,
// Room, Name, Skipped; the caller sets Client and Seq): one given back, or
// a new one.
func (in *inbox) newDelivered() *Delivered {
	if n := len(in.free) - 1; n >= 0 {
		d := in.free[n]
		in.free = in.free[:n]
		return d
	}
	return in.dslab.new()
}

// recycle takes back ds for later deliveries (see Client.Recycle),
// clearing what they refer to; past keepDelivered, they are left to the
// garbage collector.
func (in *inbox) recycle(ds []*Delivered) {
	for _, d := range ds {
		if len(in.free) == keepDelivered {
			return
		}
		// What it refers to; newDelivered's caller sets the rest.
		d.Payload, d.Room, d.Name, d.Skipped = nil, "", "", nil
		in.free = append(in.free, d)
	}
}

func (in *inbox) add(e Event) { in.events = append(in.events, e) }

// take hands the collected events over, appended to dst. When dst is
// empty memory (ReadyInto's, which its caller is done with), the collected
// slice is handed over as it is instead, and dst's memory collects the next
// ones; else the inbox keeps its memory unless a burst made it large.
func (in *inbox) take(dst []Event) []Event {
	if len(in.events) == 0 {
		return dst
	}
	if len(dst) > 0 || cap(dst) == 0 {
		dst = append(dst, in.events...)
		clear(in.events)
		in.events = in.events[:0]
		if cap(in.events) > keepEvents {
			in.events = nil
		}
		return dst
	}
	evs := in.events
	in.events = dst[:0]
	if cap(dst) > keepEvents {
		in.events = nil
	}
	return evs
}

// keepEvents is the most events an inbox keeps memory for between Readys:
// a machine has one inbox, and a transport message of a stream carries
// hundreds of messages, each an event (16 KiB).
const keepEvents = 1024

// deliver turns an in-order DATA, REQUEST or RESPONSE of session id into its
// event. It fails only when the peer broke the request rules (a duplicate
// request ID, more pending requests than announced).
func (in *inbox) deliver(id proto.ClientID, f *inFrame, reqs *requests) error {
	switch f.typ {
	case proto.TypeData:
		in.stats.Delivered++
		// Field by field: its memory is cleared already, and a composite
		// literal would be built aside and copied in whole, through the
		// GC's bulk write barrier while it marks.
		d := in.newDelivered()
		d.Client, d.Seq, d.Payload = id, f.seq, f.payload
		if f.room != "" {
			d.Room = f.room
		}
		if f.name != "" {
			d.Name = f.name
		}
		in.add(d)
	case proto.TypeRequest:
		if err := reqs.received(f.id); err != nil {
			return err
		}
		in.stats.Delivered++
		q := in.qslab.new()
		*q = RequestReceived{Client: id, ID: f.id, Payload: f.payload, Name: f.name}
		in.add(q)
	case proto.TypeResponse:
		in.stats.Delivered++
		if !reqs.finish(f.id) {
			in.stats.LateResponses++
			return nil
		}
		r := in.rslab.new()
		*r = Response{Client: id, ID: f.id, Payload: f.payload}
		if f.err != nil {
			r.Payload, r.Err = nil, &RemoteError{Code: f.err.Code, Message: f.err.Message}
		}
		in.add(r)
	}
	return nil
}

// timeouts reports every request of session id whose timeout has passed.
func (in *inbox) timeouts(id proto.ClientID, reqs *requests, now time.Time) {
	for {
		rid, ok := reqs.due(now)
		if !ok {
			return
		}
		in.stats.RequestTimeouts++
		in.add(&Response{Client: id, ID: rid, Err: ErrRequestTimeout})
	}
}

// lose builds the loss report of session id as it ends: its unacknowledged
// frames and pending requests, each of which gets its ErrSessionLost
// outcome first.
func (in *inbox) lose(id proto.ClientID, l *link, reqs *requests) Lost {
	lost := Lost{Unacked: l.lost(), Requests: reqs.pending(), LastReceived: l.recvAck}
	for _, rid := range lost.Requests {
		reqs.finish(rid)
		in.add(&Response{Client: id, ID: rid, Err: ErrSessionLost})
	}
	if len(lost.Unacked) > 0 || len(lost.Requests) > 0 {
		in.stats.SessionsLost++
	}
	return lost
}

// requestViolation is the close code for a request rule the peer broke.
func requestViolation(err error) proto.CloseCode {
	if errors.Is(err, ErrTooManyRequests) {
		return proto.ClosePolicy
	}
	return proto.CloseProtocolError
}
