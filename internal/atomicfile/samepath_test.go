package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSamePath: two spellings of one file are the same path (a symbolic link to it, a
// dangling link to where it will be, a hard link, ".." after a linked directory, a relative
// path); two different files are not.
func TestSamePath(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(f, filepath.Join(dir, "link")))
	must(os.Symlink(filepath.Join(dir, "later"), filepath.Join(dir, "dangling")))
	must(os.Link(f, filepath.Join(dir, "hard")))
	must(os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	must(os.Symlink(filepath.Join(dir, "a", "b"), filepath.Join(dir, "lb")))
	wd, err := os.Getwd()
	must(err)
	rel, err := filepath.Rel(wd, f)
	must(err)
	same := [][2]string{
		{f, filepath.Join(dir, "link")},
		{filepath.Join(dir, "dangling"), filepath.Join(dir, "later")},
		{f, filepath.Join(dir, "hard")},
		{filepath.Join(dir, "lb") + "/../new", filepath.Join(dir, "a", "new")}, // ".." leaves the link's target
		{rel, f},
	}
	for _, c := range same {
		if !SamePath(c[0], c[1]) {
			t.Errorf("SamePath(%s, %s) = false, want true (resolved %s and %s)", c[0], c[1], Resolve(c[0]), Resolve(c[1]))
		}
	}
	for _, c := range [][2]string{{f, filepath.Join(dir, "g")}, {filepath.Join(dir, "lb") + "/../new", filepath.Join(dir, "new")}} {
		if SamePath(c[0], c[1]) {
			t.Errorf("SamePath(%s, %s) = true, want false", c[0], c[1])
		}
	}
}
