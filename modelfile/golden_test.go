package modelfile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"tinyq/nn"
	"tinyq/ptq"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenModel is a fixed 3-2-2 model whose every value is exact in float32.
func goldenModel(t *testing.T) *nn.MLP {
	m, err := nn.NewMLPFrom([]int{3, 2, 2}, []string{"relu", "identity"})
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Layers[0].Weights(), []float32{0.5, -1, 0.25, 2, -0.75, 1.5})
	copy(m.Layers[0].Bias(), []float32{0.125, -0.25})
	copy(m.Layers[1].Weights(), []float32{1, -0.5, -2, 0.75})
	copy(m.Layers[1].Bias(), []float32{0, 0.5})
	return m
}

// TestGoldenFiles pins the byte layout of a float and an integer (W4A8 static) model file.
// Refresh with: go test ./modelfile -run Golden -update
func TestGoldenFiles(t *testing.T) {
	m := goldenModel(t)
	cfg := ptq.Spec(ptq.Static, 4, 8)
	x := []float32{0, 0.5, 1, 1, 0.25, 0}
	ranges, err := ptq.Calibrate(m, x, cfg.Activation, cfg.Observer)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ptq.Convert(m, cfg, ptq.Plan{Inputs: ranges})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		save func(string) error
	}{
		{"float.safetensors", func(p string) error { return SaveFloat(p, m, `{"seed":1}`) }},
		{"int-w4a8.safetensors", func(p string) error { return SaveInt(p, im, `{"seed":1}`) }},
	} {
		p := filepath.Join(t.TempDir(), c.name)
		if err := c.save(p); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", c.name)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (%d vs %d bytes): the file layout changed; if on purpose, bump FormatVersion or run -update", c.name, golden, len(got), len(want))
		}
	}
}
