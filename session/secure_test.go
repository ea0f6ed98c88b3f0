package session

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bettersocket/bettersocket/codec/secure"
	"github.com/bettersocket/bettersocket/proto"
)

var secureModes = []secure.Mode{secure.PSK, secure.ServerKey, secure.Mutual}

func keyPair(t tester, seed uint64) secure.KeyPair {
	kp, err := secure.GenerateKeyPair(seeded(seed))
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// secureConfigs returns matching client and server settings for mode; the
// client's static key (Mutual) is drawn from clientSeed.
func secureConfigs(t tester, mode secure.Mode, clientSeed uint64) (client, server secure.Config) {
	serverKey := keyPair(t, 900)
	switch mode {
	case secure.PSK:
		psk, _ := secure.GeneratePSK(seeded(901))
		return secure.Config{Mode: mode, PSK: psk}, secure.Config{Mode: mode, PSK: psk}
	case secure.ServerKey:
		return secure.Config{Mode: mode, ServerKey: serverKey.Public}, secure.Config{Mode: mode, Static: serverKey}
	}
	return secure.Config{Mode: mode, ServerKey: serverKey.Public, Static: keyPair(t, clientSeed)},
		secure.Config{Mode: mode, Static: serverKey}
}

// securePump is a pump whose clients and server use mode on link.
func securePump(t *testing.T, mode secure.Mode, link Mode, n int) *pump {
	ccfg, scfg := secureConfigs(t, mode, 800)
	p := newPump(t, ServerConfig{LinkConfig: LinkConfig{Mode: link}, Secure: scfg}, ClientConfig{}, 0)
	for i := range n {
		c, _ := secureConfigs(t, mode, uint64(800+i))
		c.Mode = ccfg.Mode
		p.addClient(ClientConfig{LinkConfig: LinkConfig{Mode: link}, Secure: c}, uint64(100+i))
	}
	return p
}

// noPlaintext fails when a message in flight carries text in the clear.
func (p *pump) noPlaintext(text string) {
	p.t.Helper()
	for _, pc := range p.clients {
		for _, m := range slices.Concat(pc.up, pc.down) {
			if bytes.Contains(m.data, []byte(text)) {
				p.t.Fatalf("%q travels in plaintext", text)
			}
		}
	}
}

func delivered(events []Event) []string {
	var out []string
	for _, ev := range events {
		if d, ok := ev.(*Delivered); ok {
			out = append(out, string(d.Payload))
		}
	}
	return out
}

// TestSecureSession runs a session in every mode over both link kinds: the
// handshake, messages both ways, a lost connection and a resume; nothing
// (payloads, the resume token) travels in plaintext.
func TestSecureSession(t *testing.T) {
	for _, mode := range secureModes {
		for _, link := range []Mode{Stream, Datagram} {
			t.Run(fmt.Sprintf("%s/%s", mode, link), func(t *testing.T) {
				p := securePump(t, mode, link, 1)
				c1 := p.c(1)
				p.handshake(c1)
				token := slices.Clone(c1.m.token)
				p.send(c1, "secret-up-1")
				p.sendTo(c1, "secret-down-1")
				p.ready()
				p.noPlaintext("secret-")
				p.noPlaintext(string(token))
				p.stabilize()
				// The connection dies; the client resumes on a new one.
				if err := c1.m.Step(p.now, Disconnected{Conn: c1.conn}); err != nil {
					t.Fatal(err)
				}
				if err := p.srv.Step(p.now, Disconnected{Conn: c1.conn}); err != nil {
					t.Fatal(err)
				}
				c1.up, c1.down = nil, nil
				p.send(c1, "secret-up-2")
				p.sendTo(c1, "secret-down-2")
				p.connect(c1)
				p.noPlaintext("secret-")
				p.noPlaintext(string(token))
				p.stabilize()
				if !c1.m.Established() || !slices.Equal(delivered(c1.events), []string{"secret-down-1", "secret-down-2"}) {
					t.Fatalf("client got %v, established %v", delivered(c1.events), c1.m.Established())
				}
				if got := delivered(p.sevents); !slices.Equal(got, []string{"secret-up-1", "secret-up-2"}) {
					t.Fatalf("server got %v", got)
				}
				if !slices.ContainsFunc(c1.events, func(e Event) bool { _, ok := e.(*Resumed); return ok }) {
					t.Fatal("no resume")
				}
			})
		}
	}
}

// TestSecureDatagramLoss: handshake records, HELLO and WELCOME lost or
// duplicated on a datagram link are resent and deduplicated.
func TestSecureDatagramLoss(t *testing.T) {
	for _, mode := range secureModes {
		t.Run(mode.String(), func(t *testing.T) {
			p := securePump(t, mode, Datagram, 1)
			c1 := p.c(1)
			p.connect(c1)
			// Lose the first message each way and duplicate the rest, until
			// the handshake is done.
			lostUp, lostDown := false, false
			for i := 0; i < 200 && !c1.m.Established(); i++ {
				p.ready()
				for len(c1.up) > 0 {
					if !lostUp {
						p.dropUp(c1)
						lostUp = true
						continue
					}
					c1.up = append([]msg{c1.up[0]}, c1.up...)
					p.deliverUp(c1)
					p.deliverUp(c1)
				}
				p.ready()
				for len(c1.down) > 0 {
					if !lostDown {
						p.dropDown(c1)
						lostDown = true
						continue
					}
					c1.down = append([]msg{c1.down[0]}, c1.down...)
					p.deliverDown(c1)
					p.deliverDown(c1)
				}
				p.advance(p.nextDeadline().Sub(p.now))
			}
			p.stabilize()
			if !c1.m.Established() {
				t.Fatal("not established through loss and duplication")
			}
			p.send(c1, "m")
			p.ready()
			dup := slices.Clone(c1.up)
			c1.up = append(c1.up, dup...)
			p.stabilize()
			if got := delivered(p.sevents); !slices.Equal(got, []string{"m"}) {
				t.Fatalf("server got %v", got)
			}
			if p.srv.Stats().ProtocolErrors != 0 || c1.m.Stats().ProtocolErrors != 0 {
				t.Fatal("a duplicate counted as a protocol error")
			}
			if p.srv.Stats().RecordsDropped == 0 || c1.m.Stats().RecordsDropped == 0 {
				t.Fatalf("duplicates dropped without a count: server %d, client %d", p.srv.Stats().RecordsDropped, c1.m.Stats().RecordsDropped)
			}
		})
	}
}

// refusal is one misconfigured or hostile client in TestSecureRefusals.
type refusal struct {
	name   string
	client func(t *testing.T, honest ClientConfig) ClientConfig
	server error // the server's ConnRejected error (errors.Is)
	// clientErr checks the client's Closed error.
	clientErr func(err error) bool
}

func closeCode(code proto.CloseCode) func(error) bool {
	return func(err error) bool {
		var ce *CloseError
		return errors.As(err, &ce) && ce.Code == code && ce.Remote
	}
}

// TestSecureRefusals: every wrong key and every downgrade is refused with
// a typed error on both sides, and an honest client on the same server
// carries on untouched.
func TestSecureRefusals(t *testing.T) {
	cases := map[secure.Mode][]refusal{
		secure.PSK: {
			{"wrong psk", func(t *testing.T, h ClientConfig) ClientConfig {
				h.Secure.PSK[3] ^= 0x40
				return h
			}, secure.ErrWrongPSK, closeCode(proto.CloseSecurity)},
		},
		secure.ServerKey: {
			{"wrong pinned key", func(t *testing.T, h ClientConfig) ClientConfig {
				h.Secure.ServerKey = keyPair(t, 4242).Public
				return h
			}, secure.ErrWrongServerKey, closeCode(proto.CloseSecurity)},
		},
		secure.Mutual: {
			{"unknown client key", func(t *testing.T, h ClientConfig) ClientConfig {
				h.Secure.Static = keyPair(t, 666) // not in KnownClient
				return h
			}, secure.ErrUnknownClientKey, closeCode(proto.CloseSecurity)},
			{"wrong pinned key", func(t *testing.T, h ClientConfig) ClientConfig {
				h.Secure.ServerKey = keyPair(t, 4242).Public
				return h
			}, secure.ErrWrongServerKey, closeCode(proto.CloseSecurity)},
		},
	}
	for _, mode := range secureModes {
		cases[mode] = append(cases[mode],
			refusal{"plaintext client", func(t *testing.T, h ClientConfig) ClientConfig {
				h.Secure = secure.Config{}
				return h
			}, secure.ErrDowngrade, closeCode(proto.CloseSecurity)})
		for _, other := range secureModes {
			if other != mode {
				cases[mode] = append(cases[mode], refusal{"client in " + other.String(), func(t *testing.T, h ClientConfig) ClientConfig {
					h.Secure, _ = secureConfigs(t, other, 800)
					return h
				}, secure.ErrDowngrade, closeCode(proto.CloseSecurity)})
			}
		}
	}
	for _, mode := range secureModes {
		for _, tc := range cases[mode] {
			t.Run(mode.String()+"/"+tc.name, func(t *testing.T) {
				p := securePump(t, mode, Stream, 1)
				if mode == secure.Mutual {
					honest, _ := secureConfigs(t, mode, 800)
					p.srv.cfg.Secure.KnownClient = func(k secure.PublicKey) bool { return k == honest.Static.Public }
				}
				honest := p.c(1)
				p.handshake(honest)
				bad := p.addClient(tc.client(t, honest.m.cfg), 7)
				p.connect(bad)
				p.stabilize()
				var rejected error
				for _, ev := range p.sevents {
					if r, ok := ev.(*ConnRejected); ok {
						rejected = r.Err
					}
				}
				if !errors.Is(rejected, tc.server) {
					t.Fatalf("server rejected with %v, want %v", rejected, tc.server)
				}
				closed := lastClosed(bad.events)
				if closed == nil || !tc.clientErr(closed.Err) {
					t.Fatalf("client closed with %v", closed)
				}
				if bad.m.Stats().Sessions != 0 || len(p.srv.Sessions()) != 1 {
					t.Fatal("the refused client got a session")
				}
				honestStillWorks(t, p, honest)
			})
		}
	}
}

func lastClosed(events []Event) *Closed {
	for i := len(events) - 1; i >= 0; i-- {
		if c, ok := events[i].(*Closed); ok {
			return c
		}
	}
	return nil
}

func honestStillWorks(t *testing.T, p *pump, honest *pclient) {
	t.Helper()
	before := len(delivered(honest.events))
	p.send(honest, "still here")
	p.sendTo(honest, "welcome back")
	p.stabilize()
	if !honest.m.Established() || len(delivered(honest.events)) != before+1 || lastClosed(honest.events) != nil {
		t.Fatalf("the honest client was disturbed: %v", p.takeEvents(honest))
	}
}

// TestSecureClientRefusesPlaintextServer: a client configured for
// encryption talking to a server that is not gets a clear refusal and
// never speaks plaintext.
func TestSecureClientRefusesPlaintextServer(t *testing.T) {
	for _, mode := range secureModes {
		ccfg, _ := secureConfigs(t, mode, 800)
		p := newPump(t, ServerConfig{}, ClientConfig{Secure: ccfg}, 1)
		c1 := p.c(1)
		p.connect(c1)
		p.stabilize()
		closed := lastClosed(c1.events)
		if closed == nil || !closeCode(proto.CloseSecurity)(closed.Err) {
			t.Fatalf("%s: client closed with %v", mode, closed)
		}
		var rejected error
		for _, ev := range p.sevents {
			if r, ok := ev.(*ConnRejected); ok {
				rejected = r.Err
			}
		}
		if !errors.Is(rejected, secure.ErrDowngrade) {
			t.Fatalf("%s: server rejected with %v", mode, rejected)
		}
		// A server that answers a handshake with plaintext other than a
		// CLOSE (an old server's WELCOME, an attacker's) is refused too.
		q := newPump(t, ServerConfig{}, ClientConfig{Secure: ccfg}, 1)
		q.connect(q.c(1))
		q.ready()
		welcome := []byte{0x89, 0x02, 0x01}
		if err := q.c(1).m.Step(q.now, Recv{Conn: q.c(1).conn, Data: welcome}); err != nil {
			t.Fatal(err)
		}
		q.ready()
		if closed := lastClosed(q.c(1).events); closed == nil || !errors.Is(closed.Err, secure.ErrDowngrade) {
			t.Fatalf("%s: client closed with %v, want ErrDowngrade", mode, closed)
		}
	}
}

// TestSecureResumeByAnotherKey: in mutual mode the resume token alone does
// not resume a session; it must come with the client key that created it.
func TestSecureResumeByAnotherKey(t *testing.T) {
	p := securePump(t, secure.Mutual, Stream, 2)
	var seen []secure.PublicKey
	p.srv.cfg.Authorize = func(r AuthRequest) error { seen = append(seen, r.ClientKey); return nil }
	owner, thief := p.c(1), p.c(2)
	p.handshake(owner)
	p.handshake(thief)
	if len(seen) != 2 || seen[0] != owner.m.cfg.Secure.Static.Public || seen[1] != thief.m.cfg.Secure.Static.Public {
		t.Fatalf("Authorize saw keys %v", seen)
	}
	// The thief learned the owner's session ID and token (how is not this
	// layer's business) and presents them under its own key.
	thief.m.id, thief.m.token = owner.m.id, slices.Clone(owner.m.token)
	if err := thief.m.Step(p.now, Disconnected{Conn: thief.conn}); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Step(p.now, Disconnected{Conn: thief.conn}); err != nil {
		t.Fatal(err)
	}
	thief.up, thief.down = nil, nil
	p.connect(thief)
	p.stabilize()
	var rejected error
	for _, ev := range p.sevents {
		if r, ok := ev.(*ConnRejected); ok {
			rejected = r.Err
		}
	}
	if !errors.Is(rejected, ErrClientKey) {
		t.Fatalf("server rejected with %v, want ErrClientKey", rejected)
	}
	if closed := lastClosed(thief.events); closed == nil || !closeCode(proto.ClosePolicy)(closed.Err) {
		t.Fatalf("thief closed with %v", closed)
	}
	honestStillWorks(t, p, owner)
}

// tamper is a change to one sealed message in flight.
type tamper struct {
	name string
	do   func(p *pump, pc *pclient) // changes pc's messages in flight
	want error
}

// TestSecureTampering: on a stream link a flipped bit, a replay, a
// reflection or a truncation in any sealed message ends the connection with
// a typed error; on a datagram link the record is dropped and the session
// carries on.
func TestSecureTampering(t *testing.T) {
	tampers := []tamper{
		{"flipped bit up", func(p *pump, pc *pclient) { pc.up[0].data[len(pc.up[0].data)-3] ^= 4 }, secure.ErrAuth},
		{"flipped bit down", func(p *pump, pc *pclient) { pc.down[0].data[20] ^= 1 }, secure.ErrAuth},
		{"replay up", func(p *pump, pc *pclient) { pc.up = append(pc.up, pc.up[0]) }, secure.ErrReplay},
		{"replay down", func(p *pump, pc *pclient) { pc.down = append(pc.down, pc.down[0]) }, secure.ErrReplay},
		{"reflected to client", func(p *pump, pc *pclient) { pc.down = append(pc.down, msg{conn: pc.conn, data: pc.up[0].data}) }, secure.ErrReflected},
		{"reflected to server", func(p *pump, pc *pclient) { pc.up = append(pc.up, msg{conn: pc.conn, data: pc.down[0].data}) }, secure.ErrReflected},
		{"truncated up", func(p *pump, pc *pclient) { pc.up[0].data = pc.up[0].data[:len(pc.up[0].data)-1] }, secure.ErrTruncated},
		{"truncated down", func(p *pump, pc *pclient) { pc.down[0].data = pc.down[0].data[:10] }, secure.ErrTruncated},
	}
	for _, mode := range secureModes {
		for _, link := range []Mode{Stream, Datagram} {
			for _, tc := range tampers {
				t.Run(fmt.Sprintf("%s/%s/%s", mode, link, tc.name), func(t *testing.T) {
					p := securePump(t, mode, link, 2)
					victim, honest := p.c(1), p.c(2)
					p.handshake(victim)
					p.handshake(honest)
					p.send(victim, "up")
					p.sendTo(victim, "down")
					p.ready()
					for i := range victim.up {
						victim.up[i].data = slices.Clone(victim.up[i].data)
					}
					for i := range victim.down {
						victim.down[i].data = slices.Clone(victim.down[i].data)
					}
					tc.do(p, victim)
					p.stabilize()
					toServer := strings.HasSuffix(tc.name, "up") || strings.HasSuffix(tc.name, "server")
					if link == Datagram && tc.want != secure.ErrTruncated {
						// Dropped; a lost message comes again by retransmission.
						p.run(3 * DefaultInitialRTO)
						if lastClosed(victim.events) != nil || !victim.m.Established() {
							t.Fatalf("datagram session ended: %v", p.takeEvents(victim))
						}
						if p.srv.Stats().RecordsDropped+victim.m.Stats().RecordsDropped == 0 {
							t.Fatal("the refused record was not counted")
						}
						if !slices.Equal(delivered(victim.events), []string{"down"}) || !slices.Contains(delivered(p.sevents), "up") {
							t.Fatalf("delivered %v / %v", delivered(victim.events), delivered(p.sevents))
						}
						honestStillWorks(t, p, honest)
						return
					}
					if toServer {
						var ended error
						for _, ev := range p.sevents {
							if sc, ok := ev.(*SessionClosed); ok {
								ended = sc.Err
							}
						}
						var ce *CloseError
						if !errors.As(ended, &ce) || ce.Code != proto.CloseSecurity || !strings.Contains(ce.Reason, tc.want.Error()) {
							t.Fatalf("server ended the session with %v, want CLOSE security for %v", ended, tc.want)
						}
						if closed := lastClosed(victim.events); closed == nil || !closeCode(proto.CloseSecurity)(closed.Err) {
							t.Fatalf("victim closed with %v", closed)
						}
					} else if closed := lastClosed(victim.events); closed == nil || !errors.Is(closed.Err, tc.want) {
						t.Fatalf("victim closed with %v, want %v", closed, tc.want)
					}
					honestStillWorks(t, p, honest)
				})
			}
		}
	}
}

// TestSecureConfigErrors: an invalid Secure makes Connected fail.
func TestSecureConfigErrors(t *testing.T) {
	c := NewClient(ClientConfig{Secure: secure.Config{Mode: secure.ServerKey}})
	if err := c.Step(t0, Connected{Conn: 1}); !errors.Is(err, ErrInvalid) || !errors.Is(err, secure.ErrConfig) {
		t.Fatalf("client: %v", err)
	}
	s := NewServer(ServerConfig{Secure: secure.Config{Mode: secure.Mutual}})
	if err := s.Step(t0, Connected{Conn: 1}); !errors.Is(err, ErrInvalid) || !errors.Is(err, secure.ErrConfig) {
		t.Fatalf("server: %v", err)
	}
}

// An encrypted message holding more frames than MaxFramesPerStep is
// processed in slices like a plaintext one, and loses nothing: the rest of
// an opened record stays with the machine, since it is not a part of the
// sealed bytes the driver holds.
func TestSecureMessageInSlices(t *testing.T) {
	for _, mode := range secureModes {
		t.Run(mode.String(), func(t *testing.T) {
			p := securePump(t, mode, Stream, 1)
			p.srv.cfg.MaxFramesPerStep = 4
			c1 := p.c(1)
			p.handshake(c1)
			var want []string
			for i := range 2 {
				// Two sealed records in one transport message, 20 frames each.
				for j := range 20 {
					msg := fmt.Sprintf("m%d-%d", i, j)
					p.send(c1, msg)
					want = append(want, msg)
				}
				p.ready()
			}
			if len(c1.up) != 2 {
				t.Fatalf("%d messages in flight, want 2", len(c1.up))
			}
			c1.up = []msg{{conn: c1.up[0].conn, data: slices.Concat(c1.up[0].data, c1.up[1].data)}}
			p.stabilize()
			if got := delivered(p.sevents); !slices.Equal(got, want) {
				t.Fatalf("server got %v\nwant %v", got, want)
			}
			if st := p.srv.Stats(); st.MessagesIn == 0 || st.ProtocolErrors != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
