//go:build unix

package qkernel

import (
	"syscall"
	"time"
)

// cpuTime returns the user+system CPU time of the process. The machine is shared and noisy;
// CPU time per sample is steadier than wall time for comparing kernels.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
