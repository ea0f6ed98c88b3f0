package adapters

// coalesce joins consecutive messages into transport messages of at most
// max bytes (a message is a sequence of frames, so the concatenation of two
// is one that holds the frames of both). It reuses msgs for the result.
// With max 0 (the peer's limit is not known yet) it changes nothing.
func coalesce(msgs [][]byte, max int) [][]byte {
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
			joined := make([]byte, 0, size)
			for _, m := range msgs[i:j] {
				joined = append(joined, m...)
			}
			out = append(out, joined)
		}
		i = j
	}
	return out
}
