package sim

import (
	"github.com/bettersocket/bettersocket/session"
)

// Counters are what a run did, for the bsim summary and the benchmarks.
type Counters struct {
	Events       uint64 // queue events processed
	Steps        uint64 // machine steps
	Messages     uint64 // transport messages sent
	Arrived      uint64 // transport messages handed to a machine
	Lost         uint64 // transport messages lost (loss, faults, closed ends)
	Connections  uint64 // connections opened
	Faults       uint64 // faults injected
	AppMessages  uint64 // application messages accepted (send, broadcast copies)
	Requests     uint64 // requests accepted (calls, joins, leaves, publishes)
	Publishes    uint64 // client publishes the server accepted and fanned out
	Named        uint64 // named messages and requests delivered with their name
	Deliveries   uint64 // reliable frames delivered to an application
	SessionsLost uint64 // sessions reported lost or closed with something lost
	Violations   uint64 // oracle violations

	// From the machines' Stats (current and replaced machines).
	Retransmits       uint64
	DuplicatesDropped uint64
	Resumes           uint64
}

func (c *Counters) event(ev session.Event) {
	switch ev := ev.(type) {
	case *session.Delivered:
		c.Deliveries++
		if ev.Name != "" {
			c.Named++
		}
	case *session.RequestReceived:
		c.Deliveries++
		if ev.Name != "" {
			c.Named++
		}
	case *session.Response:
		if ev.Err == nil {
			c.Deliveries++
		}
	case *session.SessionLost:
		c.SessionsLost++
	case *session.Closed:
		if len(ev.Lost.Unacked) > 0 || len(ev.Lost.Requests) > 0 {
			c.SessionsLost++
		}
	case *session.SessionClosed:
		if len(ev.Lost.Unacked) > 0 || len(ev.Lost.Requests) > 0 {
			c.SessionsLost++
		}
	}
}

// Add adds o to c.
func (c *Counters) Add(o Counters) {
	c.Events += o.Events
	c.Steps += o.Steps
	c.Messages += o.Messages
	c.Arrived += o.Arrived
	c.Lost += o.Lost
	c.Connections += o.Connections
	c.Faults += o.Faults
	c.AppMessages += o.AppMessages
	c.Requests += o.Requests
	c.Publishes += o.Publishes
	c.Named += o.Named
	c.Deliveries += o.Deliveries
	c.SessionsLost += o.SessionsLost
	c.Violations += o.Violations
	c.Retransmits += o.Retransmits
	c.DuplicatesDropped += o.DuplicatesDropped
	c.Resumes += o.Resumes
}

// Counters returns the run's counters, including the machines' own.
func (s *Sim) Counters() Counters {
	c := s.count
	var st session.Stats
	addStats(&st, s.server.retired)
	addStats(&st, s.server.m.Stats())
	for _, cl := range s.clients {
		addStats(&st, cl.retired)
		addStats(&st, cl.m.Stats())
	}
	c.Retransmits = st.Retransmits
	c.DuplicatesDropped = st.DuplicatesDropped
	c.Resumes = s.server.retired.Resumes + s.server.m.Stats().Resumes
	return c
}

// addStats adds the cumulative counters of b to a.
func addStats(a *session.Stats, b session.Stats) {
	a.SessionsStarted += b.SessionsStarted
	a.Resumes += b.Resumes
	a.SessionsLost += b.SessionsLost
	a.Sent += b.Sent
	a.Delivered += b.Delivered
	a.Retransmits += b.Retransmits
	a.DuplicatesDropped += b.DuplicatesDropped
	a.LateResponses += b.LateResponses
	a.RequestTimeouts += b.RequestTimeouts
	a.ProtocolErrors += b.ProtocolErrors
	a.BytesIn += b.BytesIn
	a.BytesOut += b.BytesOut
	a.MessagesIn += b.MessagesIn
	a.MessagesOut += b.MessagesOut
}
