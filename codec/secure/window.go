package secure

// window is a sliding replay window over 64-bit nonces, as RFC 6479
// describes and WireGuard uses: a ring of bits for the windowBits nonces up
// to the highest one accepted. A nonce above the highest is new; one more
// than windowSize below it is refused as too old; in between, its bit says
// whether it was seen. The last word of the ring is the slack that lets the
// window slide a word at a time, so windowSize = windowBits - 64 = 1984
// positions are always tracked.
type window struct {
	top  uint64 // highest nonce accepted
	any  bool   // whether any nonce was accepted
	bits [windowWords]uint64
}

const (
	windowWords = 32
	windowBits  = windowWords * 64
	// WindowSize is how far behind the newest accepted record a record may
	// arrive (reordered on a datagram link) and still be accepted once.
	WindowSize = windowBits - 64
)

// fresh reports whether nonce n may be accepted. It changes nothing: only
// a record that then authenticates is marked.
func (w *window) fresh(n uint64) bool {
	if !w.any || n > w.top {
		return true
	}
	if w.top-n >= WindowSize {
		return false
	}
	return w.bits[(n/64)%windowWords]&(1<<(n%64)) == 0
}

// mark records nonce n as seen; fresh(n) must have been true.
func (w *window) mark(n uint64) {
	if !w.any || n > w.top {
		cur, next := w.top/64, n/64
		if !w.any {
			cur = next
			w.bits[cur%windowWords] = 0
		}
		steps := next - cur
		if steps > windowWords {
			steps = windowWords
		}
		for i := uint64(1); i <= steps; i++ {
			w.bits[(cur+i)%windowWords] = 0
		}
		w.top, w.any = n, true
	}
	w.bits[(n/64)%windowWords] |= 1 << (n % 64)
}
