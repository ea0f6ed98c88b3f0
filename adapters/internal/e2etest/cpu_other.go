//go:build !unix

package e2etest

import "time"

// processCPU is the CPU time this process has used: unknown here (zero).
func processCPU() time.Duration { return 0 }
