//go:build unix

package safetensors_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tinyq/safetensors"
)

// TestReadFileSpecial: a FIFO, a device, a directory and a sparse file past MaxFileSize are
// refused at once (before this fix the FIFO blocked and /dev/zero or the sparse file were read
// into memory), and so is a header length past the end of a large file, before its body is read.
func TestReadFileSpecial(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.safetensors")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	sparse := filepath.Join(dir, "sparse.safetensors")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 30); err != nil {
		t.Skip("no sparse files here:", err)
	}
	f.Close()
	for _, c := range []struct{ path, want string }{
		{fifo, "not a regular file"},
		{"/dev/zero", "not a regular file"},
		{dir, "is a directory"},
		{sparse, "more than the limit"},
	} {
		done := make(chan error, 1)
		go func() { _, err := safetensors.ReadFile(c.path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("%s: error %v, want one naming the file and saying %q", c.path, err, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: ReadFile still running after 10s", c.path)
		}
	}
}
