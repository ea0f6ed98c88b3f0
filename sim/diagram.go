package sim

import (
	"fmt"
	"strings"
	"time"
)

// delayMark is the smallest gap in virtual time that a diagram shows as a
// delay ("...30s later...").
const delayMark = time.Second

// PlantUML renders a trace as a PlantUML sequence diagram in the style of
// the spec: clients on the left, the server on the right, heartbeats and
// acks dashed, lost frames ending in x, events as notes on their node, and
// gaps of a second or more as delays.
func PlantUML(title string, t *Trace) string {
	var b strings.Builder
	b.WriteString("@startuml\n")
	if title != "" {
		fmt.Fprintf(&b, "title %s\n", title)
	}
	for _, p := range t.Participants() {
		fmt.Fprintf(&b, "participant %s\n", p)
	}
	eachWithDelays(t, func(e Entry, gap time.Duration) {
		if gap > 0 {
			fmt.Fprintf(&b, "...%s later...\n", gap)
		}
		switch e.Kind {
		case Event:
			fmt.Fprintf(&b, "rnote over %s: %s\n", e.From, e.Text)
		default:
			b.WriteString(e.String())
			b.WriteByte('\n')
		}
	})
	b.WriteString("@enduml\n")
	return b.String()
}

// Mermaid renders a trace as a Mermaid sequenceDiagram with the same
// content as [PlantUML].
func Mermaid(title string, t *Trace) string {
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	if title != "" {
		fmt.Fprintf(&b, "    title %s\n", mermaidText(title))
	}
	ps := t.Participants()
	for _, p := range ps {
		fmt.Fprintf(&b, "    participant %s\n", p)
	}
	span := ps[0] + "," + ps[len(ps)-1]
	eachWithDelays(t, func(e Entry, gap time.Duration) {
		if gap > 0 {
			fmt.Fprintf(&b, "    Note over %s: %s later\n", span, gap)
		}
		switch e.Kind {
		case Arrow:
			arrow := "->>"
			switch {
			case e.Dashed && e.Lost:
				arrow = "--x"
			case e.Lost:
				arrow = "-x"
			case e.Dashed:
				arrow = "-->>"
			}
			fmt.Fprintf(&b, "    %s%s%s: %s\n", e.From, arrow, e.To, mermaidText(e.Text))
		case Event:
			fmt.Fprintf(&b, "    Note over %s: %s\n", e.From, mermaidText(e.Text))
		case Note:
			over := e.From
			if e.To != "" {
				over += "," + e.To
			}
			fmt.Fprintf(&b, "    Note over %s: %s\n", over, mermaidText(e.Text))
		case GroupStart:
			fmt.Fprintf(&b, "    rect rgb(240, 240, 250)\n    Note over %s: %s\n", span, mermaidText(e.Text))
		case GroupEnd:
			b.WriteString("    end\n")
		}
	})
	return b.String()
}

// eachWithDelays calls f for every entry with the virtual time elapsed since
// the previous one when it is at least delayMark (else 0).
func eachWithDelays(t *Trace, f func(Entry, time.Duration)) {
	var last time.Duration
	first := true
	for _, e := range t.Entries {
		gap := time.Duration(0)
		if e.Kind != GroupStart && e.Kind != GroupEnd {
			if !first && e.At-last >= delayMark {
				gap = (e.At - last).Round(time.Millisecond)
			}
			last, first = e.At, false
		}
		f(e, gap)
	}
}

// mermaidText escapes what Mermaid would read as syntax in a message.
func mermaidText(s string) string {
	return strings.NewReplacer("#", "#35;", ";", "#59;", "<", "#lt;", ">", "#gt;").Replace(s)
}
