package adapters

import (
	"fmt"
	"slices"
	"testing"
)

// The driver's promise about what its readers read (driver.recv):
// "Messages are stepped in the order they were read, whoever gets the lock
// first ... a client's HELLO on a connection it has given up must not be
// stepped after the HELLO on its next connection".

const readOrder = "messages are stepped in the order they were read, across connections"

// Two real reader goroutines, on two connections, each read a message
// while the machine is locked, one after the other; then both race for
// the lock. Whichever wins, the message read first is stepped first. Each
// reader must queue what it read before it waits for the lock: one that
// queued only once it held the lock would step in the order the lock was
// won, and this test sees it never queue while the lock is held.
func TestMessagesOnTwoConnectionsAreSteppedInReadOrder(t *testing.T) {
	rec := &recorder{}
	d := newDriver(rec, handlers{}, withSide(nil, "test"), 1<<20, 0, newFakeClock())
	queued := func(n int) func() bool {
		return func() bool {
			d.rmu.Lock()
			defer d.rmu.Unlock()
			return len(d.rq) == n
		}
	}
	var want []string
	var peers []*pipeEnd
	// Read on the first connection then the second, then on the second
	// then the first. Each round has connections of its own: a reader of
	// the round before may still wait for the lock, with nothing to step.
	for round, order := range [][2]int{{0, 1}, {1, 0}} {
		for range 2 {
			client, server := newPipe(newGate(true))
			peers = append(peers, client)
			if !d.attach(server, false) {
				t.Fatal("attach refused")
			}
		}
		d.mu.Lock()
		for i, k := range order {
			p := 2*round + k // the connection, numbered from 0
			msg := fmt.Sprintf("round%d-%d", round, i)
			if err := peers[p].WriteMessages([][]byte{[]byte(msg)}); err != nil {
				d.mu.Unlock()
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("recv %d %s", p+1, msg))
			eventually(t, queued(i+1), (<-chan struct{})(nil), readOrder,
				fmt.Sprintf("connection %d's reader read %q and did not queue it while the machine was locked", p+1, msg))
		}
		d.mu.Unlock()
		eventually(t, func() bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			return len(rec.steps) == len(want)
		}, (<-chan struct{})(nil), readOrder, "what was read was never stepped")
	}
	d.mu.Lock()
	steps := slices.Clone(rec.steps)
	d.mu.Unlock()
	if !slices.Equal(steps, want) {
		t.Fatalf("promise broken: %s: stepped %q, want %q", readOrder, steps, want)
	}
	for _, p := range peers {
		p.Close(0, "")
	}
	d.wg.Wait()
	d.cancel()
	d.dialStop()
}
