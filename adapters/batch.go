package adapters

// coalesce joins consecutive messages into transport messages of at most
// max bytes (a message is a sequence of frames, so the concatenation of two
// is one that holds the frames of both). It reuses msgs for the result.
// With max 0 (the peer's limit is not known yet) it changes nothing. The
// joined messages are in w's buffer (see conn.wbuf).
func coalesce(msgs [][]byte, max int, w *conn) [][]byte {
	if max <= 0 || len(msgs) < 2 {
		return msgs
	}
	out := msgs[:0]
	for i := 0; i < len(msgs); {
		j, size := i+1, len(msgs[i])
		for j < len(msgs) && size+len(msgs[j]) <= max {
			size += len(msgs[j])
			j++
		}
		if j == i+1 {
			out = append(out, msgs[i])
		} else {
			b := w.buf()
			start := len(*b)
			for _, m := range msgs[i:j] {
				*b = append(*b, m...)
			}
			out = append(out, (*b)[start:len(*b):len(*b)])
		}
		i = j
	}
	return out
}
