//go:build linux || darwin

package imageprep

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A named pipe is refused without being opened: opening it for reading would block
// until a writer comes, here forever.
func TestDecodeFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "digit.png")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := DecodeFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		var nr *NotRegularError
		if !errors.As(err, &nr) || nr.Mode&fs.ModeNamedPipe == 0 || nr.Path != path {
			t.Fatalf("error %v, want *NotRegularError for a named pipe at %s", err, path)
		}
		if want := path + " is a named pipe (FIFO), not a regular file"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want it to contain %q", err, want)
		}
	case <-time.After(10 * time.Second): // the refusal takes microseconds
		t.Fatal("DecodeFile blocked on a named pipe")
	}
}
