package session

import "github.com/bettersocket/bettersocket/proto"

// Acked reports how far the peer has acknowledged the current session's
// reliable frames (messages, requests, responses): sent is the sequence
// number of the last one queued, acked the peer's cumulative
// acknowledgement. Everything queued so far is acknowledged once acked
// reaches the sent of that moment; a driver waits for that to flush. Both
// start again from zero with a new session (see [Client.ID]).
func (c *Client) Acked() (sent, acked uint64) {
	return c.link.nextSeq - 1, c.link.peerAck
}

// Acked is [Client.Acked] for the session id; ok is false when it has no
// live session.
func (s *Server) Acked(id proto.ClientID) (sent, acked uint64, ok bool) {
	sess := s.sessions[id]
	if sess == nil {
		return 0, 0, false
	}
	return sess.link.nextSeq - 1, sess.link.peerAck, true
}
