// Package dirlock lets one process at a time work in a directory: it takes an exclusive lock
// on a file in the directory (flock(2) on Unix, LockFileEx on Windows) that the operating
// system drops when the process ends, however it ends, so that a killed run never leaves a
// stale lock behind. A second Acquire, from another process or from this one, is refused at
// once with a *HeldError naming the directory and the holder's process id.
//
// On systems with neither call (js/wasm, wasip1, plan9, ...) Acquire succeeds without
// locking: Supported is false there.
package dirlock

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"tinyq/internal/regfile"
)

// FileName is the lock file Acquire creates in the directory. It stays after Release: the
// lock is the operating system's hold on the open file, not the file's existence (removing
// it would let a process that opened it just before lock a file no one else can see). It
// holds the process id of the last holder, for the message of a refused Acquire.
const FileName = ".tinyq.lock"

// HeldError reports a directory that another holder has locked.
type HeldError struct {
	Dir string
	PID int // the holder's process id as it recorded it; 0 if not yet recorded
}

func (e *HeldError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("dirlock: %s is in use by another run (process %d)", e.Dir, e.PID)
	}
	return fmt.Sprintf("dirlock: %s is in use by another run", e.Dir)
}

// Lock is a held directory.
type Lock struct {
	f *os.File
}

// Acquire locks dir (which must exist) for this process without waiting: it returns a
// *HeldError if the directory is already locked. Release the lock when done; it is released
// anyway when the process ends.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	// A link or a special file in the lock file's place is refused, never followed: Acquire
	// writes the lock file.
	before, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		before = nil
	case err != nil:
		return nil, fmt.Errorf("dirlock: %w", err)
	default:
		if err := regfile.Check(path, before, "a lock file"); err != nil {
			return nil, fmt.Errorf("dirlock: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dirlock: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = regfile.Check(path, fi, "a lock file")
	}
	if err == nil && before != nil && !os.SameFile(before, fi) {
		err = fmt.Errorf("%s was replaced while being opened", path)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dirlock: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dirlock: lock %s: %w", path, err)
	}
	if held {
		pid := holder(f)
		f.Close()
		return nil, &HeldError{Dir: dir, PID: pid}
	}
	// Record the holder for the message of a refused Acquire. A failure here loses only that.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release unlocks the directory. Releasing a nil or released Lock does nothing.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("dirlock: %w", err)
	}
	return nil
}

// holder reads the process id the holder recorded (0 if none yet, or unreadable).
func holder(f *os.File) int {
	buf := make([]byte, 32) // a process id has at most 20 digits
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
