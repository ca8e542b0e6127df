package infer_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/safetensors"
)

// TestLoadErrorsNamePackageOnce checks that Load's errors start with "infer: PATH" once,
// without the prefixes of the layers below (they read "modelfile: safetensors: ..."), and
// still unwrap to what those layers returned.
func TestLoadErrorsNamePackageOnce(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := write("short.safetensors", []byte("garbage"))
	badJSON := write("json.safetensors", []byte("\x05\x00\x00\x00\x00\x00\x00\x00{xxxx"))
	noVersion := write("meta.safetensors", []byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"))
	missing := filepath.Join(dir, "missing.safetensors")
	for _, tc := range []struct {
		path, want string
		is         func(error) bool
	}{
		{short, "infer: " + short + ": file too short: 7 bytes, want at least 8 for the header length", isFormat},
		{badJSON, "infer: " + badJSON + ": invalid JSON header: invalid character 'x'", isFormat},
		{noVersion, "infer: " + noVersion + ": no format_version in metadata", nil},
		// The system's own words for a missing file follow (js/wasm capitalizes them).
		{missing, "infer: " + missing + ": stat: ", func(err error) bool { return errors.Is(err, fs.ErrNotExist) }},
		{dir, "infer: " + dir + " is a directory, not a file", nil},
	} {
		for name, load := range map[string]func(string) error{
			"Load":    func(p string) error { _, err := infer.Load(p); return err },
			"LoadInt": func(p string) error { _, err := infer.LoadInt(p); return err },
		} {
			err := load(tc.path)
			if err == nil {
				t.Errorf("%s(%s): no error", name, tc.path)
				continue
			}
			msg := err.Error()
			rest := strings.TrimPrefix(msg, "infer: "+tc.path) // the path itself ends in "safetensors"
			if !strings.HasPrefix(msg, tc.want) || strings.Contains(rest, "modelfile: ") || strings.Contains(rest, "safetensors: ") || strings.Contains(rest, "infer: ") {
				t.Errorf("%s: error %q, want it to start %q, with no inner package prefix", name, msg, tc.want)
			}
			if tc.is != nil && !tc.is(err) {
				t.Errorf("%s(%s): %v does not unwrap to the cause", name, tc.path, err)
			}
		}
	}
}

// isFormat reports whether err wraps a *safetensors.FormatError.
func isFormat(err error) bool {
	var fe *safetensors.FormatError
	return errors.As(err, &fe)
}
