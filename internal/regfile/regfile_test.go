package regfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpen: a regular file opens; a directory and a device are refused with the path and
// what was expected, and nothing is left open.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, fi, err := Open(p, "a file")
	if err != nil || fi.Size() != 3 {
		t.Fatalf("regular file: %v, %v", fi, err)
	}
	f.Close()
	if _, _, err := Open(dir, "a data file"); err == nil || err.Error() != dir+" is a directory, not a data file" {
		t.Errorf("directory: %v", err)
	}
	if _, err := os.Stat("/dev/null"); err == nil {
		if _, _, err := Open("/dev/null", "a file"); err == nil || !strings.Contains(err.Error(), "/dev/null is not a regular file") {
			t.Errorf("device: %v", err)
		}
	}
	if _, _, err := Open(filepath.Join(dir, "missing"), "a file"); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}
