//go:build unix

package qat

import (
	"syscall"
	"time"
)

// cpuTime returns the user+system CPU time of the process (every thread). The machine the
// benchmarks run on is shared; CPU seconds per epoch are steadier than wall time there.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
