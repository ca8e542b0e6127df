package main

import (
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/internal/proctest"
	"tinyq/nn"
)

// overflowingModel writes a 784-32-10 float model whose logits overflow float32: every
// weight of its last layer is 1e38 (finite, so the file is valid), and a logit sums 32 such
// products.
func overflowingModel(t *testing.T) string {
	t.Helper()
	m, err := nn.NewMLP([]int{784, 32, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Layers[1].Weights() {
		m.Layers[1].Weights()[i] = 1e38
	}
	path := filepath.Join(t.TempDir(), "huge.safetensors")
	if err := m.Save(path, ""); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOverflowingModelRefused (issue 18, item 9): the commands that calibrate refuse a float
// model whose logits overflow, with status 1 and one line saying the logits are not finite,
// and write nothing. `mnist -load` used to crash (status 3: ptq.Choose returned a nil model
// when every candidate's MSE was NaN); `mnist -study DIR -load` failed in the PTQ sweep
// ("json: unsupported value: NaN") after claiming the directory with study.json and the
// model.
func TestOverflowingModelRefused(t *testing.T) {
	bin := proctest.Build(t, ".", "mnist")
	model := overflowingModel(t)
	tmp := t.TempDir()

	js := filepath.Join(tmp, "r.json")
	code, _, stderr := proctest.Run(t, bin, "-load", model, "-train-limit", "3000", "-quiet", "-json", js)
	msg := strings.TrimSpace(stderr)
	if code != 1 || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "mnist: ") || !strings.Contains(msg, "finite") || strings.Contains(msg, "internal error") {
		t.Errorf("-load: exit %d, stderr %q; want status 1 and one line about non-finite logits", code, msg)
	}
	if _, err := os.Stat(js); err == nil {
		t.Error("-load: -json written for a refused model")
	}

	dir := filepath.Join(tmp, "study")
	code, _, stderr = proctest.Run(t, bin, "-study", dir, "-study-quick", "-load", model, "-train-limit", "3000", "-quiet")
	msg = strings.TrimSpace(stderr)
	if code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, "FP32 model's logit") || !strings.Contains(msg, "want finite logits") {
		t.Errorf("-study: exit %d, stderr %q; want status 1 and one line about the FP32 model's non-finite logits", code, msg)
	}
	for _, f := range []string{"study.json", "fp32.safetensors", "report.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("-study: %s written for a refused model", f)
		}
	}
}
