package session

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/bettersocket/bettersocket/codec"
	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
	"github.com/bettersocket/bettersocket/session/internal/timerq"
)

// ServerReady is what a [Server] asks its driver to do, drained by
// [Server.Ready].
type ServerReady struct {
	// Transmit are transport messages to write, each on its connection, in
	// order per connection. The driver may keep them.
	Transmit []Outgoing
	// Hangup lists connections to close after writing their messages. The
	// machine already forgot them: later inputs for them are ignored.
	Hangup []ConnID
	// Events are what happened, in order.
	Events []Event
	// Deadline is when the machine next needs a Timeout step; zero means
	// never.
	Deadline time.Time
}

// Outgoing is one transport message for one connection.
type Outgoing struct {
	Conn ConnID
	Data []byte
}

type connState uint8

const (
	connAwaitHello connState = iota
	connOpen
	connDone // closing: only its CLOSE remains to be written
)

// timed is the owner of a timer: a session or a connection awaiting HELLO.
type timed struct {
	s *serverSession
	c *serverConn
}

type serverConn struct {
	id    ConnID
	src   string // its source (Connected.Source)
	info  any    // Connected.Transport, for the Authorize hook
	state connState
	sess  *serverSession
	epoch uint64
	timer timerq.Item[timed]
	// dirtyAt is c's place in the server's dirty list plus one, or zero
	// while c has nothing for the next Ready.
	dirtyAt int32
	welcome *proto.Welcome // set until the client confirms it
	resend  bool           // write welcome in the next Ready
	sentAt  time.Time      // when welcome was last written
	hbDue   bool
	hbEcho  uint64
	close   *proto.Close
	// finalAck, when set, is written before close: the acknowledgement
	// the session owed when the application kicked it.
	finalAck *proto.Ack

	pending links[serverConn] // in its source's pending chain, while awaiting HELLO

	// encryption (nil sec: plaintext); see secure.go
	sec   *secure.Conn
	hsOut [][]byte  // handshake records to write before anything else
	hsAt  time.Time // when a handshake answer was last resent (Datagram)

	// opened is the part of an opened record that a step left unprocessed
	// (MaxFramesPerStep): whole plaintext frames, processed first by the
	// next Recv on the connection. The driver holds only sealed bytes, so
	// the machine keeps these itself.
	opened []byte
	// more: the last Recv on the connection left work for the next one,
	// which continues the same transport message (not counted again).
	more bool

	// Deferred authorization (ServerConfig.DeferAuthorize): asked is set
	// once AuthPending was emitted for hello (a copy); answered once the
	// driver stepped Authorized, with its verdict in authErr.
	hello    *proto.Hello
	asked    bool
	answered bool
	authErr  error
}

type serverSession struct {
	id        proto.ClientID
	link      link
	reqs      requests
	token     [32]byte // SHA-256 of the current resume token
	nextToken [32]byte // SHA-256 of the token in an unconfirmed WELCOME
	hasNext   bool
	peer      proto.Limits // after hasNext: they share a word (see the note below)
	attempt   uint64       // the client's connection attempt of the last accepted HELLO
	conn      *serverConn  // nil while detached
	epoch     uint64
	timer     timerq.Item[timed]

	detachedAt  time.Time
	detached    links[serverSession] // in the server's detached chain
	srcDetached links[serverSession] // in its source's detached chain
	inDetached  bool
	src         string // the source of its newest connection

	rooms map[*room]int // index of this session in room.members

	key secure.PublicKey // the client's static key (secure.Mutual), or zero

	// The fields are in an order that wastes little on alignment: with the
	// allocator's 8-byte header, a serverSession of up to 696 bytes takes
	// 704; one byte more, 768 (BenchmarkIdleSessionHeap).
}

// Server is the server machine: the hub for many connections and sessions.
// It is deterministic and performs no I/O; see the package documentation
// for the driving loop. A Server is not safe for concurrent use.
type Server struct {
	cfg   ServerConfig
	now   time.Time
	stats Stats
	dec   *codec.Decoder

	sessions map[proto.ClientID]*serverSession
	// lastSess is the session session found last: a Send loop names one
	// session over and over, and a map lookup hashes its 16-byte ID each
	// time. forget clears it.
	lastSess *serverSession
	conns    map[ConnID]*serverConn
	rooms    map[string]*room
	timers   timerq.Queue[timed]
	pending  int // connections awaiting HELLO
	shutdown bool
	adm      admission

	detached                 chain[serverSession] // oldest first
	detachedN, detachedBytes int

	unread  int  // bytes the last Recv left for a later step (MaxFramesPerStep)
	more    bool // the last Recv left work for a later step (see Unread)
	idle    bool // the last Recv delivered nothing on an open connection
	dirty   []*serverConn
	w       writer
	emitFn  func([]byte)
	curConn ConnID
	curSec  *secure.Conn // the channel sealing curConn's messages, if any
	secErr  error        // what is wrong with cfg.Secure, checked once
	plain   []byte       // scratch: the opened record
	sealer  sealer
	out     []Outgoing
	hangups []ConnID
	inbox
}

// NewServer returns a server machine with no connections.
func NewServer(cfg ServerConfig) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:      cfg,
		sessions: make(map[proto.ClientID]*serverSession),
		conns:    make(map[ConnID]*serverConn),
		rooms:    make(map[string]*room),
	}
	s.dec = codec.NewDecoder(codec.Limits{MaxMessageSize: s.cfg.MaxMessageSize})
	s.adm.init()
	s.detached.at = sessDetached
	s.emitFn = s.emit
	s.inbox.stats = &s.stats
	s.secErr = s.cfg.Secure.Validate(true)
	return s
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := s.stats
	st.Sessions = len(s.sessions)
	st.Detached = s.detachedN
	st.Connections = len(s.conns)
	return st
}

// PeerMaxMessageSize returns the largest transport message the client on
// conn accepts: the limit its HELLO announced, or this side's own
// MaxMessageSize when it announced none; 0 while conn has no session. Every
// message for conn in ServerReady.Transmit fits it; a driver that joins
// messages into one transport message must keep within it.
func (s *Server) PeerMaxMessageSize(conn ConnID) int {
	c := s.conns[conn]
	if c == nil || c.sess == nil {
		return 0
	}
	return s.peerMax(c.sess)
}

// ConnOf returns the connection the session id is attached to; ok is false
// while it is detached or unknown. A driver that defers Ready after a Send
// (its output goes to that connection alone) asks it.
func (s *Server) ConnOf(id proto.ClientID) (conn ConnID, ok bool) {
	sess := s.sessions[id]
	if sess == nil || sess.conn == nil {
		return 0, false
	}
	return sess.conn.id, true
}

// FramesOnlyFor reports whether the next Ready would hand over frames for
// open connections and nothing else (no events, no hangups), calling f with each
// of those connections in turn; it stops, and reports false, when f does.
// A driver whose writers are busy with all of them may leave that Ready to
// the writers, each of which takes its own connection's messages with
// [Server.ReadyConnAppend] when it is about to write, so that what is stepped
// meanwhile (a Send loop, a run of Broadcasts) shares their next writes.
func (s *Server) FramesOnlyFor(f func(conn ConnID) bool) bool {
	if len(s.events) > 0 || len(s.dirty) == 0 {
		return false
	}
	for _, c := range s.dirty {
		if c.state != connOpen || c.close != nil || !f(c.id) {
			return false
		}
	}
	return true
}

func (s *Server) peerMax(sess *serverSession) int {
	if sess != nil && sess.peer.MaxMessageSize > 0 {
		return int(sess.peer.MaxMessageSize)
	}
	return s.cfg.MaxMessageSize
}

// Unread reports whether the last [Recv] left part of its message for a
// later step because it reached MaxFramesPerStep (more), and how many bytes
// at the end of its Data are that part (n). The driver then steps
// Recv{Conn, Data: Data[len(Data)-n:]} on the same connection, before
// anything that arrived after them on it, and may step other connections'
// inputs in between. n may be zero while more is true: the rest of an
// encrypted record, already opened, stays with the machine, which
// processes it at the start of that next step. Only a Recv step changes
// it.
func (s *Server) Unread() (n int, more bool) { return s.unread, s.more }

// Idle reports whether the last [Recv] was on an established connection
// and delivered nothing to the application: acknowledgements, heartbeats,
// duplicates. An honest client sends few such messages (a heartbeat per
// interval, an ACK per batch it receives); a driver may bound how often a
// connection sends them, as the adapters do. Only a Recv step changes it.
func (s *Server) Idle() bool { return s.idle }

// Sessions returns the IDs of all live sessions in ascending order.
func (s *Server) Sessions() []proto.ClientID {
	ids := make([]proto.ClientID, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b proto.ClientID) int { return slices.Compare(a[:], b[:]) })
	return ids
}

// Step consumes one input at time now. It returns an error only about the
// caller's own command; anything a peer does wrong ends that peer's
// connection (and, where the protocol says so, its session) with a CLOSE and
// an event, and touches nothing else.
func (s *Server) Step(now time.Time, in Input) error {
	if now.Before(s.now) {
		now = s.now
	}
	s.now = now
	switch in := in.(type) {
	case Connected:
		return s.connected(now, in)
	case Recv:
		s.unread, s.more, s.idle = 0, false, false
		if c := s.conns[in.Conn]; c != nil && c.state != connDone {
			open, delivered := c.state == connOpen, s.stats.Delivered
			s.recv(now, c, in.Data)
			c.more = s.more
			s.idle = open && c.state == connOpen && s.stats.Delivered == delivered
		}
		return nil
	case Disconnected:
		if c := s.conns[in.Conn]; c != nil {
			s.disconnected(now, c, in.Err)
		}
		return nil
	case Timeout:
		s.timeout(now)
		return nil
	case Send:
		sess, err := s.session(in.To)
		if err != nil {
			return err
		}
		if in.Room != "" {
			if err := checkRoom(in.Room); err != nil {
				return err
			}
		}
		if err := checkName(in.Name); err != nil {
			return err
		}
		return s.push(now, sess, newOutFrame(proto.TypeData, 0, in.Payload, in.Room, in.Name, nil))
	case Call:
		sess, err := s.session(in.To)
		if err != nil {
			return err
		}
		return s.call(now, sess, in)
	case Reply:
		sess, err := s.session(in.To)
		if err != nil {
			return err
		}
		if !sess.reqs.awaits(in.ID) {
			return ErrUnknownRequest
		}
		payload := in.Payload
		if in.Err != nil {
			payload = nil
		}
		if err := s.push(now, sess, newOutFrame(proto.TypeResponse, in.ID, payload, "", "", in.Err)); err != nil {
			return err
		}
		sess.reqs.answer(in.ID)
		return nil
	case Join:
		sess, err := s.session(in.Client)
		if err != nil {
			return err
		}
		return s.join(sess, in.Room)
	case Leave:
		sess, err := s.session(in.Client)
		if err != nil {
			return err
		}
		return s.leave(sess, in.Room)
	case Broadcast:
		return s.broadcast(now, in)
	case Kick:
		sess, err := s.session(in.Client)
		if err != nil {
			return err
		}
		if c := sess.conn; c != nil && c.state == connOpen && sess.link.ackDue {
			// The client reports what it loses: not what this side got.
			c.finalAck = &proto.Ack{Ack: sess.link.ackValue()}
		}
		s.endSession(now, sess, &CloseError{Code: proto.ClosePolicy, Reason: in.Reason},
			&proto.Close{Code: proto.ClosePolicy, Reason: in.Reason})
		return nil
	case Shutdown:
		s.shutdownAll(now, in.Reason)
		return nil
	case Authorized:
		s.authorized(now, in)
		return nil
	}
	return fmt.Errorf("%w: %s is not a server input", ErrInvalid, inputName(in))
}

func (s *Server) session(id proto.ClientID) (*serverSession, error) {
	if sess := s.lastSess; sess != nil && sess.id == id {
		return sess, nil
	}
	sess := s.sessions[id]
	if sess == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownClient, id)
	}
	s.lastSess = sess
	return sess, nil
}

// --- connections and the handshake ---

func (s *Server) connected(now time.Time, in Connected) error {
	id := in.Conn
	if _, dup := s.conns[id]; dup {
		return fmt.Errorf("%w: connection %d already exists", ErrInvalid, id)
	}
	if s.secErr != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, s.secErr)
	}
	c := &serverConn{id: id, src: in.Source, info: in.Transport}
	c.timer.Value = timed{c: c}
	s.conns[id] = c
	if s.shutdown {
		c.state = connDone // never counted in pending: reject must not uncount it
		s.reject(c, proto.CloseGoingAway, errors.New("server shutting down"))
		return nil
	}
	if err := s.admitConn(now, c); err != nil {
		c.state = connDone
		s.reject(c, proto.CloseOverloaded, err)
		return nil
	}
	s.timers.Set(&c.timer, now.Add(s.cfg.HandshakeTimeout))
	// The handshake runs while the connection holds its pending place, so
	// it counts against the per-source limits on connections awaiting HELLO.
	s.startSecure(c)
	return nil
}

// reject closes a connection that has no session.
func (s *Server) reject(c *serverConn, code proto.CloseCode, err error) {
	s.finishConn(c, &proto.Close{Code: code, Reason: reason(err)})
	s.add(&ConnRejected{Conn: c.id, Err: err})
}

// finishConn queues CLOSE (if any) and the hangup of c, detaching it from
// its session without touching the session.
func (s *Server) finishConn(c *serverConn, cl *proto.Close) {
	if c.state == connAwaitHello {
		s.unpend(c)
	}
	c.state = connDone
	c.close = cl
	c.welcome, c.resend, c.hbDue = nil, false, false
	if c.sess != nil && c.sess.conn == c {
		c.sess.conn = nil
	}
	c.sess = nil
	s.markDirty(c)
}

func (s *Server) disconnected(now time.Time, c *serverConn, err error) {
	sess := c.sess
	if c.state == connAwaitHello {
		s.unpend(c)
	}
	delete(s.conns, c.id)
	c.state = connDone
	if sess != nil && sess.conn == c && c.epoch == sess.epoch {
		s.detach(now, sess, err)
	}
	c.sess = nil
}

func (s *Server) recv(now time.Time, c *serverConn, data []byte) {
	if !c.more {
		s.stats.BytesIn += uint64(len(data))
		s.stats.MessagesIn++
	}
	if c.sec == nil {
		if c.state == connAwaitHello && secure.IsRecord(data) {
			s.stats.ProtocolErrors++
			s.reject(c, proto.CloseSecurity, fmt.Errorf("%w: the client asks for encryption, which this server does not use", secure.ErrDowngrade))
			return
		}
		s.frames(now, c, data)
		s.more = s.unread > 0
		return
	}
	if c.opened != nil {
		opened := c.opened
		c.opened = nil
		if !s.openedFrames(now, c, opened, true, data) {
			return
		}
	}
	for len(data) > 0 && c.state != connDone {
		handshake := secure.IsHandshake(data)
		plain, reply, rest, err := c.sec.Read(s.plain, data)
		if err != nil {
			if s.cfg.Mode == Datagram && secure.Droppable(err) {
				s.stats.RecordsDropped++
				if reply != nil && c.state == connAwaitHello && !now.Before(c.hsAt.Add(s.cfg.MinRTO)) {
					// Our answer may be lost: send it again, at most once
					// per MinRTO (no amplification by duplicates).
					c.hsOut, c.hsAt = append(c.hsOut, reply), now
					s.markDirty(c)
				}
				data = rest
				continue
			}
			s.stats.ProtocolErrors++
			if c.sess != nil {
				s.violation(now, c, proto.CloseSecurity, fmt.Errorf("session: %w", err))
			} else {
				s.reject(c, proto.CloseSecurity, fmt.Errorf("session: %w", err))
			}
			return
		}
		data = rest
		if handshake {
			if reply != nil {
				c.hsOut, c.hsAt = append(c.hsOut, reply), now
				s.markDirty(c)
			}
			continue
		}
		s.plain = plain[:0]
		if !s.openedFrames(now, c, plain, false, rest) {
			return
		}
	}
}

// openedFrames steps the frames of an opened record; when the step reaches
// MaxFramesPerStep it keeps the rest of them on c and leaves the sealed
// records after it, rest, for the next step, and reports false. own says
// plain is c's own copy; otherwise it is the machine's shared buffer, and
// the rest is copied.
func (s *Server) openedFrames(now time.Time, c *serverConn, plain []byte, own bool, rest []byte) bool {
	s.frames(now, c, plain)
	if s.unread == 0 {
		return true
	}
	left := plain[len(plain)-s.unread:]
	if !own {
		left = append([]byte(nil), left...)
	}
	c.opened = left
	s.unread, s.more = len(rest), true
	return false
}

// frames decodes one plaintext message from c and steps its frames.
func (s *Server) frames(now time.Time, c *serverConn, data []byte) {
	if c.sess != nil {
		c.sess.link.lastRecvAt = now
	}
	if err := s.dec.Reset(data); err != nil {
		s.decodeFailed(now, c, err)
		return
	}
	for n := 0; c.state != connDone; n++ {
		if n > 0 && n == s.cfg.MaxFramesPerStep && s.dec.More() {
			s.unread = s.dec.Remaining()
			break
		}
		f, err := s.dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.decodeFailed(now, c, err)
			return
		}
		if c.state == connAwaitHello {
			if _, ok := f.(*proto.Close); ok {
				// The client gave up before its HELLO arrived (Datagram:
				// the HELLO was lost or overtaken): not a violation.
				s.finishConn(c, nil)
				return
			}
			h, ok := f.(*proto.Hello)
			if !ok {
				s.violation(now, c, proto.CloseProtocolError, protocolErr("%s before HELLO", f.Type()))
				return
			}
			if c.asked {
				// A copy of the HELLO being authorized (Datagram resends
				// it): the answer will come.
				continue
			}
			s.hello(now, c, h)
			continue
		}
		s.frame(now, c, f)
	}
	if c.sess != nil {
		s.rearm(c.sess)
	}
}

func (s *Server) decodeFailed(now time.Time, c *serverConn, err error) {
	code := proto.CloseProtocolError
	if errors.Is(err, codec.ErrTooLarge) {
		code = proto.CloseTooLarge
	}
	s.violation(now, c, code, fmt.Errorf("%w: %w", ErrProtocol, err))
}

// violation closes c because its peer broke the protocol; the session on it
// (if any) ends too, reported with what it loses.
func (s *Server) violation(now time.Time, c *serverConn, code proto.CloseCode, err error) {
	s.stats.ProtocolErrors++
	cl := &proto.Close{Code: code, Reason: reason(err)}
	if sess := c.sess; sess != nil {
		s.endSession(now, sess, &CloseError{Code: code, Reason: reason(err)}, cl)
		return
	}
	s.reject(c, code, err)
}

func (s *Server) hello(now time.Time, c *serverConn, h *proto.Hello) {
	if h.Version != proto.Version {
		s.reject(c, proto.CloseUnsupportedVersion, fmt.Errorf("%w: version %d, want %d", ErrProtocol, h.Version, proto.Version))
		return
	}
	var sess *serverSession
	var key secure.PublicKey
	if c.sec != nil && s.cfg.Secure.Mode == secure.Mutual {
		key = c.sec.PeerKey()
	}
	if h.Resume != nil {
		if old := s.sessions[h.Resume.ID]; old != nil && old.tokenMatches(h.Resume.Token) {
			if key != old.key {
				// The token alone does not resume a mutual session: it
				// must come with the key that created the session.
				s.reject(c, proto.ClosePolicy, ErrClientKey)
				return
			}
			if h.Resume.Attempt <= old.attempt {
				// A HELLO from a connection the client already replaced
				// (read late): it must not take the session from the newer
				// connection, nor start a session nobody will use.
				s.reject(c, proto.CloseSuperseded, fmt.Errorf("%w: stale resume attempt %d, session is at %d", ErrProtocol, h.Resume.Attempt, old.attempt))
				return
			}
			if err := s.authorize(c, h, old.id, true, key); err != nil {
				if err == errAsked {
					return
				}
				if code := authCode(err); code != proto.ClosePolicy {
					// Not a authRefusal of the client (the decision timed
					// out): the session stays, to be resumed again.
					s.reject(c, code, err)
					return
				}
				cl := &proto.Close{Code: proto.ClosePolicy, Reason: reason(err)}
				s.endSession(now, old, &CloseError{Code: proto.ClosePolicy, Reason: reason(err)}, nil)
				s.finishConn(c, cl)
				s.add(&ConnRejected{Conn: c.id, Err: err})
				return
			}
			if h.Resume.Ack >= old.link.nextSeq || h.Resume.Ack < old.link.peerAck {
				err := protocolErr("resume ack %d outside [%d, %d]", h.Resume.Ack, old.link.peerAck, old.link.nextSeq-1)
				s.stats.ProtocolErrors++
				s.endSession(now, old, &CloseError{Code: proto.CloseProtocolError, Reason: reason(err)}, nil)
				s.reject(c, proto.CloseProtocolError, err)
				return
			}
			sess = old
		}
	}
	resumed := sess != nil
	if !resumed {
		if len(s.sessions) >= s.cfg.MaxSessions {
			s.reject(c, proto.CloseOverloaded, fmt.Errorf("%w: %d sessions", ErrOverloaded, len(s.sessions)))
			return
		}
		if !c.asked { // counted once, when the decision was asked for
			if err := s.mayStart(now, c); err != nil {
				s.reject(c, proto.CloseOverloaded, err)
				return
			}
		}
		if err := s.authorize(c, h, proto.ClientID{}, false, key); err != nil {
			if err != errAsked {
				s.reject(c, authCode(err), err)
			}
			return
		}
		var err error
		if sess, err = s.newSession(); err != nil {
			s.reject(c, proto.CloseOverloaded, err)
			return
		}
		sess.key = key
	}
	token := make([]byte, proto.TokenLen)
	if _, err := io.ReadFull(s.cfg.Rand, token); err != nil {
		s.reject(c, proto.CloseOverloaded, fmt.Errorf("session: reading random token: %w", err))
		if !resumed {
			s.forget(sess)
		}
		return
	}

	// Attach: the connection leaves the handshake, the session gets a new
	// epoch, and a connection it had before is superseded.
	s.unpend(c)
	c.info = nil
	if old := sess.conn; old != nil {
		s.finishConn(old, &proto.Close{Code: proto.CloseSuperseded, Reason: "resumed on another connection"})
	}
	if sess.inDetached {
		s.undetach(sess)
	}
	sess.epoch++
	sess.conn, c.sess, c.epoch, c.state = c, sess, sess.epoch, connOpen
	sess.src = c.src
	sess.peer = h.Limits
	sess.link.peerInflight = int(h.Limits.MaxInflight)
	sess.link.lastRecvAt = now
	if resumed {
		if err := sess.link.resume(h.Resume.Ack, now); err != nil {
			panic("session: bug: resume ack validated above: " + err.Error())
		}
		sess.proven(h.Resume.Token)
		sess.attempt = h.Resume.Attempt
		sess.nextToken, sess.hasNext = sha256.Sum256(token), true
		s.stats.Resumes++
		s.add(&Resumed{Client: sess.id, Conn: c.id})
	} else {
		sess.token = sha256.Sum256(token)
		if h.Resume != nil { // its next resume comes from a later connection
			sess.attempt = h.Resume.Attempt
		}
		s.stats.SessionsStarted++
		s.add(&SessionStarted{Client: sess.id, Conn: c.id, Auth: h.Auth})
	}
	c.welcome = &proto.Welcome{
		Version: proto.Version, ID: sess.id, Token: token,
		Heartbeat: s.cfg.HeartbeatInterval, IdleTimeout: s.cfg.IdleTimeout,
		Resumed: resumed, Ack: sess.link.recvAck, Limits: s.cfg.limits(),
	}
	c.resend = true
	s.markDirty(c)
	s.rearm(sess)
}

func (s *Server) authorize(c *serverConn, h *proto.Hello, id proto.ClientID, resume bool, key secure.PublicKey) error {
	req := AuthRequest{Conn: c.id, Auth: h.Auth, Resume: resume, Client: id, ClientKey: key, Source: c.src, Transport: c.info}
	if s.cfg.DeferAuthorize {
		switch {
		case c.answered:
			return c.authErr
		case !c.asked:
			c.asked, c.hello = true, cloneHello(h)
			req.Auth = c.hello.Auth
			s.add(&AuthPending{Request: req})
		}
		return errAsked
	}
	if s.cfg.Authorize == nil {
		return nil
	}
	if err := s.cfg.Authorize(req); err != nil {
		return fmt.Errorf("session: unauthorized: %w", err)
	}
	return nil
}

// errAsked: the authorization was asked of the driver (AuthPending); the
// HELLO continues when it answers.
var errAsked = errors.New("session: authorization pending")

// authorized steps the driver's answer to an AuthPending: the handshake
// continues from the HELLO kept, its checks made again (the session to
// resume may have moved on meanwhile). An answer for a connection that is
// gone or was not asked about is ignored.
func (s *Server) authorized(now time.Time, in Authorized) {
	c := s.conns[in.Conn]
	if c == nil || !c.asked || c.answered || c.state != connAwaitHello {
		return
	}
	c.answered = true
	var ce *CloseError
	switch {
	case errors.As(in.Err, &ce) && ce.Code != 0:
		c.authErr = &authRefusal{code: ce.Code, text: "session: unauthorized: " + ce.Reason, err: in.Err}
	case in.Err != nil:
		c.authErr = fmt.Errorf("session: unauthorized: %w", in.Err)
	}
	h := c.hello
	c.hello = nil
	s.hello(now, c, h)
	if c.sess != nil {
		s.rearm(c.sess)
	}
}

// authRefusal is a deferred authorization refused with a code of the
// driver's choosing (Authorized.Err wraps a *CloseError): the reason sent
// is the CloseError's own.
type authRefusal struct {
	code proto.CloseCode
	text string
	err  error
}

func (r *authRefusal) Error() string { return r.text }
func (r *authRefusal) Unwrap() error { return r.err }

// authCode is the CLOSE code of a authRefusal: the driver's, else policy.
func authCode(err error) proto.CloseCode {
	if r, ok := err.(*authRefusal); ok {
		return r.code
	}
	return proto.ClosePolicy
}

// cloneHello copies what h refers to in the receive buffer.
func cloneHello(h *proto.Hello) *proto.Hello {
	c := *h
	c.Auth = bytes.Clone(h.Auth)
	if h.Resume != nil {
		r := *h.Resume
		r.Token = bytes.Clone(r.Token)
		c.Resume = &r
	}
	return &c
}

func (s *Server) newSession() (*serverSession, error) {
	for range 4 {
		u, err := uuid.NewRandomFromReader(s.cfg.Rand)
		if err != nil {
			return nil, fmt.Errorf("session: reading random client id: %w", err)
		}
		id := proto.ClientID(u)
		if _, taken := s.sessions[id]; taken {
			continue
		}
		sess := &serverSession{id: id}
		sess.link.init(&s.cfg.LinkConfig, &s.stats)
		sess.reqs.init(s.cfg.MaxRequests)
		sess.timer.Value = timed{s: sess}
		s.sessions[id] = sess
		return sess, nil
	}
	return nil, errors.New("session: could not draw an unused client id")
}

// tokenMatches compares in constant time against the current token and the
// one of an unconfirmed WELCOME (which may never have reached the client).
func (sess *serverSession) tokenMatches(token []byte) bool {
	h := sha256.Sum256(token)
	ok := subtle.ConstantTimeCompare(h[:], sess.token[:])
	next := subtle.ConstantTimeCompare(h[:], sess.nextToken[:])
	if !sess.hasNext {
		next = 0
	}
	return ok|next == 1
}

// proven is called when a resume presented token: if it is the token of
// an unconfirmed WELCOME, the client evidently received that WELCOME (only
// its confirmation was lost), so it becomes the current token. Otherwise the
// next rotation would overwrite it while the client may still hold only it.
func (sess *serverSession) proven(token []byte) {
	h := sha256.Sum256(token)
	if sess.hasNext && subtle.ConstantTimeCompare(h[:], sess.nextToken[:]) == 1 {
		sess.token = sess.nextToken
	}
}

// confirm is called on the first frame after WELCOME: the client has the
// new token, so the old one stops working.
func (s *Server) confirm(c *serverConn) {
	if c.welcome == nil {
		return
	}
	c.welcome, c.resend = nil, false
	if sess := c.sess; sess.hasNext {
		sess.token, sess.hasNext = sess.nextToken, false
		sess.nextToken = [32]byte{}
	}
}

// --- frames on an established connection ---

func (s *Server) frame(now time.Time, c *serverConn, f proto.Frame) {
	sess := c.sess
	if _, isHello := f.(*proto.Hello); isHello {
		if s.cfg.Mode == Datagram {
			// Our WELCOME may be lost: send it again, but at most once per
			// MinRTO, so that a flood of duplicate HELLOs cannot make the
			// server amplify traffic.
			if c.welcome != nil && !now.Before(c.sentAt.Add(s.cfg.MinRTO)) {
				c.resend = true
				s.markDirty(c)
			}
			return
		}
		s.violation(now, c, proto.CloseProtocolError, protocolErr("second HELLO"))
		return
	}
	s.confirm(c)
	switch f := f.(type) {
	case *proto.Ack:
		s.ack(now, c, f.Ack)
	case *proto.Heartbeat:
		if !s.ack(now, c, f.Ack) {
			return
		}
		c.hbDue, c.hbEcho = true, f.Echo
		sess.link.peerBehind(now)
		s.markDirty(c)
	case *proto.Data:
		if f.Room != "" {
			// A client reaches a room with PUBLISH, which gets an answer.
			s.violation(now, c, proto.CloseProtocolError, protocolErr("client DATA tagged with room %q", f.Room))
			return
		}
		if s.ack(now, c, f.Ack) {
			s.reliable(now, c, inFrame{seq: f.Seq, typ: proto.TypeData, payload: f.Payload, name: f.Name})
		}
	case *proto.Request:
		if s.ack(now, c, f.Ack) {
			s.reliable(now, c, inFrame{seq: f.Seq, typ: proto.TypeRequest, id: f.ID, payload: f.Payload, name: f.Name})
		}
	case *proto.Publish:
		if s.ack(now, c, f.Ack) {
			s.reliable(now, c, inFrame{seq: f.Seq, typ: proto.TypePublish, id: f.ID, room: f.Room, name: f.Name, payload: f.Payload})
		}
	case *proto.Response:
		if s.ack(now, c, f.Ack) {
			s.reliable(now, c, inFrame{seq: f.Seq, typ: proto.TypeResponse, id: f.ID, payload: f.Payload, err: f.Error})
		}
	case *proto.Join:
		if s.ack(now, c, f.Ack) {
			s.reliable(now, c, inFrame{seq: f.Seq, typ: proto.TypeJoin, id: f.ID, room: f.Room})
		}
	case *proto.Leave:
		if s.ack(now, c, f.Ack) {
			s.reliable(now, c, inFrame{seq: f.Seq, typ: proto.TypeLeave, id: f.ID, room: f.Room})
		}
	case *proto.Close:
		err := &CloseError{Code: f.Code, Reason: f.Reason, Remote: true}
		if f.Code.Resumable() {
			s.detach(now, sess, err) // first: Detached names the connection
			s.finishConn(c, nil)
			return
		}
		s.endSession(now, sess, err, nil)
	default:
		s.violation(now, c, proto.CloseProtocolError, protocolErr("%s is not sent by clients", f.Type()))
	}
}

func (s *Server) ack(now time.Time, c *serverConn, a uint64) bool {
	if err := c.sess.link.ack(a, now); err != nil {
		s.violation(now, c, proto.CloseProtocolError, err)
		return false
	}
	if c.sess.link.txNext < c.sess.link.nextSeq {
		// Frames held back by the peer's window may go out now.
		s.markDirty(c)
	}
	return true
}

func (s *Server) reliable(now time.Time, c *serverConn, f inFrame) {
	sess := c.sess
	s.markDirty(c) // an ack is due whatever happens
	switch sess.link.accept(f.seq) {
	case acceptDeliver:
		s.deliver(now, sess, f)
		for sess.conn == c {
			next, ok := sess.link.popHeld()
			if !ok {
				break
			}
			s.deliver(now, sess, next)
		}
	case acceptHold:
		sess.link.hold(f)
	case acceptOverflow:
		s.violation(now, c, proto.CloseProtocolError, sess.link.overflow(f.seq))
	case acceptDup:
	}
}

func (s *Server) deliver(now time.Time, sess *serverSession, f inFrame) {
	if f.typ == proto.TypeJoin || f.typ == proto.TypeLeave || f.typ == proto.TypePublish {
		if err := sess.reqs.received(f.id); err != nil {
			s.requestViolation(now, sess, err)
			return
		}
		s.stats.Delivered++
		if f.typ == proto.TypePublish {
			s.publish(now, sess, f)
		} else {
			s.roomRequest(now, sess, f)
		}
		return
	}
	if err := s.inbox.deliver(sess.id, &f, &sess.reqs); err != nil {
		s.requestViolation(now, sess, err)
	}
}

func (s *Server) requestViolation(now time.Time, sess *serverSession, err error) {
	if sess.conn != nil {
		s.violation(now, sess.conn, requestViolation(err), err)
	}
}

// --- application commands ---

func (s *Server) maxPayload(sess *serverSession) int {
	m := s.cfg.MaxMessageSize
	if sess.peer.MaxMessageSize > 0 {
		m = int(sess.peer.MaxMessageSize)
	}
	return m - frameOverhead - sealOverhead(&s.cfg.Secure)
}

// admit checks that f fits sess's window and limits, applying the slow
// consumer policy.
func (s *Server) admit(now time.Time, sess *serverSession, f *outFrame) error {
	if f.size() > s.maxPayload(sess) {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, f.size(), s.maxPayload(sess))
	}
	if err := sess.link.canPush(f.size()); err != nil {
		if s.cfg.CloseSlowConsumers {
			s.endSession(now, sess, ErrOverloaded, &proto.Close{Code: proto.CloseOverloaded, Reason: "slow consumer"})
			return fmt.Errorf("%w: session %s closed", ErrOverloaded, sess.id)
		}
		return err
	}
	return nil
}

// enqueue appends an admitted frame to sess's sequence.
func (s *Server) enqueue(now time.Time, sess *serverSession, f outFrame) {
	s.queue(sess, &f)
	if sess.inDetached {
		s.enforceDetachedBudget(now)
	}
}

// queue is enqueue without enforcing the detached budget: a caller that
// walks a room's members enforces it once afterwards, because an eviction
// removes a member from its rooms while the walk is under way.
func (s *Server) queue(sess *serverSession, f *outFrame) {
	sess.link.push(f)
	s.stats.Sent++
	if sess.inDetached {
		s.detachedBytes += f.size()
	} else if sess.conn != nil {
		s.markDirty(sess.conn)
	}
}

func (s *Server) push(now time.Time, sess *serverSession, f outFrame) error {
	if err := s.admit(now, sess, &f); err != nil {
		return err
	}
	s.enqueue(now, sess, f)
	return nil
}

func (s *Server) call(now time.Time, sess *serverSession, in Call) error {
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = s.cfg.RequestTimeout
	}
	if err := checkName(in.Name); err != nil {
		return err
	}
	f := newOutFrame(proto.TypeRequest, in.ID, in.Payload, "", in.Name, nil)
	if err := s.admit(now, sess, &f); err != nil {
		return err
	}
	if err := sess.reqs.start(in.ID, now.Add(timeout), int(sess.peer.MaxRequests)); err != nil {
		return err
	}
	s.enqueue(now, sess, f)
	s.rearm(sess)
	return nil
}

// --- detach, resume window, end of sessions ---

func (s *Server) detach(now time.Time, sess *serverSession, err error) {
	conn := sess.conn
	if conn != nil && conn.sess == sess {
		conn.sess = nil
	}
	sess.conn = nil
	sess.link.detach()
	sess.detachedAt = now
	sess.inDetached = true
	s.detached.push(sess)
	s.detachedN++
	s.detachedBytes += sess.link.bufBytes
	var connID ConnID
	if conn != nil {
		connID = conn.id
	}
	s.add(&Detached{Client: sess.id, Conn: connID, Err: err})
	s.rearm(sess)
	s.detachedBySource(now, sess)
	s.enforceDetachedBudget(now)
}

func (s *Server) undetach(sess *serverSession) {
	s.detached.remove(sess)
	sess.inDetached = false
	s.detachedN--
	s.detachedBytes -= sess.link.bufBytes
	s.undetachedBySource(sess)
}

func (s *Server) enforceDetachedBudget(now time.Time) {
	for s.detached.head != nil && (s.detachedN > s.cfg.MaxDetached || s.detachedBytes > s.cfg.MaxDetachedBytes) {
		s.endSession(now, s.evictionVictim(), ErrEvicted, nil)
	}
}

// endSession ends sess for good: its connection (if any) gets cl and is hung
// up, it leaves its rooms, its pending requests fail, and a SessionClosed
// event reports what it lost.
func (s *Server) endSession(now time.Time, sess *serverSession, err error, cl *proto.Close) {
	if c := sess.conn; c != nil {
		s.finishConn(c, cl)
	}
	if sess.inDetached {
		s.undetach(sess)
	}
	s.leaveAll(sess)
	lost := s.lose(sess.id, &sess.link, &sess.reqs)
	s.add(&SessionClosed{Client: sess.id, Err: err, Lost: lost})
	s.forget(sess)
}

func (s *Server) forget(sess *serverSession) {
	s.timers.Remove(&sess.timer)
	delete(s.sessions, sess.id)
	if s.lastSess == sess {
		s.lastSess = nil
	}
}

func (s *Server) shutdownAll(now time.Time, why string) {
	s.shutdown = true
	ids := make([]ConnID, 0, len(s.conns))
	for id, c := range s.conns {
		if c.state != connDone {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		c := s.conns[id]
		if sess := c.sess; sess != nil {
			s.detach(now, sess, &CloseError{Code: proto.CloseGoingAway, Reason: why}) // first: Detached names the connection
		}
		s.finishConn(c, &proto.Close{Code: proto.CloseGoingAway, Reason: why})
	}
}

// --- timers ---

// deadline is the earliest time sess needs attention.
func (s *Server) deadline(sess *serverSession) time.Time {
	d := sess.reqs.deadline()
	earliest := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	if sess.inDetached {
		earliest(sess.detachedAt.Add(s.cfg.ResumeWindow))
	} else if sess.conn != nil {
		earliest(sess.link.lastRecvAt.Add(s.cfg.IdleTimeout))
		earliest(sess.link.deadline())
	}
	return d
}

// rearm moves sess's timer earlier when needed. A later deadline is left
// for the timer to discover when it fires (it then re-arms exactly), so the
// common case (a frame arrived, the idle deadline moved later) costs O(1).
func (s *Server) rearm(sess *serverSession) {
	d := s.deadline(sess)
	if d.IsZero() {
		return
	}
	if !sess.timer.Queued() || d.Before(sess.timer.At) {
		s.timers.Set(&sess.timer, d)
	}
}

func (s *Server) timeout(now time.Time) {
	for {
		it := s.timers.PopDue(now)
		if it == nil {
			return
		}
		if c := it.Value.c; c != nil {
			s.reject(c, proto.CloseHandshakeTimeout, ErrHandshakeTimeout)
			continue
		}
		s.sessionTimeout(now, it.Value.s)
	}
}

func (s *Server) sessionTimeout(now time.Time, sess *serverSession) {
	s.timeouts(sess.id, &sess.reqs, now)
	if sess.inDetached && !now.Before(sess.detachedAt.Add(s.cfg.ResumeWindow)) {
		s.endSession(now, sess, ErrExpired, nil)
		return
	}
	if c := sess.conn; c != nil {
		if !now.Before(sess.link.lastRecvAt.Add(s.cfg.IdleTimeout)) {
			s.detach(now, sess, ErrIdleTimeout) // first: Detached names the connection
			s.finishConn(c, &proto.Close{Code: proto.CloseIdleTimeout, Reason: "nothing received"})
			return
		}
		before := sess.link.retxTo
		sess.link.timeout(now)
		if sess.link.retxTo != before || sess.link.ackTimeout(now) {
			s.markDirty(c) // resend, or send the held ACK
		}
	}
	if d := s.deadline(sess); !d.IsZero() {
		s.timers.Set(&sess.timer, d)
	}
}

// --- output ---

func (s *Server) markDirty(c *serverConn) {
	if c.dirtyAt == 0 {
		s.dirty = append(s.dirty, c)
		c.dirtyAt = int32(len(s.dirty))
	}
}

// Recycle gives back Delivered events of this machine that the caller is
// done with, for later deliveries to reuse, as [Client.Recycle] does.
func (s *Server) Recycle(ds []*Delivered) { s.recycle(ds) }

// Ready drains what the machine wants done. Call it after each Step or
// batch of Steps.
func (s *Server) Ready() ServerReady {
	var rd ServerReady
	s.ReadyInto(&rd)
	return rd
}

// ReadyInto is Ready written into rd, reusing the memory of the Transmit,
// Hangup and Events slices rd holds: a driver that is done with them (not
// with the messages and events in them, which stay valid) before it asks
// again allocates nothing for them.
func (s *Server) ReadyInto(rd *ServerReady) {
	s.out, s.hangups = rd.Transmit[:0], rd.Hangup[:0]
	for _, c := range s.dirty {
		c.dirtyAt = 0
		s.output(c)
	}
	clear(s.dirty)
	s.dirty = s.dirty[:0]
	s.handOver(rd, s.take(rd.Events[:0]))
	if len(rd.Transmit) > 0 {
		s.w.take()
	}
}

// ReadyConnAppend is ReadyInto for one connection, into the caller's
// memory: rd gets what conn has to write (and conn in Hangup once it is
// done), encoded after buf's length, and everything else stays for the next
// Ready: other connections' messages, and the events. It returns buf with
// the messages appended (in new memory when they did not fit; the messages
// stay valid either way, and their bytes are those ReadyInto would write).
// A driver that left a Ready to the writers of its connections
// ([Server.FramesOnlyFor]) lets each writer take its own connection's
// messages when it is about to write, into a buffer the writer reuses once
// they are written: a connection's frames then go out in one message per
// write, however many Readys other writers asked for meanwhile, and cost
// no allocation. Events are never held back by it: a Step that has some
// is followed by a ReadyInto, as always. (A secure connection's sealed
// messages are in the machine's memory.)
func (s *Server) ReadyConnAppend(conn ConnID, rd *ServerReady, buf []byte) []byte {
	arena := s.w.arena
	s.w.arena = buf
	s.readyConn(conn, rd)
	buf, s.w.arena = s.w.arena, arena
	return buf
}

// readyConn is ReadyConnAppend's work, into the writer's arena.
func (s *Server) readyConn(conn ConnID, rd *ServerReady) {
	s.out, s.hangups = rd.Transmit[:0], rd.Hangup[:0]
	if c := s.conns[conn]; c != nil && c.dirtyAt != 0 {
		// Move the last entry into c's place: the list stays dense.
		i, last := c.dirtyAt-1, s.dirty[len(s.dirty)-1]
		s.dirty[i], last.dirtyAt = last, i+1
		s.dirty[len(s.dirty)-1] = nil
		s.dirty = s.dirty[:len(s.dirty)-1]
		c.dirtyAt = 0
		s.output(c)
	}
	s.handOver(rd, rd.Events[:0])
}

// output writes the messages of dirty connection c (see ReadyInto).
func (s *Server) output(c *serverConn) {
	sess := c.sess
	s.curConn, s.curSec = c.id, nil
	for _, r := range c.hsOut {
		s.emit(r)
	}
	c.hsOut = c.hsOut[:0]
	budget := s.peerMax(sess)
	if c.sec != nil && c.sec.Established() {
		s.curSec = c.sec
		budget -= secure.Overhead
	}
	s.w.begin(budget, s.emitFn)
	if c.resend && c.welcome != nil {
		s.w.frame(c.welcome)
		c.resend, c.sentAt = false, s.now
	}
	if sess != nil && c.state == connOpen {
		sess.link.flush(&s.w, s.now)
		if c.hbDue {
			s.w.heartbeat(sess.link.ackValue(), c.hbEcho)
			c.hbDue = false
			sess.link.acked()
		}
		if sess.link.ackDue && !sess.link.holdAck(s.now) {
			s.w.ackFrame(sess.link.ackValue())
			sess.link.acked()
		}
		s.rearm(sess) // flush may have armed the retransmission timer
	}
	if c.close != nil {
		if c.finalAck != nil {
			s.w.frame(c.finalAck)
			c.finalAck = nil
		}
		s.w.frame(c.close)
		c.close = nil
	}
	s.w.end()
	if c.state == connDone {
		s.hangups = append(s.hangups, c.id)
		delete(s.conns, c.id)
	}
}

// handOver fills rd with the messages and hangups output collected, and
// events.
func (s *Server) handOver(rd *ServerReady, events []Event) {
	*rd = ServerReady{Transmit: s.out, Hangup: s.hangups, Events: events}
	if it := s.timers.Peek(); it != nil {
		rd.Deadline = it.At
	}
	s.out, s.hangups = nil, nil
}

func (s *Server) emit(msg []byte) {
	if s.curSec != nil {
		msg = s.sealer.seal(s.curSec, msg)
	}
	s.stats.MessagesOut++
	s.stats.BytesOut += uint64(len(msg))
	s.out = append(s.out, Outgoing{Conn: s.curConn, Data: msg})
}
