package secure

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// seeded returns a deterministic randomness source for tests.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

func mustKeyPair(t testing.TB, seed uint64) KeyPair {
	t.Helper()
	kp, err := GenerateKeyPair(seeded(seed))
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// configs returns matching client and server configurations for mode.
func configs(t testing.TB, mode Mode) (client, server *Config) {
	serverKey, clientKey := mustKeyPair(t, 100), mustKeyPair(t, 101)
	psk, err := GeneratePSK(seeded(102))
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case PSK:
		return &Config{Mode: PSK, PSK: psk}, &Config{Mode: PSK, PSK: psk}
	case ServerKey:
		return &Config{Mode: ServerKey, ServerKey: serverKey.Public}, &Config{Mode: ServerKey, Static: serverKey}
	case Mutual:
		return &Config{Mode: Mutual, ServerKey: serverKey.Public, Static: clientKey}, &Config{Mode: Mutual, Static: serverKey}
	}
	t.Fatalf("no configs for %s", mode)
	return nil, nil
}

// shake runs a handshake between client and server and returns the first
// error either side reports.
func shake(t testing.TB, client, server *Conn) error {
	t.Helper()
	msg, err := client.Start()
	if err != nil {
		t.Fatal(err)
	}
	from, to := client, server
	for range 4 {
		_, reply, rest, err := to.Read(nil, msg)
		if err != nil {
			return err
		}
		if len(rest) != 0 {
			t.Fatalf("%d bytes left after a handshake record", len(rest))
		}
		if reply == nil {
			break
		}
		msg, from, to = reply, to, from
	}
	if !client.Established() || !server.Established() {
		t.Fatalf("handshake incomplete: client %v, server %v", client.Established(), server.Established())
	}
	_ = from
	return nil
}

func pair(t testing.TB, mode Mode) (client, server *Conn) {
	t.Helper()
	ccfg, scfg := configs(t, mode)
	var err error
	if client, err = NewConn(ccfg, false, seeded(1)); err != nil {
		t.Fatal(err)
	}
	if server, err = NewConn(scfg, true, seeded(2)); err != nil {
		t.Fatal(err)
	}
	if err := shake(t, client, server); err != nil {
		t.Fatalf("%s handshake: %v", mode, err)
	}
	return client, server
}

var modes = []Mode{PSK, ServerKey, Mutual}

// typed reports whether err is one of the package's refusals.
func typed(err error) bool {
	for _, want := range []error{ErrWrongPSK, ErrWrongServerKey, ErrHandshake, ErrAuth, ErrTruncated, ErrReflected, ErrMalformed, ErrDowngrade, ErrReplay} {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}

func TestHandshakeAndChannel(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			client, server := pair(t, mode)
			if !bytes.Equal(client.HandshakeHash(), server.HandshakeHash()) || len(client.HandshakeHash()) != 32 {
				t.Fatalf("handshake hashes differ: %x / %x", client.HandshakeHash(), server.HandshakeHash())
			}
			ccfg, scfg := configs(t, mode)
			switch mode {
			case PSK:
				if !client.PeerKey().IsZero() || !server.PeerKey().IsZero() {
					t.Fatal("psk mode has no peer keys")
				}
			case ServerKey:
				if client.PeerKey() != scfg.Static.Public || !server.PeerKey().IsZero() {
					t.Fatalf("peer keys: client sees %s, server sees %s", client.PeerKey(), server.PeerKey())
				}
			case Mutual:
				if client.PeerKey() != scfg.Static.Public || server.PeerKey() != ccfg.Static.Public {
					t.Fatalf("peer keys: client sees %s, server sees %s", client.PeerKey(), server.PeerKey())
				}
			}
			for i, dir := range []struct{ from, to *Conn }{{client, server}, {server, client}, {client, server}} {
				plain := []byte(fmt.Sprintf("message %d", i))
				rec, err := dir.from.Seal(nil, plain)
				if err != nil {
					t.Fatal(err)
				}
				if len(rec) != SealedLen(len(plain)) || bytes.Contains(rec, plain) {
					t.Fatalf("record of %d bytes for %d plaintext bytes, or plaintext visible", len(rec), len(plain))
				}
				got, reply, rest, err := dir.to.Read(nil, rec)
				if err != nil || reply != nil || len(rest) != 0 || !bytes.Equal(got, plain) {
					t.Fatalf("Read = %q, %x, %d rest, %v", got, reply, len(rest), err)
				}
			}
		})
	}
}

func TestFreshKeysPerConnection(t *testing.T) {
	// Two connections with the same static keys (and even the same
	// randomness on one side) seal the same plaintext differently.
	ccfg, scfg := configs(t, Mutual)
	var recs [][]byte
	for i := range 2 {
		c, _ := NewConn(ccfg, false, seeded(7))
		s, _ := NewConn(scfg, true, seeded(uint64(10+i)))
		if err := shake(t, c, s); err != nil {
			t.Fatal(err)
		}
		rec, _ := s.Seal(nil, []byte("same"))
		recs = append(recs, rec)
	}
	if bytes.Equal(recs[0], recs[1]) {
		t.Fatal("two connections sealed under the same keys")
	}
}

// TestWrongKeys: the server refuses a client that holds another
// pre-shared key or pinned another server key.
func TestWrongKeys(t *testing.T) {
	for _, tc := range []struct {
		mode  Mode
		wrong func(client *Config)
		want  error
	}{
		{PSK, func(c *Config) { c.PSK[0] ^= 1 }, ErrWrongPSK},
		{ServerKey, func(c *Config) { c.ServerKey = mustKeyPair(t, 55).Public }, ErrWrongServerKey},
		{Mutual, func(c *Config) { c.ServerKey = mustKeyPair(t, 55).Public }, ErrWrongServerKey},
	} {
		ccfg, scfg := configs(t, tc.mode)
		tc.wrong(ccfg)
		c, _ := NewConn(ccfg, false, seeded(1))
		s, _ := NewConn(scfg, true, seeded(2))
		if err := shake(t, c, s); !errors.Is(err, tc.want) {
			t.Fatalf("%s: err = %v, want %v", tc.mode, err, tc.want)
		}
	}
}

func TestImpostorServer(t *testing.T) {
	// An impostor that answers with a handshake of its own key: the client
	// refuses the answer.
	for _, mode := range []Mode{ServerKey, Mutual} {
		t.Run(mode.String(), func(t *testing.T) {
			ccfg, _ := configs(t, mode)
			c, _ := NewConn(ccfg, false, seeded(1))
			msg, _ := c.Start()
			// The impostor replaces the server's answer with one from a
			// handshake the client is not part of.
			other, oscfg := configs(t, mode)
			oscfg.Static = mustKeyPair(t, 66)
			other.ServerKey = oscfg.Static.Public
			oc, _ := NewConn(other, false, seeded(3))
			os, _ := NewConn(oscfg, true, seeded(4))
			first, _ := oc.Start()
			_, answer, _, err := os.Read(nil, first)
			if err != nil {
				t.Fatal(err)
			}
			_ = msg
			if _, _, _, err := c.Read(nil, answer); !errors.Is(err, ErrWrongServerKey) {
				t.Fatalf("client: err = %v, want ErrWrongServerKey", err)
			}
		})
	}
}

func TestUnknownClientKey(t *testing.T) {
	ccfg, scfg := configs(t, Mutual)
	known := mustKeyPair(t, 77).Public
	var asked PublicKey
	scfg.KnownClient = func(k PublicKey) bool { asked = k; return k == known }
	c, _ := NewConn(ccfg, false, seeded(1))
	s, _ := NewConn(scfg, true, seeded(2))
	if err := shake(t, c, s); !errors.Is(err, ErrUnknownClientKey) {
		t.Fatalf("err = %v, want ErrUnknownClientKey", err)
	}
	if asked != ccfg.Static.Public {
		t.Fatalf("KnownClient saw %s, want the client's key %s", asked, ccfg.Static.Public)
	}
	// The same client is admitted once its key is known.
	known = ccfg.Static.Public
	c, _ = NewConn(ccfg, false, seeded(1))
	s, _ = NewConn(scfg, true, seeded(2))
	if err := shake(t, c, s); err != nil {
		t.Fatal(err)
	}
}

func TestDowngrade(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			ccfg, scfg := configs(t, mode)
			s, _ := NewConn(scfg, true, seeded(2))
			// A plaintext HELLO (a CBOR array) instead of a handshake.
			if _, _, _, err := s.Read(nil, []byte{0x85, 0x01, 0x01, 0xf6, 0xf6, 0x80}); !errors.Is(err, ErrDowngrade) {
				t.Fatalf("server reading plaintext: %v, want ErrDowngrade", err)
			}
			// A plaintext answer to the client's handshake.
			c, _ := NewConn(ccfg, false, seeded(1))
			c.Start()
			if _, _, _, err := c.Read(nil, []byte{0x83, 0x08, 0x19, 0x03, 0xe8, 0x60}); !errors.Is(err, ErrDowngrade) {
				t.Fatalf("client reading plaintext: %v, want ErrDowngrade", err)
			}
			// Another mode offered than the one required, as a tampered
			// or misconfigured client would.
			for _, other := range modes {
				if other == mode {
					continue
				}
				occfg, _ := configs(t, other)
				oc, _ := NewConn(occfg, false, seeded(1))
				first, _ := oc.Start()
				s, _ := NewConn(scfg, true, seeded(2))
				if _, _, _, err := s.Read(nil, first); !errors.Is(err, ErrDowngrade) {
					t.Fatalf("%s client to %s server: %v, want ErrDowngrade", other, mode, err)
				}
				// Relabelled as the server's mode, it fails to verify.
				first[1] = byte(mode)
				if _, _, _, err := s.Read(nil, first); err == nil {
					t.Fatalf("%s handshake relabelled as %s was accepted", other, mode)
				}
			}
		})
	}
}

func TestFlippedBits(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			client, server := pair(t, mode)
			rec, _ := client.Seal(nil, []byte("a message worth protecting"))
			for bit := range len(rec) * 8 {
				bad := bytes.Clone(rec)
				bad[bit/8] ^= 1 << (bit % 8)
				plain, _, _, err := server.Read(nil, bad)
				if err == nil {
					t.Fatalf("bit %d flipped: accepted %q", bit, plain)
				}
				if !typed(err) {
					t.Fatalf("bit %d flipped: untyped error %v", bit, err)
				}
				if bit/8 >= sealedHeader && !errors.Is(err, ErrAuth) {
					t.Fatalf("bit %d of the ciphertext flipped: %v, want ErrAuth", bit, err)
				}
			}
			// The intact record still opens once: failures marked nothing.
			if _, _, _, err := server.Read(nil, rec); err != nil {
				t.Fatalf("intact record after the flipped ones: %v", err)
			}
		})
	}
}

func TestFlippedHandshakeBits(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			ccfg, scfg := configs(t, mode)
			c, _ := NewConn(ccfg, false, seeded(1))
			first, _ := c.Start()
			for bit := 16; bit < len(first)*8; bit++ { // past kind and mode
				bad := bytes.Clone(first)
				bad[bit/8] ^= 1 << (bit % 8)
				s, _ := NewConn(scfg, true, seeded(2))
				// Every mode's first message carries a tag: the flip is caught.
				if _, _, _, err := s.Read(nil, bad); !typed(err) {
					t.Fatalf("bit %d flipped: %v", bit, err)
				}
			}
		})
	}
}

func TestReplay(t *testing.T) {
	client, server := pair(t, PSK)
	rec, _ := client.Seal(nil, []byte("once"))
	if _, _, _, err := server.Read(nil, rec); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := server.Read(nil, rec); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v, want ErrReplay", err)
	}
}

func TestReorderWithinWindow(t *testing.T) {
	client, server := pair(t, PSK)
	recs := make([][]byte, WindowSize+10)
	for i := range recs {
		recs[i], _ = client.Seal(nil, []byte{byte(i)})
	}
	// The newest first, then every older one still in the window, each
	// accepted exactly once; the ones beyond it are refused.
	last := len(recs) - 1
	if _, _, _, err := server.Read(nil, recs[last]); err != nil {
		t.Fatal(err)
	}
	for i := last - 1; i >= 0; i-- {
		_, _, _, err := server.Read(nil, recs[i])
		inWindow := last-i < WindowSize
		if inWindow && err != nil {
			t.Fatalf("record %d (%d behind): %v", i, last-i, err)
		}
		if !inWindow && !errors.Is(err, ErrReplay) {
			t.Fatalf("record %d (%d behind, beyond the window): %v, want ErrReplay", i, last-i, err)
		}
		if _, _, _, err := server.Read(nil, recs[i]); !errors.Is(err, ErrReplay) {
			t.Fatalf("record %d again: %v, want ErrReplay", i, err)
		}
	}
	if WindowSize < 1024 {
		t.Fatalf("window of %d positions, want at least 1024", WindowSize)
	}
}

func TestReflection(t *testing.T) {
	for _, mode := range modes {
		client, server := pair(t, mode)
		rec, _ := client.Seal(nil, []byte("to the server"))
		if _, _, _, err := client.Read(nil, rec); !errors.Is(err, ErrReflected) {
			t.Fatalf("%s: client reading its own record: %v, want ErrReflected", mode, err)
		}
		// Relabelled as the other direction, the keys still differ.
		rec[0] = kindServerSealed
		if _, _, _, err := client.Read(nil, rec); !errors.Is(err, ErrAuth) {
			t.Fatalf("%s: relabelled reflection: %v, want ErrAuth", mode, err)
		}
		rec2, _ := server.Seal(nil, []byte("to the client"))
		if _, _, _, err := server.Read(nil, rec2); !errors.Is(err, ErrReflected) {
			t.Fatalf("%s: server reading its own record: %v, want ErrReflected", mode, err)
		}
	}
}

func TestTruncation(t *testing.T) {
	client, server := pair(t, Mutual)
	rec, _ := client.Seal(nil, []byte("complete"))
	for n := range len(rec) {
		if _, _, _, err := server.Read(nil, rec[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("record cut to %d of %d bytes: %v, want ErrTruncated", n, len(rec), err)
		}
	}
	ccfg, scfg := configs(t, Mutual)
	c, _ := NewConn(ccfg, false, seeded(1))
	first, _ := c.Start()
	for n := range len(first) {
		s, _ := NewConn(scfg, true, seeded(2))
		if _, _, _, err := s.Read(nil, first[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("handshake cut to %d of %d bytes: %v, want ErrTruncated", n, len(first), err)
		}
	}
}

func TestRecordsBackToBack(t *testing.T) {
	client, server := pair(t, ServerKey)
	var msg []byte
	for i := range 3 {
		msg, _ = client.Seal(msg, []byte{byte(i), byte(i)})
	}
	for i := range 3 {
		plain, _, rest, err := server.Read(nil, msg)
		if err != nil || !bytes.Equal(plain, []byte{byte(i), byte(i)}) {
			t.Fatalf("record %d: %x, %v", i, plain, err)
		}
		msg = rest
	}
	if len(msg) != 0 {
		t.Fatalf("%d bytes left", len(msg))
	}
}

func TestDuplicateHandshake(t *testing.T) {
	// On a datagram link a handshake message may arrive twice: the second
	// is refused as a replay and the answer is handed out again.
	for _, mode := range modes {
		ccfg, scfg := configs(t, mode)
		c, _ := NewConn(ccfg, false, seeded(1))
		s, _ := NewConn(scfg, true, seeded(2))
		first, _ := c.Start()
		_, answer, _, err := s.Read(nil, first)
		if err != nil {
			t.Fatal(err)
		}
		_, again, _, err := s.Read(nil, first)
		if !errors.Is(err, ErrReplay) || !bytes.Equal(again, answer) {
			t.Fatalf("%s: duplicate first message: %v, answer again %v", mode, err, bytes.Equal(again, answer))
		}
		_, third, _, err := c.Read(nil, answer)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := c.Read(nil, answer); !errors.Is(err, ErrReplay) {
			t.Fatalf("%s: duplicate answer: %v", mode, err)
		}
		if mode == Mutual {
			if third == nil || !bytes.Equal(c.Resend(), third) {
				t.Fatal("the XK client resends its third message while it waits")
			}
			if _, _, _, err := s.Read(nil, third); err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := s.Read(nil, third); !errors.Is(err, ErrReplay) {
				t.Fatalf("duplicate third message: %v", err)
			}
		} else if c.Resend() != nil {
			t.Fatalf("%s: the client has nothing to resend once the server answered", mode)
		}
		if !c.Established() || !s.Established() {
			t.Fatalf("%s: not established", mode)
		}
	}
}

func TestSealedBeforeHandshake(t *testing.T) {
	client, _ := pair(t, Mutual)
	rec, _ := client.Seal(nil, []byte("early"))
	_, scfg := configs(t, Mutual)
	s, _ := NewConn(scfg, true, seeded(2))
	if _, _, rest, err := s.Read(nil, rec); !errors.Is(err, ErrEarly) || len(rest) != 0 {
		t.Fatalf("%v, want ErrEarly", err)
	}
	if !Droppable(fmt.Errorf("x: %w", ErrEarly)) || Droppable(ErrWrongPSK) {
		t.Fatal("Droppable")
	}
}

func TestConfigValidate(t *testing.T) {
	kp := mustKeyPair(t, 1)
	bad := []struct {
		cfg    Config
		server bool
	}{
		{Config{Mode: PSK}, false},
		{Config{Mode: ServerKey}, false},
		{Config{Mode: ServerKey}, true},
		{Config{Mode: Mutual, ServerKey: kp.Public}, false},
		{Config{Mode: Mutual, Static: KeyPair{Private: kp.Private, Public: mustKeyPair(t, 2).Public}}, true},
		{Config{Mode: 9}, true},
	}
	for i, b := range bad {
		if err := b.cfg.Validate(b.server); !errors.Is(err, ErrConfig) {
			t.Errorf("case %d: %v, want ErrConfig", i, err)
		}
		if _, err := NewConn(&b.cfg, b.server, seeded(1)); i != 4 && !errors.Is(err, ErrConfig) {
			t.Errorf("case %d: NewConn: %v, want ErrConfig", i, err)
		}
	}
	if _, err := NewConn(&Config{}, false, seeded(1)); !errors.Is(err, ErrConfig) {
		t.Errorf("mode off: %v", err)
	}
	for _, m := range []Mode{Off, PSK, ServerKey, Mutual} {
		if got, err := ParseMode(m.String()); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMode("tls"); !errors.Is(err, ErrConfig) {
		t.Error("ParseMode accepts an unknown mode")
	}
}
