package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
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
