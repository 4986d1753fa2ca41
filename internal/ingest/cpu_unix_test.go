//go:build unix

package ingest_test

import (
	"syscall"
	"time"
)

// selfCPU returns the CPU time (user and system) this process has used:
// in the benchmark, the simulator serving a child.
func selfCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
