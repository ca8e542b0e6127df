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
	"tinyq/qkernel"
)

// logitRows is golden.LogitRows, failing the test on an error.
func logitRows(t *testing.T, m infer.Model, x []float32) []string {
	t.Helper()
	rows, err := golden.LogitRows(m, x)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestGoldenLogits loads the committed integer model files (8-, 4- and 2-bit weights, static
// and dynamic) and checks their logits on fixed inputs against the committed float32 bits,
// on this architecture (amd64, arm64 under qemu and js/wasm under Node in .ci/run) and, in a
// child process per TINYQ_KERNEL value, on every integer path this CPU supports: the integer
// runtime gives the same logits, bit for bit, everywhere. Issue 18, item 2. The files are
// written by `go test ./crosstest -run TestWriteGoldenLogits -update` (on amd64), which
// needs the training stack that the runtime's tests never link.
func TestGoldenLogits(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(golden.Dir, golden.LogitsFile))
	if err != nil {
		t.Fatal(err)
	}
	var g golden.File
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	// 8-, 4- and 2-bit weights, static (per channel and per tensor) and dynamic.
	if len(g.Logits) != 6 {
		t.Fatalf("%d models in %s, want 6", len(g.Logits), golden.LogitsFile)
	}
	x := golden.Checked()
	for name, want := range g.Logits {
		m, err := infer.Load(filepath.Join(golden.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(*infer.IntModel); !ok {
			t.Fatalf("%s: %T, want an integer model", name, m)
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
	t.Logf("%d models x %d rows equal the golden logits on %s/%s, integer path %v", len(g.Logits), golden.Rows, runtime.GOOS, runtime.GOARCH, qkernel.ActivePath())
	if os.Getenv("TINYQ_GOLDEN_CHILD") != "" || t.Failed() {
		return
	}
	for _, p := range qkernel.Supported() {
		if p == qkernel.ActivePath() {
			continue
		}
		cmd := exec.Command(os.Args[0], "-test.run", "^TestGoldenLogits$", "-test.v")
		cmd.Env = append(os.Environ(), "TINYQ_KERNEL="+p.String(), "TINYQ_GOLDEN_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "integer path "+p.String()) {
			t.Errorf("TINYQ_KERNEL=%v: %v\n%s", p, err, out)
		}
	}
}
