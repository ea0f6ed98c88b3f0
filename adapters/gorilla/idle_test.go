package gorilla_test

import (
	"context"
	"testing"
	"time"

	"github.com/bettersocket/bettersocket/adapters/internal/e2etest"
)

// TestIdleReaderStackIsHalved guards the shallow frames of a parked server
// reader (conn.ReadMessage, and the driver's read loop). Handling a message
// grows a reader's stack to 8 KiB; the runtime halves a parked goroutine's
// stack only while less than a quarter of it is in use, and the reader's
// parked depth is within about a hundred bytes of that line. A few more
// bytes of frame on that path double the stack of every idle connection,
// which this test catches: the server's goroutine stacks must come to less
// than 6 KiB per connected client, where one 4 KiB reader each is the mark.
// (The race detector's instrumentation deepens every frame, so it is not
// run there.)
func TestIdleReaderStackIsHalved(t *testing.T) {
	if raceEnabled {
		t.Skip("frames are deeper under the race detector")
	}
	if testing.Short() {
		t.Skip("starts a server subprocess with 200 clients")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, stack := e2etest.IdleClients(ctx, t, "bettersocket", 200, idleDial("bettersocket"))
	if stack >= 6<<10 {
		t.Fatalf("server goroutine stacks: %.0f B per idle client, want < 6 KiB (one halved 4 KiB reader each)", stack)
	}
	t.Logf("server goroutine stacks: %.0f B per idle client", stack)
}
