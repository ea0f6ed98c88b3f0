// Package session holds the deterministic protocol machines of better-socket:
// [Client], one logical session that survives transport losses, and
// [Server], the hub for many connections and sessions. They perform no I/O,
// start no goroutines, never read the wall clock and draw randomness only
// from the configured Rand: the same inputs give the same outputs, byte for
// byte. Adapters (package adapters) run them over real transports; the
// simulator (package sim) runs them over simulated ones.
//
// # Driving a machine
//
// One way in, one way out:
//
//  1. Step(now, input) for every input: a transport came up ([Connected]),
//     a transport message arrived ([Recv]), the transport went away
//     ([Disconnected]), time passed ([Timeout]), or the application asks for
//     something ([Send], [Call], [Reply], [JoinRoom], [Broadcast], [Close] ...).
//     Step returns an error only for the caller's own command.
//  2. Ready() drains what to do: transport messages to write ([Ready.Transmit],
//     [ServerReady.Transmit]), connections to hang up, events for the
//     application ([Delivered], [RequestReceived], [Response], [Resumed],
//     [SessionLost], [Closed], ...) and for the driver ([Dial]), and the
//     Deadline at which to step the next [Timeout].
//  3. Write the messages in order, close what is to be hung up, hand the
//     events to the application, and sleep until the next input or the
//     deadline; then go to 1.
//
// Calling Ready after a batch of Steps instead of after each one is allowed
// and cheaper: acknowledgements coalesce and frames share transport
// messages. A driver that is done with each Ready's slices before the next
// can call ReadyInto with the same Ready every time, which reuses their
// memory, and one that hands each message's fields on and drops its
// [Delivered] can give the event back with Recycle, for a later delivery
// to reuse (the adapters' client does both, their server the first).
//
// # Theory of operation
//
// A session has two independent directions. Each reliable frame (DATA,
// REQUEST, RESPONSE, JOIN, LEAVE, PUBLISH) takes the sender's next sequence number
// and stays in its send buffer until the receiver's cumulative ack covers it;
// the receiver delivers in order, exactly once, dropping duplicates and
// holding early frames in a bounded reorder buffer. Acks ride on every
// reliable frame and heartbeat; a standalone ACK goes out only when nothing
// else carries it. That logic lives once, in the link shared by both
// machines (reliable.go).
//
// The handshake is HELLO → WELCOME → ACK. WELCOME is the server's sequence 0
// and carries the client ID, a fresh secret resume token, the heartbeat
// interval and idle timeout, and the server's ack. A HELLO that presents a
// session's ID, its current token and an ack within range resumes that
// session on the new connection: the session's epoch advances, any older
// connection is closed, and each side retransmits everything after the
// other's reported ack. Anything else starts a new session, and the client
// reports the old one lost ([SessionLost]) with exactly what it never got
// acknowledged. The token is stored hashed, compared in constant time and
// rotated on every WELCOME; until the client proves it received the new
// token (by sending anything after WELCOME), the previous one still works,
// so a WELCOME lost with its connection cannot strand a session.
//
// In [Stream] mode (WebSocket, TCP) a connection delivers in order without
// loss while it lasts, so frames are sent once per connection and resent
// only after a resume: backpressure cannot amplify traffic. In [Datagram]
// mode frames may be lost, duplicated or reordered, so the unacknowledged
// ones are also resent when the RFC 6298 retransmission timer expires (with
// exponential backoff) and when a heartbeat shows the peer is behind.
//
// Every buffer is bounded (send window in frames and bytes, reorder buffer,
// pending requests, detached sessions and their bytes, rooms, connections
// awaiting HELLO, message size). Reaching a limit returns a sentinel error
// to the caller ([ErrBackpressure], [ErrTooManyRequests], [ErrLimit],
// [ErrTooLarge]) or closes the offending session with a close code, and every
// session that ends is reported with what it lost: nothing ends silently.
//
// Names and rooms: a [Send], [Call] or [Broadcast] may carry a Name (the
// event or method the peer routes by), which arrives unchanged in
// [Delivered] or [RequestReceived]. A client reaches a room with [Publish],
// a request the hub answers itself: it refuses a non-member or what the
// AllowPublish hook refuses (proto.ErrCodeForbidden), otherwise queues one
// DATA tagged with the room and name into every other member's sequence,
// as Broadcast does, reports the publish to the server application as a
// Delivered with Room set (and Skipped listing members whose full windows
// made it skip them, which the publisher learns as
// proto.ErrCodeUnavailable), and answers.
//
// Timers: the client keeps a handful; the server keeps one entry per session
// (and per connection awaiting HELLO) in a binary heap, so Deadline and
// Timeout cost O(log n) in the number of sessions. A deadline that moves
// later (the usual case: a frame arrived) is not re-sorted; the timer fires
// early, finds nothing due and re-arms exactly, which is harmless by design.
package session
