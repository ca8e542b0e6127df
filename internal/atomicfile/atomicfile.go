// Package atomicfile writes files so that a reader sees either the old file or the whole new
// one, never a half-written file: write to a temp file in the same directory, fsync, rename.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tinyq/internal/regfile"
)

// staleAge is how old a temp file of our own pattern must be before Write removes it as the
// leftover of a killed process: far longer than any write takes, so that a concurrent writer's
// temp file is never touched.
const staleAge = time.Hour

// Target returns the file that Write(path) replaces: path itself, or, if path is a symbolic
// link, the file it points to (so that the link survives). It refuses an existing target
// that is not a regular file (a directory, a device, a FIFO): renaming over it would replace
// a device link with a file, or fail with a puzzling "file exists".
func Target(path string) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return path, nil
	}
	if err != nil {
		return "", err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		resolved, err := filepath.EvalSymlinks(path)
		if errors.Is(err, os.ErrNotExist) {
			// A dangling link: write where it points.
			dest, lerr := os.Readlink(path)
			if lerr != nil {
				return "", lerr
			}
			if !filepath.IsAbs(dest) {
				dest = filepath.Join(filepath.Dir(path), dest)
			}
			return dest, nil
		}
		if err != nil {
			return "", err
		}
		if fi, err = os.Stat(resolved); err != nil {
			return "", err
		}
		path = resolved
	}
	if err := regfile.Check(path, fi, "a file"); err != nil {
		return "", err
	}
	return path, nil
}

// Probe checks that path can be written: its existing target, if any, is a regular file, and
// a file can be created and removed in its directory. It changes nothing.
func Probe(path string) error {
	target, err := Target(path)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the temp file's name would only confuse
		}
		return fmt.Errorf("cannot create a file in %s: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Write creates or replaces path with what write produces. If write or any step fails, the
// temp file is removed and a previous file at path is left untouched. A symbolic link at path
// is kept and its target replaced; an existing path that is not a regular file is refused.
// Temp files of path's own pattern older than an hour (left by a killed process) are removed.
func Write(path string, write func(w io.Writer) error) (err error) {
	target, err := Target(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	removeStale(dir, base)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; a model or results file is as readable as any other.
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: chmod: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", path, err)
	}
	if err = os.Rename(tmp, target); err != nil {
		return fmt.Errorf("write %s: rename: %w", path, err)
	}
	return nil
}

// removeStale removes dir/.BASE.tmp-* files older than staleAge: the temp files of writes of
// this same file that a killed process never finished. Errors are ignored (best effort).
func removeStale(dir, base string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+escapeGlob(base)+".tmp-*"))
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleAge {
			os.Remove(m)
		}
	}
}

// escapeGlob quotes the metacharacters of filepath.Match.
func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}
