package modelfile_test

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"tinyq/infer"
	"tinyq/modelfile"
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
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := ptq.Calibrate(fm, cfg, x)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ptq.Convert(fm, cfg, ptq.Plan{Inputs: ranges})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		save func(string) error
	}{
		{"float.safetensors", func(p string) error { return m.Save(p, `{"seed":1}`) }},
		{"fp16.safetensors", func(p string) error {
			h, err := ptq.Float16(fm)
			if err != nil {
				return err
			}
			return infer.SaveFloat(p, h, `{"seed":1}`)
		}},
		{"int-w4a8.safetensors", func(p string) error { return infer.SaveInt(p, im, `{"seed":1}`) }},
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

// TestReadsVersion1: the version-1 golden files (written by tinyq 0.1.0, before the input
// record and the axis fix) still load, as the same model: every logit of the float and the
// W4A8 integer model equals today's.
func TestReadsVersion1(t *testing.T) {
	m := goldenModel(t)
	cfg := ptq.Spec(ptq.Static, 4, 8)
	calib := []float32{0, 0.5, 1, 1, 0.25, 0}
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := ptq.Calibrate(fm, cfg, calib)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ptq.Convert(fm, cfg, ptq.Plan{Inputs: ranges})
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{0, 0.5, 1, 1, 0.25, 0, 0.3, 0.9, 0.1, 0.7, 0, 0.6}
	for _, c := range []struct {
		file string
		now  infer.Model
	}{{"float.safetensors", fm}, {"int-w4a8.safetensors", im}} {
		old, err := infer.Load(filepath.Join("testdata", "v1", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if old.Name() != c.now.Name() || old.Input() != (modelfile.Input{Width: 3, Height: 1, PixelDivisor: 255}) {
			t.Fatalf("v1 %s: %s with input %+v, want %s", c.file, old.Name(), old.Input(), c.now.Name())
		}
		a, b := make([]float32, 4*2), make([]float32, 4*2)
		if err := old.Forward(x, 4, a); err != nil {
			t.Fatal(err)
		}
		if err := c.now.Forward(x, 4, b); err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("v1 %s logit %d: %v, today's model %v", c.file, i, a[i], b[i])
			}
		}
	}
	if _, _, err := nn.Load(filepath.Join("testdata", "v1", "float.safetensors")); err != nil {
		t.Fatalf("nn.Load of a v1 float file: %v", err)
	}
}

// TestGoldenIntLogits: the W4A8 golden file, checksum and all, gives the logits of the
// worked example of docs/FORMAT.md section 9 bit for bit: the pixels [0, 128, 255] and the
// float32 row [0, 0.5, 1]. Refreshing the golden files (for the data checksum, issue 18,
// item 20) must not change them.
func TestGoldenIntLogits(t *testing.T) {
	m, err := infer.Load(filepath.Join("testdata", "int-w4a8.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	px, err := infer.Pixels(m, []uint8{0, 128, 255})
	if err != nil {
		t.Fatal(err)
	}
	x := append(px, 0, 0.5, 1)
	logits := make([]float32, 4)
	if err := m.Forward(x, 2, logits); err != nil {
		t.Fatal(err)
	}
	want := []uint32{0xC08B7B7D, 0x40089E56, 0xC08AEAEC, 0x400831E9}
	for i, v := range logits {
		if math.Float32bits(v) != want[i] {
			t.Errorf("logit %d: %v (%#08x), want %#08x (FORMAT.md section 9)", i, v, math.Float32bits(v), want[i])
		}
	}
}
