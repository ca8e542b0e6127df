package pyreader

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// fakeTB records what Python asks of a test.
type fakeTB struct{ fatal, skip string }

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeTB) Skipf(format string, a ...any)  { f.skip = fmt.Sprintf(format, a...) }

// TestPythonMissing: without python3 on PATH, Python skips with a message that names what
// is not checked, and under CI=true it fails instead (issue 19, part 4).
func TestPythonMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // an empty directory: no python3
	t.Setenv("CI", "")
	var f fakeTB
	Python(&f)
	if f.fatal != "" || !strings.Contains(f.skip, "python3 is not on PATH") || !strings.Contains(f.skip, "NOT checked") {
		t.Errorf("without CI: skip %q, fatal %q; want a skip saying the reader is not checked", f.skip, f.fatal)
	}
	t.Setenv("CI", "true")
	f = fakeTB{}
	Python(&f)
	if f.skip != "" || !strings.Contains(f.fatal, "python3 is not on PATH and CI=true") {
		t.Errorf("with CI=true: skip %q, fatal %q; want a failure", f.skip, f.fatal)
	}
}

// TestScript: the script path points at the reader in the source tree.
func TestScript(t *testing.T) {
	if _, err := os.Stat(Script()); err != nil {
		t.Fatal(err)
	}
}
