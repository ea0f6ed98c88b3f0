package fuzz

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bettersocket/bettersocket/codec/secure"
)

// secureSentinels are the refusals of the secure layer; every error its
// Read returns wraps exactly one.
var secureSentinels = []error{
	secure.ErrWrongPSK, secure.ErrWrongServerKey, secure.ErrUnknownClientKey, secure.ErrHandshake,
	secure.ErrAuth, secure.ErrReplay, secure.ErrReflected, secure.ErrTruncated, secure.ErrDowngrade,
	secure.ErrEarly, secure.ErrMalformed,
}

func checkSecureError(t *testing.T, err error) {
	t.Helper()
	kinds := 0
	for _, s := range secureSentinels {
		if errors.Is(err, s) {
			kinds++
		}
	}
	if kinds != 1 {
		t.Fatalf("secure error %v matches %d sentinel kinds, want 1", err, kinds)
	}
}

// FuzzSecure feeds an established server-side secure layer a program of
// records: the honest client's sealed records as they are, replayed,
// reordered, with bytes changed, cut, joined, or replaced by arbitrary
// bytes; and hands arbitrary bytes to a layer still in its handshake. A
// record is accepted only if the honest client sealed it, and at most once;
// every refusal is typed; nothing panics.
func FuzzSecure(f *testing.F) {
	f.Add([]byte{0, 4, 0, 0, 0, 0, 0, 1, 0, 2, 3})
	f.Add([]byte{1, 7, 1, 3, 20, 5, 2, 1, 4, 6, 0, 5})
	f.Add([]byte{2, 2, 3, 9, 0xe2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40, 0, 1})
	f.Add([]byte{2, 5, 2, 4, 0xe1, 3, 0, 48, 6, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := &script{b: data}
		mode := []secure.Mode{secure.PSK, secure.ServerKey, secure.Mutual}[p.byte()%3]
		keys := rand.NewChaCha8([32]byte{1})
		serverKP, _ := secure.GenerateKeyPair(keys)
		clientKP, _ := secure.GenerateKeyPair(keys)
		psk, _ := secure.GeneratePSK(keys)
		ccfg := &secure.Config{Mode: mode, PSK: psk, ServerKey: serverKP.Public, Static: clientKP}
		scfg := &secure.Config{Mode: mode, PSK: psk, Static: serverKP}
		client, err := secure.NewConn(ccfg, false, rand.NewChaCha8([32]byte{2}))
		if err != nil {
			t.Fatal(err)
		}
		server, err := secure.NewConn(scfg, true, rand.NewChaCha8([32]byte{3}))
		if err != nil {
			t.Fatal(err)
		}
		fresh, _ := secure.NewConn(scfg, true, rand.NewChaCha8([32]byte{4}))
		msg, _ := client.Start()
		for msg != nil {
			var reply []byte
			if _, reply, _, err = server.Read(nil, msg); err == nil && reply != nil {
				_, reply, _, err = client.Read(nil, reply)
			}
			if err != nil {
				t.Fatal(err)
			}
			msg = reply
		}
		n := 1 + int(p.byte()%8)
		recs := make([][]byte, n)
		sealed := map[string]bool{}
		for i := range recs {
			plain := fmt.Appendf(nil, "honest message %d", i)
			recs[i], _ = client.Seal(nil, plain)
			sealed[string(plain)] = true
		}
		accepted := map[string]bool{}
		read := func(c *secure.Conn, in []byte, established bool) {
			for len(in) > 0 {
				plain, _, rest, err := c.Read(nil, in)
				if err != nil {
					checkSecureError(t, err)
					if rest == nil {
						return
					}
				} else if established && plain != nil {
					if !sealed[string(plain)] {
						t.Fatalf("accepted %q, which the client never sealed", plain)
					}
					if accepted[string(plain)] {
						t.Fatalf("accepted %q twice", plain)
					}
					accepted[string(plain)] = true
				}
				if len(rest) >= len(in) {
					t.Fatalf("Read consumed nothing of %d bytes", len(in))
				}
				in = rest
			}
		}
		for steps := 0; p.more() && steps < 64; steps++ {
			rec := bytes.Clone(recs[int(p.byte())%n])
			switch p.byte() % 6 {
			case 0: // as sealed (again, or out of order)
			case 1: // a byte changed
				rec[int(p.byte())%len(rec)] ^= 1 | p.byte()
			case 2: // cut
				rec = rec[:int(p.byte())%len(rec)]
			case 3: // joined with another
				rec = append(rec, recs[int(p.byte())%n]...)
			case 4: // arbitrary bytes
				rec = p.bytes(int(p.byte()) % 80)
			case 5: // arbitrary bytes to a layer in its handshake
				read(fresh, p.bytes(int(p.byte())%120), false)
				continue
			}
			read(server, rec, true)
		}
	})
}
