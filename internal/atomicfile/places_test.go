package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckPlaces: a written place that is another's file is a ConflictError naming first the
// place to change (the one that would overwrite an input; of two outputs the one that names
// the file itself), two reads or two places of one Via are no conflict, and directories are
// created and files probed.
func TestCheckPlaces(t *testing.T) {
	dir := t.TempDir()
	at := func(p string) string { return filepath.Join(dir, p) }
	if err := os.WriteFile(at("m"), []byte("model"), 0o644); err != nil {
		t.Fatal(err)
	}
	load := Place{Via: "-load " + at("m"), Path: at("m"), Input: true}
	save := Place{Via: "-save " + at("out"), Path: at("out"), Dir: true}
	manifest := Place{Via: save.Via, Path: at("out/manifest.json")}
	for _, c := range []struct {
		ps   []Place
		want string
	}{
		{[]Place{load, {Via: "-json " + at("m"), Path: at("m")}}, "-json " + at("m") + " names the same file as -load " + at("m") + ": it would be overwritten; give -json another path"},
		{[]Place{{Via: "-json " + at("x/../m"), Path: at("x/../m")}, load}, "-json " + at("x/../m") + " names the same file as -load " + at("m") + ": it would be overwritten; give -json"},
		{[]Place{save, manifest, {Via: "-json " + at("out/manifest.json"), Path: at("out/manifest.json")}}, "-json " + at("out/manifest.json") + " names the same file as -save " + at("out") + " (" + at("out/manifest.json") + "): one would overwrite the other; give -json"},
		{[]Place{save, {Via: "-json " + at("out"), Path: at("out")}}, "the same path as"},
	} {
		err := CheckPlaces(c.ps)
		var ce *ConflictError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckPlaces(%v) = %v, want a ConflictError %q", c.ps, err, c.want)
		}
	}
	if _, err := os.Stat(at("out")); err == nil {
		t.Error("a refused set of places created a directory")
	}
	ok := []Place{load, {Via: "-data d", Path: at("m"), Input: true}, save, manifest}
	if err := CheckPlaces(ok); err != nil {
		t.Fatalf("distinct places: %v", err)
	}
	if fi, err := os.Stat(at("out")); err != nil || !fi.IsDir() {
		t.Errorf("-save's directory not created: %v", err)
	}
	if err := CheckPlaces([]Place{{Via: "-json " + dir, Path: dir}}); err == nil || !strings.HasPrefix(err.Error(), "-json "+dir+": cannot write there: ") {
		t.Errorf("a directory as an output file: %v", err)
	}
}
