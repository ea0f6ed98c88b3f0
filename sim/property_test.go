package sim

import (
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
