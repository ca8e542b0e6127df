package crosstest_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"tinyq/infer"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qat"
	"tinyq/quant"
)

var update = flag.Bool("update", false, "rewrite the runtime's test files in infer/testdata")

// inferTestdata is the runtime's directory of committed model files.
var inferTestdata = filepath.Join("..", "infer", "testdata")

// goldenModel is the fixed 3-2-2 model of docs/FORMAT.md section 9, whose every value is
// exact in float32.
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

// goldenCalib is the calibration of docs/FORMAT.md section 9: the rows [0, 0.5, 1] and
// [1, 0.25, 0].
var goldenCalib = []float32{0, 0.5, 1, 1, 0.25, 0}

// convert calibrates (static) and converts m with cfg.
func convert(t *testing.T, m *nn.MLP, cfg ptq.Config, calib []float32) *infer.IntModel {
	t.Helper()
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	var plan ptq.Plan
	if cfg.Mode == ptq.Static {
		r, err := ptq.Calibrate(fm, cfg, calib)
		if err != nil {
			t.Fatal(err)
		}
		plan.Inputs = r
	}
	im, err := ptq.Convert(fm, cfg, plan)
	if err != nil {
		t.Fatalf("%s: %v", cfg.Name(), err)
	}
	return im
}

// TestInferTestdata pins the byte layout of every model kind the runtime loads: the 3-2-2
// model saved by the training stack (nn.MLP.Save, ptq.Float + infer.SaveFloat, ptq.Convert +
// infer.SaveInt, qat.Model.Save) gives exactly the committed files of infer/testdata, which
// infer's own tests load, edit and check logits on. The version-1 files there (tinyq 0.1.0)
// still load here too. Refresh with: go test ./crosstest -run TestInferTestdata -update
func TestInferTestdata(t *testing.T) {
	m := goldenModel(t)
	const training = `{"seed":1}`
	mixed := ptq.Spec(ptq.Static, 8, 8).WithWidths([]quant.Widths{{Weight: 2, Activation: 8}, {Weight: 8, Activation: 8}})
	qm, err := qat.Prepare(goldenModel(t), qat.Spec(4, 8))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := qm.NewEvaluator(2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Forward(goldenCalib, 2); err != nil { // observe the calibration rows
		t.Fatal(err)
	}
	qm.SetObserving(false)
	for _, c := range []struct {
		name string
		save func(string) error
	}{
		{"float.safetensors", func(p string) error { return m.Save(p, training) }},
		{"fp16.safetensors", func(p string) error {
			fm, err := m.FloatModel()
			if err != nil {
				return err
			}
			h, err := ptq.Float16(fm)
			if err != nil {
				return err
			}
			return infer.SaveFloat(p, h, training)
		}},
		{"int-w4a8.safetensors", func(p string) error {
			return infer.SaveInt(p, convert(t, m, ptq.Spec(ptq.Static, 4, 8), goldenCalib), training)
		}},
		{"int-w8-dynamic.safetensors", func(p string) error {
			return infer.SaveInt(p, convert(t, m, ptq.Spec(ptq.Dynamic, 8, 8), goldenCalib), training)
		}},
		{"int-mixed.safetensors", func(p string) error {
			return infer.SaveInt(p, convert(t, m, mixed, goldenCalib), training)
		}},
		{"qat-w4a8.safetensors", func(p string) error { return qm.Save(p, training) }},
	} {
		p := filepath.Join(t.TempDir(), c.name)
		if err := c.save(p); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join(inferTestdata, c.name)
		if *update {
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
	if _, _, err := nn.Load(filepath.Join(inferTestdata, "v1", "float.safetensors")); err != nil {
		t.Fatalf("nn.Load of a v1 float file: %v", err)
	}
	if _, _, err := qat.Load(filepath.Join(inferTestdata, "qat-w4a8.safetensors")); err != nil {
		t.Fatalf("qat.Load of the committed QAT file: %v", err)
	}
}
