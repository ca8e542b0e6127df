package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
)

// SamePath reports whether two paths name the same file: the same resolved path (see
// Resolve: symbolic links, "..", relative paths), or, for files that exist, the same
// device and inode (os.SameFile: hard links).
func SamePath(a, b string) bool {
	if Resolve(a) == Resolve(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// Resolve returns the absolute path that a write to p reaches: p's symbolic links
// resolved (a link at the end of p as Write follows it, dangling or not), and for a
// path that does not exist yet, its parent resolved and its name appended.
func Resolve(p string) string {
	if t, err := Target(p); err == nil {
		p = t
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		if abs, err := filepath.Abs(r); err == nil {
			return abs
		}
		return r
	}
	// p does not exist (or cannot be resolved): resolve its parent, unclean, so that ".."
	// after a symbolic link goes where the system would go, then append the name (a ".."
	// now applies to a path without links).
	dir, name := ".", p
	if i := strings.LastIndexByte(p, filepath.Separator); i >= 0 {
		dir, name = p[:i], p[i+1:]
		if dir == "" {
			dir = string(filepath.Separator)
		}
	}
	if dir == p {
		return p
	}
	return filepath.Join(Resolve(dir), name)
}
