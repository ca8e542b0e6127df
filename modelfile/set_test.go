package modelfile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSaveFailureKeepsOthers (issue 18 case 2, from cmd/mnist): a model file that fails is named and the other models
// are still written.
func TestSaveFailureKeepsOthers(t *testing.T) {
	dir := t.TempDir()
	var a Set
	for _, n := range []string{"a", "b", "c"} {
		a.Add(n, func(p string) error {
			if n == "b" {
				return errors.New("write " + p + ": disk full")
			}
			return os.WriteFile(p, []byte(n), 0o644)
		})
	}
	failed := a.Write(dir, "run", func(string) {})
	if len(failed) != 2 || !strings.Contains(failed[0], "b.safetensors") || !strings.Contains(failed[1], "incomplete") {
		t.Fatalf("failed = %q, want b.safetensors named and the set called incomplete", failed)
	}
	for _, n := range []string{"a", "c"} {
		if _, err := os.Stat(filepath.Join(dir, n+".safetensors")); err != nil {
			t.Errorf("not written after b failed: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an incomplete set has a manifest: %v", err)
	}
}

// TestSaveManifest (issue 18 case 9, from cmd/mnist): a complete -save set ends with a manifest naming the run and
// each file's SHA-256; a later run that stops between files leaves no manifest, so a set that
// mixes two runs cannot pass for a complete one.
func TestSaveManifest(t *testing.T) {
	dir := t.TempDir()
	write := func(run string, fail string) []string {
		var a Set
		for _, n := range []string{"a", "b", "c"} {
			a.Add(n, func(p string) error {
				if n == fail {
					return errors.New("killed")
				}
				return os.WriteFile(p, []byte(run+n), 0o644)
			})
		}
		return a.Write(dir, map[string]string{"seed": run}, func(string) {})
	}
	if failed := write("1", ""); failed != nil {
		t.Fatal(failed)
	}
	var m struct {
		Run   map[string]string `json:"run"`
		Files map[string]string `json:"files"`
	}
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// sha256("1a") = d4b1...: the manifest holds the hash of what was written.
	sum := sha256.Sum256([]byte("1a"))
	if m.Run["seed"] != "1" || len(m.Files) != 3 || m.Files["a.safetensors"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("manifest %s", b)
	}
	// A second run interrupted at c: a and b are the new run's, c the old one's; no manifest.
	if failed := write("2", "c"); len(failed) == 0 {
		t.Fatal("the interrupted set reported no failure")
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a mixed set kept a manifest: %v", err)
	}
}

// TestSetFiles: the files Write writes, in order, for the names given: each model, then the
// manifest.
func TestSetFiles(t *testing.T) {
	dir := t.TempDir()
	var s Set
	for _, n := range []string{"fp32", "ptq"} {
		s.Add(n, func(p string) error { return os.WriteFile(p, []byte(n), 0o644) })
	}
	var written []string
	if failed := s.Write(dir, "run", func(p string) { written = append(written, p) }); failed != nil {
		t.Fatal(failed)
	}
	got := SetFiles(dir, []string{"fp32", "ptq"})
	if strings.Join(got, "|") != strings.Join(written, "|") || len(got) != 3 {
		t.Errorf("SetFiles = %v, Write wrote %v", got, written)
	}
}
