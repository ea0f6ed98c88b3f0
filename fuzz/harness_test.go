package fuzz

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bettersocket/bettersocket/internal/breakage"
	"github.com/bettersocket/bettersocket/session"
)

// catchTB turns the harness's Fatalf into a value, so that a test can
// require a check to fire.
type catchTB struct {
	testing.TB
}

type caught string

func (catchTB) Fatalf(format string, args ...any) { panic(caught(fmt.Sprintf(format, args...))) }

// fails runs f and returns the message of the check that stopped it, or "".
func fails(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(caught)
			if !ok {
				panic(r)
			}
			msg = string(c)
		}
	}()
	f()
	return ""
}

// dataFrame is a DATA frame in script encoding.
func dataFrame(p *prog, seq uint64) *prog {
	return p.byte(4).u64(seq).u64(0).blob([]byte("x")).blob(nil)
}

// TestChecksCatchBrokenMachines proves the fuzz targets' checks are not
// vacuous: machines with the deliberate bugs of breakage.Bugs fail them
// on short programs, and the correct machines pass the same programs.
func TestChecksCatchBrokenMachines(t *testing.T) {
	dup := dataFrame(dataFrame(new(prog).byte(cOpFrames).byte(1), 1), 1).b
	clientRun := func(tb testing.TB, broken breakage.Bugs) {
		w := newBrokenClientWorld(tb, session.Stream, broken)
		w.setup(startOpen)
		w.run(&script{b: dup})
	}

	// An attacker sends HELLO, then DATA 1 twice.
	attack := new(prog).byte(sOpConnect).byte(sOpFrames).byte(0).byte(2)
	attack.byte(0).u64(1).byte(0).blob(nil).u64(0).u64(0).u64(0) // HELLO, no resume
	dataFrame(dataFrame(attack, 1), 1)
	// An honest client's transport breaks while the server has a message
	// for it; it resumes.
	resume := new(prog).byte(sOpHonestDrop).byte(0).byte(sOpServerSend).byte(0).blob([]byte("while-away")).b
	serverRun := func(program []byte) func(tb testing.TB, broken breakage.Bugs) {
		return func(tb testing.TB, broken breakage.Bugs) {
			w := newBrokenServerWorld(tb, session.Stream, broken)
			w.setup()
			w.run(&script{b: program})
			w.finish()
		}
	}

	for _, tc := range []struct {
		name   string
		run    func(testing.TB, breakage.Bugs)
		broken breakage.Bugs
		want   string
	}{
		{"client delivers a duplicate", clientRun, breakage.Bugs{NoDedup: true}, "not exactly once"},
		{"server delivers a duplicate", serverRun(attack.b), breakage.Bugs{NoDedup: true}, "not exactly once"},
		{"server resumes from the wrong seq", serverRun(resume), breakage.Bugs{ResumeFromWrongSeq: true}, "got 0 of the server's 1 messages"},
	} {
		if msg := fails(func() { tc.run(catchTB{t}, breakage.Bugs{}) }); msg != "" {
			t.Errorf("%s: the correct machine fails: %s", tc.name, msg)
		}
		msg := fails(func() { tc.run(catchTB{t}, tc.broken) })
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%s: broken machine: check said %q, want it to contain %q", tc.name, msg, tc.want)
		}
	}
}
