package adapters

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// The promise of the package doc (Batching) about coalescing: a write
// takes everything queued, "joined into as few transport messages as the
// peer's size limit allows" — never one over the limit, none left out or
// reordered, the last message of a batch included.

const coalescing = "a batch is joined into as few messages as the peer's limit allows"

func TestCoalesce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		max   int
		sizes []int // of the messages queued
		want  []int // sizes of the transport messages written
	}{
		{"exactly at the limit", 10, []int{4, 6}, []int{10}},
		{"one over the limit", 10, []int{4, 7}, []int{4, 7}},
		{"the last message joins the one before", 10, []int{3, 3, 4}, []int{10}},
		{"the last message alone", 10, []int{3, 3, 3, 3}, []int{9, 3}},
		{"the last message over the limit by itself", 10, []int{3, 3, 11}, []int{6, 11}},
		{"a message over the limit travels alone", 10, []int{2, 12, 2}, []int{2, 12, 2}},
		{"runs at the limit one after another", 10, []int{5, 5, 5, 5, 1}, []int{10, 10, 1}},
		{"a message exactly the limit", 10, []int{10, 1}, []int{10, 1}},
		{"a single message", 10, []int{3}, []int{3}},
		{"the limit not yet known", 0, []int{3, 3}, []int{3, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var msgs [][]byte
			var all []byte
			next := byte(0)
			for _, n := range tc.sizes {
				m := make([]byte, n)
				for i := range m {
					m[i] = next
					next++
				}
				msgs = append(msgs, m)
				all = append(all, m...)
			}
			out := coalesce(msgs, tc.max, &conn{})
			var sizes []int
			var joined []byte
			for _, m := range out {
				sizes = append(sizes, len(m))
				joined = append(joined, m...)
			}
			if !slices.Equal(sizes, tc.want) {
				t.Errorf("promise broken: %s: messages of %v bytes with limit %d were written as %v, want %v", coalescing, tc.sizes, tc.max, sizes, tc.want)
			}
			if !bytes.Equal(joined, all) {
				t.Errorf("promise broken: %s: the bytes written are not the bytes queued, in order: %v, want %v", coalescing, joined, all)
			}
		})
	}
}

// Coalescing joins whole messages only: a frame is never split, so the
// peer decodes what was sent (the contents above are checked byte by byte;
// here the boundaries are checked against the messages queued).
func TestCoalesceKeepsMessagesWhole(t *testing.T) {
	var msgs, orig [][]byte
	for i := range 50 {
		m := fmt.Appendf(nil, "<%d:%s>", i, bytes.Repeat([]byte{'x'}, i%7))
		msgs, orig = append(msgs, m), append(orig, m)
	}
	const max = 40
	out := coalesce(msgs, max, &conn{})
	k := 0
	for _, m := range out {
		if len(m) > max {
			t.Fatalf("promise broken: %s: a message of %d bytes over the limit of %d", coalescing, len(m), max)
		}
		rest := m
		for len(rest) > 0 {
			if k == len(orig) || !bytes.HasPrefix(rest, orig[k]) {
				t.Fatalf("promise broken: %s: message %d is not whole in %q", coalescing, k, m)
			}
			rest = rest[len(orig[k]):]
			k++
		}
	}
	if k != len(orig) {
		t.Fatalf("promise broken: %s: %d of %d messages written", coalescing, k, len(orig))
	}
	// As few as the limit allows: no two neighbours fit together.
	for i := 1; i < len(out); i++ {
		if first := nextMessage(orig, out[:i]); len(out[i-1])+len(orig[first]) <= max {
			t.Fatalf("promise broken: %s: message %d (%d bytes) would have fit in the one before (%d bytes)", coalescing, first, len(orig[first]), len(out[i-1]))
		}
	}
}

// nextMessage returns the index of the first queued message after those
// written in out.
func nextMessage(orig [][]byte, out [][]byte) int {
	n, i := 0, 0
	for _, m := range out {
		n += len(m)
	}
	for ; n > 0; i++ {
		n -= len(orig[i])
	}
	return i
}
