package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// progress draws a plain-text progress bar: redrawn in place on a terminal,
// a line every tenth of the way otherwise.
type progress struct {
	w     io.Writer
	total int
	tty   bool
	shown int // last percentage (tty) or tenth (not tty) drawn
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: max(total, 1), shown: -1}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) set(done, violations int) {
	pct := done * 100 / p.total
	if p.tty {
		if pct == p.shown && done != p.total {
			return
		}
		p.shown = pct
		const width = 30
		fill := done * width / p.total
		fmt.Fprintf(p.w, "\r[%s%s] %3d%% %d/%d runs, %d violations",
			strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct, done, p.total, violations)
		return
	}
	if tenth := pct / 10; tenth != p.shown {
		p.shown = tenth
		fmt.Fprintf(p.w, "chaos: %3d%% %d/%d runs, %d violations\n", pct, done, p.total, violations)
	}
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
