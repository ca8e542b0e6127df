//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package dirlock

import "os"

// Supported reports whether Acquire really locks on this system: not here (no flock(2) or
// LockFileEx), where Acquire only records the process id.
const Supported = false

func tryLock(*os.File) (held bool, err error) { return false, nil }

func unlock(*os.File) error { return nil }
