package e2etest

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters"
)

// BroadcastBurst checks that at the default options a burst of broadcasts
// reaches every member that reads: 2,000 messages to 100 members (250 to
// 20 with -short), each member getting every one exactly once, in order,
// tagged with the room, and no Broadcast reporting a skipped member.
func BroadcastBurst(t *testing.T, tr Transport) {
	members, msgs := 100, 2000
	if testing.Short() {
		members, msgs = 20, 250
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, addr, stop := tr.Serve(t, ln, adapters.ServerOptions{})
	var wg sync.WaitGroup
	wg.Add(members)
	var mu sync.Mutex
	var problems []string
	clients := make([]*adapters.Client, members)
	for i := range clients {
		next := uint64(0)
		c, err := tr.Dial(ctx, addr, adapters.ClientOptions{OnMessage: func(_ context.Context, m adapters.Message) {
			// One handler goroutine per session at a time: next needs no lock.
			if got := binary.BigEndian.Uint64(m.Payload); got != next || m.Room != "burst" {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("member %d got message %d in room %q, want %d in burst", i, got, m.Room, next))
				mu.Unlock()
			}
			next++
			if next == uint64(msgs) {
				wg.Done()
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
		if err := srv.Join(ctx, c.ID(), "burst"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range msgs {
		if err := srv.Broadcast(ctx, "burst", binary.BigEndian.AppendUint64(nil, uint64(i))); err != nil {
			t.Fatalf("broadcast %d of %d: %v", i, msgs, err)
		}
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	for _, c := range clients {
		if err := c.Close(ctx); err != nil {
			t.Error(err)
		}
	}
	if err := stop(ctx); err != nil {
		t.Error(err)
	}
}
