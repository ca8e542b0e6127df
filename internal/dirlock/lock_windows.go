//go:build windows

package dirlock

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// Supported reports whether Acquire really locks on this system.
const Supported = true

// lockOffset is where the locked byte lies: far past the recorded process id, because
// Windows locks are mandatory and would keep a refused Acquire from reading it.
const lockOffset = 1 << 40

// tryLock takes an exclusive LockFileEx lock on one byte of f without blocking; held is true
// if another handle holds it.
func tryLock(f *os.File) (held bool, err error) {
	ol := windows.Overlapped{OffsetHigh: lockOffset >> 32}
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return true, nil
	}
	return false, err
}

func unlock(f *os.File) error {
	ol := windows.Overlapped{OffsetHigh: lockOffset >> 32}
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}
