package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFailureKeepsOldFile: a write that fails after some bytes leaves the previous file
// byte-identical and no temp file behind.
func TestFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "model.safetensors")
	if err := Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "old contents"); return err }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	for _, n := range []int{0, 1, 5, 100} {
		err := Write(p, func(w io.Writer) error {
			if _, err := w.Write(make([]byte, n)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("after %d bytes: error %v, want %v", n, err, boom)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != "old contents" {
			t.Fatalf("after a failed write of %d bytes the file holds %q (%v)", n, b, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the model (temp files left behind)", len(entries))
	}
}

func TestNewFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	if err := Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "hi"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "hi" {
		t.Fatalf("%q", b)
	}
	if err := Write(filepath.Join(t.TempDir(), "no", "such", "dir", "x"), func(io.Writer) error { return nil }); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

// TestRefusesNonRegular: a directory or a device at the path is refused with a plain message
// and left alone; nothing is left behind.
func TestRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "m.safetensors")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	err := Write(d, func(w io.Writer) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("write onto a directory: %v", err)
	}
	if err := Probe(d); err == nil {
		t.Fatal("Probe accepted a directory")
	}
	if err := Write("/dev/null", func(w io.Writer) error { return nil }); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("write onto /dev/null: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// TestKeepsSymlink: writing through a symbolic link replaces its target and keeps the link.
func TestKeepsSymlink(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "target.json"), filepath.Join(dir, "link.json")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target.json", link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Fatalf("target holds %q", b)
	}
}

// TestRemovesStale: an old temp file of the same name's pattern is removed by the next write;
// a fresh one (perhaps another writer's) is kept.
func TestRemovesStale(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.safetensors")
	old, fresh := filepath.Join(dir, ".m.safetensors.tmp-123"), filepath.Join(dir, ".m.safetensors.tmp-456")
	for _, f := range []string{old, fresh} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * staleAge)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, func(w io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("stale temp file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}
}
