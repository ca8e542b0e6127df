package modelfile

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

// TestWrapFile checks that a loader's error names its package and the file once, dropping
// the inner layers' prefixes, and unwraps to the inner error.
func TestWrapFile(t *testing.T) {
	inner := errors.New("boom")
	pathErr := &fs.PathError{Op: "open", Path: "m.st", Err: fs.ErrPermission}
	for _, tc := range []struct {
		err   error
		want  string
		cause error
	}{
		{fmt.Errorf("modelfile: safetensors: m.st: header: %w", inner), "infer: m.st: header: boom", inner},
		{WrapFile("modelfile", "m.st", fmt.Errorf("safetensors: m.st: %w", inner)), "infer: m.st: boom", inner},
		{fmt.Errorf("infer: architecture: %w", inner), "infer: m.st: architecture: boom", inner},
		{fmt.Errorf("modelfile: m.st not written: %w", inner), "infer: m.st not written: boom", inner},
		{fmt.Errorf("safetensors: %w", pathErr), "infer: m.st: open: permission denied", fs.ErrPermission},
		{errors.New(`kind "qat", want [int]`), `infer: m.st: kind "qat", want [int]`, nil},
	} {
		err := WrapFile("infer", "m.st", tc.err)
		if err.Error() != tc.want {
			t.Errorf("WrapFile(%q) = %q, want %q", tc.err, err, tc.want)
		}
		if tc.cause != nil && !errors.Is(err, tc.cause) {
			t.Errorf("WrapFile(%q) does not unwrap to %v", tc.err, tc.cause)
		}
	}
	if WrapFile("infer", "m.st", nil) != nil {
		t.Error("WrapFile(nil) is not nil")
	}
}
