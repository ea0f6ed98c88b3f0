package sim

import (
	"flag"
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// TestPropertyStream and TestPropertyDatagram run [Property] in each link
// mode (counts in main_test.go).
func TestPropertyStream(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { Property(t, PropertyOptions{Swarm: Swarm{Mode: "stream"}}) })
}

func TestPropertyDatagram(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { Property(t, PropertyOptions{Swarm: Swarm{Mode: "datagram"}}) })
}

// TestPropertySecureStream and TestPropertySecureDatagram run [Property]
// with encryption on, each run drawing its mode (psk, server-key, mutual):
// sealing, the replay window and the handshake's retransmission under every
// fault the simulator injects. They run a quarter of the plaintext
// properties' checks (handshakes cost public-key operations).
func TestPropertySecureStream(t *testing.T) {
	withQuarterChecks(t, func() {
		rapid.Check(t, func(t *rapid.T) { Property(t, PropertyOptions{Swarm: Swarm{Mode: "stream", Secure: "any"}}) })
	})
}

func TestPropertySecureDatagram(t *testing.T) {
	withQuarterChecks(t, func() {
		rapid.Check(t, func(t *rapid.T) { Property(t, PropertyOptions{Swarm: Swarm{Mode: "datagram", Secure: "any"}}) })
	})
}

// withQuarterChecks runs f with rapid's check count (as TestMain or the
// command line set it) divided by 4.
func withQuarterChecks(t *testing.T, f func()) {
	fl := flag.Lookup("rapid.checks")
	old := fl.Value.String()
	n, err := strconv.Atoi(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := fl.Value.Set(strconv.Itoa(max(1, n/4))); err != nil {
		t.Fatal(err)
	}
	defer fl.Value.Set(old)
	f()
}
