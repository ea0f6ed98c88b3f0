package session

import (
	"github.com/bettersocket/bettersocket/codec/secure"
)

// The optional encryption layer (package codec/secure) sits between the
// machines and the transport, per connection: with ClientConfig.Secure or
// ServerConfig.Secure set, a connection starts with the Noise handshake
// (its records go out raw, before HELLO), and from then on every message
// the writer produces is sealed on its way out and every message received
// is opened before it is decoded. HELLO, WELCOME and with them the resume
// token therefore only ever travel sealed. Before the handshake completes
// the only plaintext either side may send is a CLOSE that refuses the
// connection; it is unauthenticated, and the client takes it for no more
// than that.
//
// Failures of the layer close the connection with CLOSE security (sealed
// when the channel exists): on a Stream link every failure, on a Datagram
// link those that are not [secure.Droppable] (duplicates, reordering and
// forged records are dropped there, as on any lossy link).

// sealer seals outgoing messages into an arena handed out message by
// message, as the writer hands out its plaintext: each sealed message's
// capacity ends with it, and a full arena is replaced, not reused, so a
// message stays valid for as long as the driver keeps it.
type sealer struct{ arena []byte }

func (s *sealer) seal(sec *secure.Conn, msg []byte) []byte {
	need := secure.SealedLen(len(msg))
	if cap(s.arena)-len(s.arena) < need {
		s.arena = make([]byte, 0, max(arenaMin, min(4*need, 1<<20), need))
	}
	start := len(s.arena)
	out, err := sec.Seal(s.arena, msg)
	if err != nil {
		// Only after 2^64-1 messages on one connection.
		panic("session: bug: sealing: " + err.Error())
	}
	s.arena = out
	return out[start:len(out):len(out)]
}

// startSecure gives a newly admitted connection its secure layer. It is
// called once the connection holds a place among those awaiting HELLO, so
// its handshake counts against the limits on them.
func (s *Server) startSecure(c *serverConn) {
	if s.cfg.Secure.Mode == secure.Off {
		return
	}
	sec, err := secure.NewConn(&s.cfg.Secure, true, s.cfg.Rand)
	if err != nil {
		panic("session: bug: secure config validated in NewServer: " + err.Error())
	}
	c.sec = sec
}

// sealOverhead is what sealing adds to a message under cfg.
func sealOverhead(cfg *secure.Config) int {
	if cfg.Mode == secure.Off {
		return 0
	}
	return secure.Overhead
}
