// Package sim is a deterministic discrete-event network simulator that
// drives the real [session.Server] and [session.Client] machines over
// simulated links, checks the guarantees of DESIGN.md (G1–G4) with an oracle
// after every step, and prints what happened as a sequence-diagram trace.
//
// Like package session it performs no I/O, starts no goroutines, never reads
// the wall clock and uses no global randomness: a run is a function of its
// [Options] (above all the one Seed) and the verbs it is given. The same
// seed and verbs give the same trace, byte for byte.
//
// # Theory of operation
//
// Time is virtual. It starts at [Epoch] and only moves when the simulator
// takes the next event from its queue, ordered by (time, insertion
// sequence). Events are: a transport message arriving at one end of a
// connection, a close notice arriving (the peer hung up), a reset notice (a
// disconnect fault), a machine's timer, and a client's dial. The simulator
// is the machines' adapter: it steps Connected, Recv, Disconnected and
// Timeout, drains Ready after every step, routes Transmit into the link of
// that connection and direction, closes what Hangup names, keeps one timer
// per machine at its Deadline (older ones are ignored when they fire), and
// dials when a client asks with a [session.Dial] event.
//
// Every random choice (link loss, duplication, jitter, the machines' client
// IDs, tokens and reconnect jitter, the workload of a chaos run) comes from
// its own ChaCha8 stream derived from (Seed, purpose), so adding a client or
// a fault does not shift the choices of another purpose.
//
// Links. A connection has two directions. In [session.Stream] mode a
// direction is a FIFO with a fixed delay, reliable while the connection
// lasts: a stream never duplicates, and loses a message only by breaking.
// In [session.Datagram] mode each message may be lost, duplicated or delayed
// by a random jitter (which reorders). Manual faults act on top: drop or
// duplicate the next messages of a direction, corrupt the resume token of
// the next HELLO (with encryption on, a bit of the next sealed message), hold a direction of a connection (its messages queue until
// released), partition a client from the server (one way or both; a stream
// queues like TCP, a datagram link loses, dials fail), reset a connection
// (everything in flight is lost, both ends are told), let one end's socket
// die silently (the other end stays half-open), crash a client (a fresh
// machine replaces it) and restart the server (a fresh machine: every
// session is gone). A hangup is graceful: what the closing end wrote before
// arrives first, then the close notice. Messages that reach an end after it
// closed are shown lost, or (Options.LateInputs) handed to its machine,
// which must ignore them.
//
// Verbs. [Interp] runs the verbs that scenario files, property tests and
// the bsim command share ("connect c1", "send c1 \"hi\"", "advance 30s",
// "drop c1->s", "crash c1", "stabilize", ...); each verb's output is the
// trace it produced. See [Interp.Exec] for the list.
//
// The oracle ([Oracle]) follows every application command and every event
// and reports a [Violation] when a guarantee breaks: a delivery out of order,
// twice or to the wrong session; a gap not covered by the loss report of a
// session that ended; a request with no outcome or two; a buffer beyond its
// limit. The converge verb then heals the network and requires everything
// outstanding to finish within a bounded virtual time (liveness).
package sim
