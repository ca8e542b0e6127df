package ptq_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/ptq"
)

// TestTable: the standard table's models come in TableNames' order, and each integer model
// is, byte for byte in its file, the one Choose makes from the held-out images (the first
// DefaultCalibrationSize to calibrate on, the last DefaultValidationSize others to choose with).
func TestTable(t *testing.T) {
	m, err := infer.Load("../testdata/tiny/fp32.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	fm := m.(*infer.FloatModel)
	pixels, err := os.ReadFile("../testdata/tiny/train-images.u8")
	if err != nil {
		t.Fatal(err)
	}
	x, err := infer.Pixels(m, pixels)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := ptq.Table(fm, x)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.Name)
		if v.Skipped != "" || v.Model() == nil || v.Note == "" {
			t.Errorf("%s: skipped %q, model %v, note %q; want a model with a note", v.Name, v.Skipped, v.Model(), v.Note)
		}
	}
	if want := ptq.TableNames(); !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	if vs[0].Float == nil || vs[0].Int != nil {
		t.Errorf("fp16: want a float model only")
	}
	in, _ := fm.Shape()
	n := len(x) / in
	ncal, nval := ptq.HeldOut(n, ptq.DefaultCalibrationSize, ptq.DefaultValidationSize)
	dir := t.TempDir()
	for i, cfg := range ptq.TableConfigs() {
		v := vs[i+1]
		c, err := ptq.Choose(fm, cfg, x[:ncal*in], x[(n-nval)*in:])
		if err != nil {
			t.Fatal(err)
		}
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		if err := infer.SaveInt(a, v.Int, ""); err != nil {
			t.Fatal(err)
		}
		if err := infer.SaveInt(b, c.Model, ""); err != nil {
			t.Fatal(err)
		}
		ba, _ := os.ReadFile(a)
		bb, _ := os.ReadFile(b)
		if !bytes.Equal(ba, bb) {
			t.Errorf("%s: the table's model differs from Choose's", v.Name)
		}
		if cfg.Mode == ptq.Static && !strings.HasPrefix(v.Note, "calibrated on ") {
			t.Errorf("%s: note %q, want the calibration", v.Name, v.Note)
		}
	}
	if _, err := ptq.Table(fm, x[:len(x)-1]); err == nil || !strings.HasPrefix(err.Error(), "ptq: ") {
		t.Errorf("images not whole: error %v, want a ptq error", err)
	}
}
