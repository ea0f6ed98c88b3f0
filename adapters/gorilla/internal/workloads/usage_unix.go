//go:build unix

package main

import (
	"syscall"
	"time"
)

// procUsage returns this process's CPU time (user and system) and minor
// page faults so far.
func procUsage() (cpu time.Duration, faults int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), int64(ru.Minflt)
}
