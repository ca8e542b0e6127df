package infer_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/internal/golden"
	"tinyq/modelfile"
	"tinyq/qkernel"
)

// TestGoldenConvLogits loads the committed convolutional integer model files (format
// version 4, golden.ConvArch, W8A8 and W4A4) and checks their logits on fixed inputs
// against the committed float32 bits, here and, in a child process per TINYQ_KERNEL value,
// on every integer path this CPU supports. The files are written by
// `go test ./crosstest -run TestWriteGoldenConv -update`.
func TestGoldenConvLogits(t *testing.T) {
	dir := filepath.FromSlash(golden.ConvDir)
	b, err := os.ReadFile(filepath.Join(dir, golden.LogitsFile))
	if err != nil {
		t.Fatal(err)
	}
	var g golden.File
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Logits) != 2 {
		t.Fatalf("%d models in %s, want 2", len(g.Logits), golden.LogitsFile)
	}
	x := golden.Checked()
	for name, want := range g.Logits {
		f, err := modelfile.Read(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if v := f.Metadata[modelfile.KeyVersion]; v != "4" {
			t.Errorf("%s: format_version %s, want 4", name, v)
		}
		m, err := infer.Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		im, ok := m.(*infer.IntModel)
		if !ok || im.Arch().String() != golden.ConvArch {
			t.Fatalf("%s: %T, want an integer model of %s", name, m, golden.ConvArch)
		}
		got := logitRows(t, m, x)
		if len(want) != len(got) {
			t.Fatalf("%s: %d rows in logits.json, want %d", name, len(want), len(got))
		}
		for r := range want {
			if got[r] != want[r] {
				t.Errorf("%s on %s/%s, integer path %v: row %d logits\n%s\nwant\n%s", name, runtime.GOOS, runtime.GOARCH, qkernel.ActivePath(), r, got[r], want[r])
			}
		}
	}
	t.Logf("%d convolutional models x %d rows equal the golden logits on %s/%s, integer path %v", len(g.Logits), golden.Rows, runtime.GOOS, runtime.GOARCH, qkernel.ActivePath())
	if os.Getenv("TINYQ_GOLDEN_CHILD") != "" || t.Failed() {
		return
	}
	for _, p := range qkernel.Supported() {
		if p == qkernel.ActivePath() {
			continue
		}
		cmd := exec.Command(os.Args[0], "-test.run", "^TestGoldenConvLogits$", "-test.v")
		cmd.Env = append(os.Environ(), "TINYQ_KERNEL="+p.String(), "TINYQ_GOLDEN_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "integer path "+p.String()) {
			t.Errorf("TINYQ_KERNEL=%v: %v\n%s", p, err, out)
		}
	}
}
