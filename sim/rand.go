package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
)

// stream returns the ChaCha8 generator for one purpose of a run ("net",
// "server/0", "client/c1/0", "chaos", ...). Each purpose has its own stream
// derived from (seed, purpose), so the choices of one never shift another's.
func stream(seed uint64, purpose string) *rand.ChaCha8 {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(purpose))
	var key [32]byte
	copy(key[:], h.Sum(nil))
	return rand.NewChaCha8(key)
}
