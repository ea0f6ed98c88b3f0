//go:build !unix

package main

import "time"

// procUsage reports nothing where getrusage is missing: -usage then shows
// the GC cycles and allocation only.
func procUsage() (cpu time.Duration, faults int64) { return 0, 0 }
