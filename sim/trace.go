package sim

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
)

// EntryKind says what a trace entry shows.
type EntryKind uint8

// Kinds of trace entries.
const (
	// Arrow is a frame (or a transport event in parentheses) going from
	// one node to another.
	Arrow EntryKind = iota
	// Event is something that happened at one node: an application-visible
	// event of its machine, or a command's error.
	Event
	// Note marks a fault or a change made by the simulator.
	Note
	// GroupStart and GroupEnd bracket a titled group of entries, as the
	// spec's diagrams do.
	GroupStart
	GroupEnd
)

// Entry is one line of a trace.
type Entry struct {
	At     time.Duration // virtual time since Epoch
	Kind   EntryKind
	From   string // Arrow: sender; Event, Note: the node
	To     string // Arrow: receiver; Note: a second node or ""
	Dashed bool   // Arrow: a heartbeat or ack (control traffic)
	Lost   bool   // Arrow: lost on the way
	Text   string
}

// String renders the entry in PlantUML arrow form:
//
//	c1 -> s: DATA seq=1 ack=0 "hi"
//	s --> c1: ACK 1
//	c1 ->x s: DATA seq=2 ack=0 "lost"
//	s: delivered seq=1 "hi" from c1
//	note over c1, s: partition
func (e Entry) String() string {
	switch e.Kind {
	case Arrow:
		return e.From + " " + e.arrow() + " " + e.To + ": " + e.Text
	case Event:
		return e.From + ": " + e.Text
	case Note:
		if e.To == "" {
			return "note over " + e.From + ": " + e.Text
		}
		return "note over " + e.From + ", " + e.To + ": " + e.Text
	case GroupStart:
		return "group " + e.Text
	case GroupEnd:
		return "end"
	}
	return e.Text
}

func (e Entry) arrow() string {
	a := "->"
	if e.Dashed {
		a = "-->"
	}
	if e.Lost {
		a += "x"
	}
	return a
}

// Trace is the record of a run: every frame exchanged and every event, in
// the order they happened.
type Trace struct {
	Entries []Entry
}

// String renders entries from index from on, one per line.
func (t *Trace) String(from int) string {
	var b strings.Builder
	t.write(&b, from)
	return b.String()
}

func (t *Trace) write(w io.Writer, from int) {
	for _, e := range t.Entries[from:] {
		fmt.Fprintln(w, e.String())
	}
}

// Participants returns the node names in the trace: clients in the order
// they appear, then the server, as in the spec's diagrams.
func (t *Trace) Participants() []string {
	var names []string
	seen := map[string]bool{"s": true}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, e := range t.Entries {
		if e.Kind == GroupStart || e.Kind == GroupEnd {
			continue
		}
		add(e.From)
		add(e.To)
	}
	return append(names, "s")
}

func (s *Sim) record(e Entry) {
	e.At = s.now
	s.trace.Entries = append(s.trace.Entries, e)
}

func (s *Sim) traceArrow(from, to, text string, dashed, lost bool) {
	if s.opts.Trace {
		s.record(Entry{Kind: Arrow, From: from, To: to, Text: text, Dashed: dashed, Lost: lost})
	}
}

func (s *Sim) traceEvent(node, text string) {
	if s.opts.Trace {
		s.record(Entry{Kind: Event, From: node, Text: text})
	}
}

func (s *Sim) traceNote(a, b, text string) {
	if s.opts.Trace {
		s.record(Entry{Kind: Note, From: a, To: b, Text: text})
	}
}

// traceMessage shows each frame of a transport message on direction d.
func (s *Sim) traceMessage(c *conn, d int, msg []byte, lost bool, suffix string) {
	if !s.opts.Trace {
		return
	}
	from, to := c.endName(d), c.endName(1-d)
	if secure.IsRecord(msg) {
		// Sealed: the simulator sees what an eavesdropper sees.
		what := "sealed"
		if secure.IsHandshake(msg) {
			what = "handshake"
		}
		s.traceArrow(from, to, fmt.Sprintf("<%s, %d bytes>%s", what, len(msg), suffix), false, lost)
		return
	}
	if err := s.dec.Reset(msg); err != nil {
		s.traceArrow(from, to, fmt.Sprintf("<%d bytes: %v>%s", len(msg), err, suffix), false, lost)
		return
	}
	for {
		f, err := s.dec.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			s.traceArrow(from, to, fmt.Sprintf("<undecodable: %v>%s", err, suffix), false, lost)
			return
		}
		t := f.Type()
		s.traceArrow(from, to, f.String()+suffix, t == proto.TypeAck || t == proto.TypeHeartbeat, lost)
	}
}
