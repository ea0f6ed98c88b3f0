package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
)

// Ready is what a [Client] asks its driver to do, drained by [Client.Ready].
type Ready struct {
	// Transmit are transport messages to write, in order, on the current
	// connection. Each is a CBOR sequence of frames within the peer's
	// message size limit. The driver may keep them: they are not reused.
	Transmit [][]byte
	// Hangup asks the driver to close the current connection after writing
	// Transmit. The machine already considers it gone: a later Disconnected
	// for it is ignored.
	Hangup bool
	// Events are what happened, in order (messages, responses, lifecycle,
	// and Dial requests for the driver).
	Events []Event
	// Deadline is when the machine next needs a Timeout step; zero means
	// never (until another input arrives).
	Deadline time.Time
}

type clientState uint8

const (
	clientIdle      clientState = iota // no transport
	clientHandshake                    // HELLO sent, waiting for WELCOME
	clientOpen                         // established
	clientClosed                       // terminal
)

// Client is the client machine: one logical session that survives transport
// losses. It is deterministic and performs no I/O; see the package
// documentation for the driving loop. A Client is not safe for concurrent
// use.
type Client struct {
	cfg   ClientConfig
	state clientState
	now   time.Time
	base  time.Time
	stats Stats
	link  link
	reqs  requests
	dec   *codec.Decoder

	// session identity
	id    proto.ClientID
	token []byte
	have  bool

	// connection
	conn        ConnID
	peer        proto.Limits
	hbDue       bool // (the bools after peer share its last word)
	sendHello   bool
	finalAck    bool // write the acknowledgement owed before sendClose
	hangup      bool
	hbInterval  time.Duration
	idleTimeout time.Duration
	hbAt        time.Time
	shakeAt     time.Time // handshake deadline
	helloAt     time.Time // Datagram: next HELLO retransmission
	helloTries  uint
	sendClose   *proto.Close
	attempt     int    // dial attempts since the last established connection
	connects    uint64 // connections so far: HELLO's resume attempt number

	// encryption (nil sec: plaintext); see secure.go
	sec    *secure.Conn
	secErr error    // what is wrong with cfg.Secure, checked once
	hsOut  [][]byte // handshake records to write before anything else
	plain  []byte   // scratch: the opened record
	sealer sealer

	// graceful close
	closing     bool
	closeAt     time.Time
	closeReason string

	// output
	w      writer
	emitFn func([]byte) // c.emit, made once: a method value allocates
	out    [][]byte
	inbox
}

// NewClient returns a client machine. It is idle: the driver dials, then
// steps [Connected].
func NewClient(cfg ClientConfig) *Client {
	cfg.setDefaults()
	c := &Client{cfg: cfg}
	c.inbox.stats = &c.stats
	c.link.init(&c.cfg.LinkConfig, &c.stats)
	c.reqs.init(c.cfg.MaxRequests)
	c.dec = codec.NewDecoder(codec.Limits{MaxMessageSize: c.cfg.MaxMessageSize})
	c.w.arena = make([]byte, 0, 512)
	c.emitFn = c.emit
	c.secErr = c.cfg.Secure.Validate(false)
	return c
}

// ID returns the current session's client ID (zero before the first
// WELCOME).
func (c *Client) ID() proto.ClientID { return c.id }

// PeerMaxMessageSize returns the largest transport message the server
// accepts: the limit its last WELCOME announced, or this side's own
// MaxMessageSize when it announced none; 0 before the first WELCOME. Every
// message in Ready.Transmit fits it; a driver that joins messages into one
// transport message (they are CBOR sequences) must keep within it.
func (c *Client) PeerMaxMessageSize() int {
	if !c.have {
		return 0
	}
	return c.peerMax()
}

func (c *Client) peerMax() int {
	if c.peer.MaxMessageSize > 0 {
		return int(c.peer.MaxMessageSize)
	}
	return c.cfg.MaxMessageSize
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	s := c.stats
	if c.have && c.state != clientClosed {
		s.Sessions = 1
	}
	return s
}

// Established reports whether the handshake is complete on a live
// connection.
func (c *Client) Established() bool { return c.state == clientOpen }

// Step consumes one input at time now. It returns an error only about the
// caller's own command (for example [ErrBackpressure] or [ErrClosed]);
// anything the peer does wrong ends in a CLOSE and an event instead.
func (c *Client) Step(now time.Time, in Input) error {
	now = c.clock(now)
	if in, ok := in.(Recv); ok {
		// Apart from the commands, whose cases make a frame deep
		// enough that, on a reader's stack halved by the GC, it would
		// regrow the stack for every message received.
		if c.state == clientHandshake || c.state == clientOpen {
			if in.Conn == c.conn {
				c.recv(now, in.Data)
			}
		}
		return nil
	}
	return c.step(now, in)
}

// step is Step for the inputs other than Recv.
func (c *Client) step(now time.Time, in Input) error {
	switch in := in.(type) {
	case Connected:
		return c.connected(now, in.Conn)
	case Disconnected:
		c.disconnected(now, in.Conn, in.Err)
		return nil
	case Timeout:
		c.timeout(now)
		return nil
	case Send:
		if in.Room != "" {
			return fmt.Errorf("%w: a client's Send has no room (Publish sends to a room)", ErrInvalid)
		}
		if err := checkName(in.Name); err != nil {
			return err
		}
		return c.push(newOutFrame(proto.TypeData, 0, in.Payload, "", in.Name, nil))
	case Call:
		if err := checkName(in.Name); err != nil {
			return err
		}
		return c.call(now, newOutFrame(proto.TypeRequest, in.ID, in.Payload, "", in.Name, nil), in.Timeout)
	case Publish:
		if err := checkRoom(in.Room); err != nil {
			return err
		}
		if err := checkName(in.Name); err != nil {
			return err
		}
		return c.call(now, newOutFrame(proto.TypePublish, in.ID, in.Payload, in.Room, in.Name, nil), in.Timeout)
	case JoinRoom:
		if err := checkRoom(in.Room); err != nil {
			return err
		}
		return c.call(now, newOutFrame(proto.TypeJoin, in.ID, nil, in.Room, "", nil), in.Timeout)
	case LeaveRoom:
		if err := checkRoom(in.Room); err != nil {
			return err
		}
		return c.call(now, newOutFrame(proto.TypeLeave, in.ID, nil, in.Room, "", nil), in.Timeout)
	case Reply:
		if c.state == clientClosed || c.closing {
			return ErrClosed
		}
		if !c.reqs.awaits(in.ID) {
			return ErrUnknownRequest
		}
		payload := in.Payload
		if in.Err != nil {
			payload = nil
		}
		if err := c.push(newOutFrame(proto.TypeResponse, in.ID, payload, "", "", in.Err)); err != nil {
			return err
		}
		c.reqs.answer(in.ID)
		return nil
	case Close:
		return c.close(now, in.Reason)
	case SetAuth:
		c.cfg.Auth = in.Auth
		return nil
	case Abort:
		if c.state == clientClosed {
			return ErrClosed
		}
		c.finish(now, &proto.Close{Code: proto.CloseNormal, Reason: in.Reason}, nil)
		return nil
	}
	return fmt.Errorf("%w: %s is not a client input", ErrInvalid, inputName(in))
}

// clock clamps time so that it never goes backwards.
func (c *Client) clock(now time.Time) time.Time {
	if c.base.IsZero() {
		c.base = now
	}
	if now.Before(c.now) {
		return c.now
	}
	c.now = now
	return now
}

func checkRoom(room string) error {
	if room == "" || len(room) > proto.MaxRoomLen || !utf8.ValidString(room) {
		return fmt.Errorf("%w: room name must be 1..%d bytes of UTF-8", ErrInvalid, proto.MaxRoomLen)
	}
	return nil
}

func checkName(name string) error {
	if len(name) > proto.MaxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("%w: a message or method name must be at most %d bytes of UTF-8", ErrInvalid, proto.MaxNameLen)
	}
	return nil
}

func (c *Client) maxPayload() int {
	m := c.cfg.MaxMessageSize
	if c.peer.MaxMessageSize > 0 {
		m = int(c.peer.MaxMessageSize)
	}
	return m - frameOverhead - sealOverhead(&c.cfg.Secure)
}

func (c *Client) push(f outFrame) error {
	if c.state == clientClosed || c.closing {
		return ErrClosed
	}
	if f.size() > c.maxPayload() {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, f.size(), c.maxPayload())
	}
	if err := c.link.canPush(f.size()); err != nil {
		return err
	}
	c.link.push(&f)
	c.stats.Sent++
	return nil
}

func (c *Client) call(now time.Time, f outFrame, timeout time.Duration) error {
	if c.state == clientClosed || c.closing {
		return ErrClosed
	}
	if timeout <= 0 {
		timeout = c.cfg.RequestTimeout
	}
	if f.size() > c.maxPayload() {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, f.size(), c.maxPayload())
	}
	if err := c.link.canPush(f.size()); err != nil {
		return err
	}
	if err := c.reqs.start(f.id, now.Add(timeout), int(c.peer.MaxRequests)); err != nil {
		return err
	}
	c.link.push(&f)
	c.stats.Sent++
	return nil
}

func (c *Client) connected(now time.Time, conn ConnID) error {
	switch c.state {
	case clientClosed:
		return ErrClosed
	case clientHandshake, clientOpen:
		return fmt.Errorf("%w: Connected while a connection is live", ErrInvalid)
	}
	var first []byte
	if c.secErr != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, c.secErr)
	}
	if c.cfg.Secure.Mode != secure.Off {
		sec, err := secure.NewConn(&c.cfg.Secure, false, c.cfg.Rand)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if first, err = sec.Start(); err != nil {
			return err
		}
		c.sec = sec
	}
	c.connects++
	c.state = clientHandshake
	c.conn = conn
	c.hangup = false
	c.sendHello = c.sec == nil // with encryption: once the handshake completes
	c.hsOut = c.hsOut[:0]
	if first != nil {
		c.hsOut = append(c.hsOut, first)
	}
	c.shakeAt = now.Add(c.cfg.HandshakeTimeout)
	c.helloTries = 0
	c.helloAt = now.Add(c.cfg.InitialRTO)
	c.link.lastRecvAt = now
	return nil
}

func (c *Client) hello() *proto.Hello {
	h := &proto.Hello{Version: proto.Version, Auth: c.cfg.Auth, Limits: c.cfg.limits()}
	if c.have {
		h.Resume = &proto.Resume{ID: c.id, Token: c.token, Ack: c.link.recvAck, Attempt: c.connects}
	}
	return h
}

func (c *Client) recv(now time.Time, data []byte) {
	c.stats.BytesIn += uint64(len(data))
	c.stats.MessagesIn++
	if c.sec == nil {
		c.link.lastRecvAt = now
		c.frames(now, data)
		return
	}
	for len(data) > 0 && (c.state == clientHandshake || c.state == clientOpen) {
		handshake := secure.IsHandshake(data)
		plain, reply, rest, err := c.sec.Read(c.plain, data)
		if err != nil {
			if c.cfg.Mode == Datagram && secure.Droppable(err) {
				c.stats.RecordsDropped++
				data = rest
				continue
			}
			c.secureFailed(now, data, err)
			return
		}
		data = rest
		if handshake {
			if reply != nil {
				c.hsOut = append(c.hsOut, reply)
			}
			if c.sec.Established() {
				c.sendHello = true
				c.helloAt = now.Add(c.cfg.InitialRTO)
			}
			continue
		}
		c.plain = plain[:0]
		c.link.lastRecvAt = now
		c.frames(now, plain)
	}
}

// secureFailed ends the connection whose secure layer refused data.
func (c *Client) secureFailed(now time.Time, data []byte, err error) {
	if errors.Is(err, secure.ErrDowngrade) && !c.sec.Established() {
		// A plaintext answer to the handshake: only a CLOSE refusing the
		// connection is expected. It is unauthenticated: a resumable code
		// is taken as a lost connection (retry later), another as the end.
		if f, derr := codec.Decode(data, codec.Limits{MaxMessageSize: c.cfg.MaxMessageSize}); derr == nil {
			if cl, ok := f.(*proto.Close); ok {
				c.peerClosed(now, cl)
				return
			}
		}
		c.stats.ProtocolErrors++
		c.finish(now, nil, fmt.Errorf("session: the server answered in plaintext: %w", err))
		return
	}
	c.stats.ProtocolErrors++
	cl := &proto.Close{Code: proto.CloseSecurity, Reason: reason(err)}
	if !c.sec.Established() {
		cl = nil // nothing can be said to a server that failed the handshake
	}
	c.finish(now, cl, fmt.Errorf("session: %w", err))
}

// frames decodes one plaintext message and steps its frames.
func (c *Client) frames(now time.Time, data []byte) {
	if err := c.dec.Reset(data); err != nil {
		c.decodeFailed(now, err)
		return
	}
	for c.state == clientHandshake || c.state == clientOpen {
		f, err := c.dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			c.decodeFailed(now, err)
			return
		}
		c.frame(now, f)
	}
	if c.closing && c.state == clientOpen && c.link.unacked() == 0 && c.reqs.outstanding() == 0 {
		c.finish(now, &proto.Close{Code: proto.CloseNormal, Reason: c.closeReason}, nil)
	}
}

func (c *Client) decodeFailed(now time.Time, err error) {
	code := proto.CloseProtocolError
	if errors.Is(err, codec.ErrTooLarge) {
		code = proto.CloseTooLarge
	}
	c.violation(now, code, fmt.Errorf("%w: %w", ErrProtocol, err))
}

// violation ends the machine because the peer broke the protocol.
func (c *Client) violation(now time.Time, code proto.CloseCode, err error) {
	c.stats.ProtocolErrors++
	c.finish(now, &proto.Close{Code: code, Reason: reason(err)}, &CloseError{Code: code, Reason: reason(err)})
}

// reason turns an error into a CLOSE reason within the protocol bound.
func reason(err error) string { return wireText(err.Error()) }

func (c *Client) frame(now time.Time, f proto.Frame) {
	if d, ok := f.(*proto.Data); ok && c.state == clientOpen {
		// A stream's messages take this path, apart from the other
		// frames, whose cases would deepen the frame of every message.
		if c.ack(now, d.Ack) {
			c.reliable(now, &inFrame{seq: d.Seq, typ: proto.TypeData, payload: d.Payload, room: d.Room, name: d.Name})
		}
		return
	}
	c.control(now, f)
}

// control steps the frames of the handshake, and the others than DATA.
func (c *Client) control(now time.Time, f proto.Frame) {
	if c.state == clientHandshake {
		switch f := f.(type) {
		case *proto.Welcome:
			c.welcome(now, f)
		case *proto.Close:
			c.peerClosed(now, f)
		default:
			if c.cfg.Mode == Stream {
				c.violation(now, proto.CloseProtocolError, protocolErr("%s before WELCOME", f.Type()))
			}
			// Datagram: a retransmission overtook the WELCOME; the server
			// resends it after our next HELLO or its RTO.
		}
		return
	}
	switch f := f.(type) {
	case *proto.Ack:
		c.ack(now, f.Ack)
	case *proto.Heartbeat:
		if !c.ack(now, f.Ack) {
			return
		}
		if f.Echo > 0 {
			if sent := c.base.Add(time.Duration(f.Echo) * time.Microsecond); !sent.After(now) && now.Sub(sent) < time.Hour {
				c.link.sample(now.Sub(sent))
			}
		}
		c.link.peerBehind(now)
	case *proto.Request:
		if c.ack(now, f.Ack) {
			c.reliable(now, &inFrame{seq: f.Seq, typ: proto.TypeRequest, id: f.ID, payload: f.Payload, name: f.Name})
		}
	case *proto.Response:
		if c.ack(now, f.Ack) {
			c.reliable(now, &inFrame{seq: f.Seq, typ: proto.TypeResponse, id: f.ID, payload: f.Payload, err: f.Error})
		}
	case *proto.Close:
		c.peerClosed(now, f)
	case *proto.Welcome:
		if c.cfg.Mode == Datagram && f.ID == c.id {
			return // a duplicate of the WELCOME we acted on
		}
		c.violation(now, proto.CloseProtocolError, protocolErr("WELCOME on an established connection"))
	default:
		c.violation(now, proto.CloseProtocolError, protocolErr("%s is not sent by servers", f.Type()))
	}
}

// ack applies a piggybacked or standalone ack; false if the machine ended.
func (c *Client) ack(now time.Time, a uint64) bool {
	if err := c.link.ack(a, now); err != nil {
		c.violation(now, proto.CloseProtocolError, err)
		return false
	}
	return true
}

// reliable delivers an in-order reliable frame, and the held ones it
// makes in order. What a stream never needs (held frames, on a datagram
// transport) is in functions of its own, which keeps this frame, on every
// message's path, small.
func (c *Client) reliable(now time.Time, f *inFrame) {
	switch c.link.accept(f.seq) {
	case acceptDeliver:
		c.deliver(now, f)
		if len(c.link.held) > 0 {
			c.deliverHeld(now)
		}
	case acceptHold:
		c.hold(f)
	case acceptOverflow:
		c.violation(now, proto.CloseProtocolError, c.link.overflow(f.seq))
	case acceptDup:
	}
}

// deliverHeld delivers the held frames that are next in order.
//
//go:noinline
func (c *Client) deliverHeld(now time.Time) {
	for c.state == clientOpen {
		next, ok := c.link.popHeld()
		if !ok {
			break
		}
		c.deliver(now, &next)
	}
}

// hold keeps an early frame (see link.hold).
//
//go:noinline
func (c *Client) hold(f *inFrame) { c.link.hold(*f) }

func (c *Client) deliver(now time.Time, f *inFrame) {
	if err := c.inbox.deliver(c.id, f, &c.reqs); err != nil {
		c.violation(now, requestViolation(err), err)
	}
}

func (c *Client) welcome(now time.Time, w *proto.Welcome) {
	if w.Version != proto.Version {
		c.violation(now, proto.CloseUnsupportedVersion, fmt.Errorf("%w: server speaks version %d", ErrProtocol, w.Version))
		return
	}
	switch {
	case c.have && w.Resumed:
		if w.ID != c.id {
			c.violation(now, proto.CloseProtocolError, protocolErr("resumed a different session %s", w.ID))
			return
		}
		if err := c.link.resume(w.Ack, now); err != nil {
			c.violation(now, proto.CloseProtocolError, err)
			return
		}
		c.stats.Resumes++
		c.add(&Resumed{Client: c.id})
	case c.have:
		if c.closing {
			// What was pending is lost; the new session is not wanted.
			c.finish(now, &proto.Close{Code: proto.CloseNormal, Reason: c.closeReason}, ErrResumeRefused)
			return
		}
		c.loseSession(now, ErrResumeRefused)
		fallthrough
	default:
		if w.Resumed {
			c.violation(now, proto.CloseProtocolError, protocolErr("WELCOME resumed a session that was not asked for"))
			return
		}
		if w.Ack != 0 {
			c.violation(now, proto.CloseProtocolError, protocolErr("WELCOME of a new session acknowledges %d", w.Ack))
			return
		}
		c.id, c.have = w.ID, true
		c.stats.SessionsStarted++
		c.add(&SessionStarted{Client: c.id})
	}
	c.token = append(c.token[:0], w.Token...)
	c.peer = w.Limits
	c.link.peerInflight = int(w.Limits.MaxInflight)
	c.hbInterval, c.idleTimeout = w.Heartbeat, w.IdleTimeout
	c.hbAt = now.Add(c.hbInterval)
	c.link.lastRecvAt = now // a lost session's link was reset above: the WELCOME just arrived
	c.state = clientOpen
	c.sendHello = false
	c.attempt = 0
	c.link.ackNow() // "ACK <last received>" completes the handshake
}

// loseSession reports the current session lost and starts from scratch.
func (c *Client) loseSession(now time.Time, cause error) {
	lost := c.lose(c.id, &c.link, &c.reqs)
	if len(lost.Unacked) == 0 && len(lost.Requests) == 0 {
		c.stats.SessionsLost++ // a refused resume loses the session even with nothing pending
	}
	c.add(&SessionLost{Client: c.id, Err: cause, Lost: lost})
	c.have = false
	c.id = proto.ClientID{}
	c.token = c.token[:0]
	c.link.init(&c.cfg.LinkConfig, &c.stats)
	c.reqs.init(c.cfg.MaxRequests)
}

func (c *Client) peerClosed(now time.Time, f *proto.Close) {
	err := &CloseError{Code: f.Code, Reason: f.Reason, Remote: true}
	// A resumable code ends only the connection: the server may still hold
	// the session, so the client reconnects instead of giving it up.
	if f.Code.Resumable() {
		c.hangup = true
		c.transportLost(now, err)
		return
	}
	c.finish(now, nil, err)
}

// transportLost moves to idle and asks the driver to dial again.
func (c *Client) transportLost(now time.Time, err error) {
	c.state = clientIdle
	c.sendHello, c.hbDue, c.sendClose = false, false, nil
	c.sec, c.hsOut = nil, c.hsOut[:0]
	c.link.detach()
	c.add(&ConnectionLost{Err: err})
	c.scheduleDial(now)
}

func (c *Client) scheduleDial(now time.Time) {
	c.attempt++
	ceiling := c.cfg.ReconnectMin
	for i := 1; i < c.attempt && ceiling < c.cfg.ReconnectMax; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, c.cfg.ReconnectMax)
	var b [8]byte
	delay := ceiling
	if _, err := io.ReadFull(c.cfg.Rand, b[:]); err == nil {
		delay = time.Duration(binary.LittleEndian.Uint64(b[:]) % uint64(ceiling))
	}
	if c.closing && c.attempt == 1 {
		delay = 0 // a Close waits to flush: reconnect at once, then back off
	}
	c.add(&Dial{At: now.Add(delay), Attempt: c.attempt})
}

func (c *Client) disconnected(now time.Time, conn ConnID, err error) {
	switch c.state {
	case clientClosed:
		return
	case clientIdle:
		if conn == 0 { // the dial failed
			c.scheduleDial(now)
		}
		return
	}
	if conn != c.conn {
		return // a superseded connection
	}
	c.transportLost(now, err)
}

func (c *Client) timeout(now time.Time) {
	if c.state == clientClosed {
		return
	}
	c.timeouts(c.id, &c.reqs, now)
	if c.closing && !now.Before(c.closeAt) {
		// CloseTimeout is over, in whatever state the connection is.
		c.finish(now, &proto.Close{Code: proto.CloseNormal, Reason: c.closeReason}, nil)
		return
	}
	switch c.state {
	case clientHandshake:
		if !now.Before(c.shakeAt) {
			c.hangup = true
			c.transportLost(now, ErrHandshakeTimeout)
			return
		}
		if c.cfg.Mode == Datagram && !now.Before(c.helloAt) {
			if c.sec != nil {
				if r := c.sec.Resend(); r != nil {
					c.hsOut = append(c.hsOut, r)
				}
			}
			c.sendHello = c.sec == nil || c.sec.Established()
			c.helloTries++
			c.helloAt = now.Add(min(c.cfg.InitialRTO<<min(c.helloTries, 16), c.cfg.MaxRTO))
		}
	case clientOpen:
		if !now.Before(c.link.lastRecvAt.Add(c.idleTimeout)) {
			c.hangup = true
			c.transportLost(now, ErrIdleTimeout)
			return
		}
		c.link.timeout(now)
		if !now.Before(c.hbAt) {
			c.hbDue = true
			c.hbAt = c.hbAt.Add(c.hbInterval)
			if !c.hbAt.After(now) {
				c.hbAt = now.Add(c.hbInterval)
			}
		}
	}
}

func (c *Client) close(now time.Time, why string) error {
	if c.state == clientClosed || c.closing {
		return ErrClosed
	}
	// With something pending, wait (up to CloseTimeout) for the server to
	// acknowledge it, reconnecting and resuming if the connection is lost
	// meanwhile or already was.
	pending := c.link.unacked() > 0 || c.reqs.outstanding() > 0
	if pending && (c.state == clientOpen || c.have) {
		c.closing, c.closeReason = true, why
		c.closeAt = now.Add(c.cfg.CloseTimeout)
		if c.state == clientIdle {
			c.add(&Dial{At: now, Attempt: c.attempt}) // now, not after the backoff
		}
		return nil
	}
	c.finish(now, &proto.Close{Code: proto.CloseNormal, Reason: why}, nil)
	return nil
}

// finish ends the machine: send (if live) CLOSE, hang up, report.
func (c *Client) finish(now time.Time, send *proto.Close, err error) {
	if c.state == clientHandshake || c.state == clientOpen {
		c.sendClose = send
		c.hangup = true
		// A clean CLOSE is preceded by the acknowledgement still owed
		// (held for AckDelay), so that the server does not report as lost
		// what this side received (G2).
		c.finalAck = c.state == clientOpen && send != nil && send.Code == proto.CloseNormal && c.link.ackDue
	}
	lost := c.lose(c.id, &c.link, &c.reqs)
	c.state = clientClosed
	c.closing = false
	c.add(&Closed{Client: c.id, Err: err, Lost: lost})
}

// Recycle gives back Delivered events of this machine that the caller is
// done with, so that later deliveries reuse their memory instead of
// allocating: a driver that hands each message's fields on and drops the
// event (as package adapters does) can give it back. The Payload stays
// the caller's; the event itself must not be used again, nor given back
// twice. The machine keeps up to 1024 of them. Optional: events not given
// back are left to the garbage collector.
func (c *Client) Recycle(ds []*Delivered) { c.recycle(ds) }

// Ready drains what the machine wants done. Call it after each Step (or
// after a batch of Steps: acknowledgements then coalesce).
func (c *Client) Ready() Ready {
	var rd Ready
	c.ReadyInto(&rd)
	return rd
}

// ReadyInto is Ready written into rd, reusing the memory of the Transmit
// and Events slices rd holds: a driver that is done with them (not with the
// messages and events in them, which stay valid) before it asks again
// allocates nothing for them.
func (c *Client) ReadyInto(rd *Ready) {
	c.out = rd.Transmit[:0]
	live := c.state == clientHandshake || c.state == clientOpen || c.sendClose != nil
	if live && !(c.hangup && c.sendClose == nil) {
		for _, r := range c.hsOut {
			c.out = append(c.out, r)
			c.stats.MessagesOut++
			c.stats.BytesOut += uint64(len(r))
		}
		c.hsOut = c.hsOut[:0]
	}
	if c.sec != nil && !c.sec.Established() {
		c.sendClose = nil // nothing is said before the channel exists
	}
	if live && !(c.hangup && c.sendClose == nil) {
		c.w.begin(c.peerMax()-sealOverhead(&c.cfg.Secure), c.emitFn)
		if c.sendHello {
			c.w.frame(c.hello())
			c.sendHello = false
		}
		if c.state == clientOpen {
			c.link.flush(&c.w, c.now)
			if c.hbDue {
				c.w.heartbeat(c.link.ackValue(), uint64(c.now.Sub(c.base)/time.Microsecond))
				c.hbDue = false
				c.link.acked()
			}
			if c.link.ackDue && !c.link.holdAck(c.now) {
				c.w.ackFrame(c.link.ackValue())
				c.link.acked()
			}
		}
		if c.sendClose != nil {
			if c.finalAck {
				c.w.ackFrame(c.link.ackValue())
				c.link.acked()
				c.finalAck = false
			}
			c.w.frame(c.sendClose)
			c.sendClose = nil
		}
		c.w.end()
	}
	*rd = Ready{Transmit: c.out, Hangup: c.hangup, Events: c.take(rd.Events[:0]), Deadline: c.deadline()}
	if len(c.out) > 0 {
		c.w.take()
	}
	c.out, c.hangup = nil, false
}

func (c *Client) emit(msg []byte) {
	if c.sec != nil {
		msg = c.sealer.seal(c.sec, msg)
	}
	c.stats.MessagesOut++
	c.stats.BytesOut += uint64(len(msg))
	c.out = append(c.out, msg)
}

func (c *Client) deadline() time.Time {
	var d time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	earliest(c.reqs.deadline())
	switch c.state {
	case clientHandshake:
		earliest(c.shakeAt)
		if c.cfg.Mode == Datagram {
			earliest(c.helloAt)
		}
	case clientOpen:
		earliest(c.hbAt)
		earliest(c.link.lastRecvAt.Add(c.idleTimeout))
		earliest(c.link.deadline())
	}
	if c.closing {
		earliest(c.closeAt)
	}
	return d
}
