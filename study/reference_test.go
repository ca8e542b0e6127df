package study

import (
	"os"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/study/schema"
	"tinyq/train"
)

// TestResumeChecksSizes: a resumed study's model is refused when its layer sizes are not the
// ones the run's settings give, and accepted when they are or when the caller gives none.
func TestResumeChecksSizes(t *testing.T) {
	dir := t.TempDir()
	cfg := schema.Config{Settings: Quick()}
	s, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetReference(testModel(t, 1), nil, 90, `{"seed":1}`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, c := range []struct {
		sizes []int
		want  string
	}{{[]int{12, 8, 10}, ""}, {nil, ""}, {[]int{12, 9, 10}, "has architecture dense(8),relu,dense(10), the study's settings dense(9),relu,dense(10)"}} {
		s, err := Open(dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var want *arch.Arch
		if c.sizes != nil {
			a := arch.MLP(c.sizes, arch.Shape{})
			want = &a
		}
		m, err := s.Resume("", want)
		s.Close()
		switch {
		case c.want == "" && (err != nil || m == nil):
			t.Errorf("sizes %v: %v, want the model", c.sizes, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "study: ")):
			t.Errorf("sizes %v: %v, want %q", c.sizes, err, c.want)
		}
	}
}

// TestCheckReference: a model whose logits overflow float32 is refused, naming the FP32 model
// and the set; finite logits pass.
func TestCheckReference(t *testing.T) {
	m := testModel(t, 1)
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	ones := make([]float32, 2*12)
	for i := range ones {
		ones[i] = 1
	}
	if err := CheckReference(fm, ones, ones); err != nil {
		t.Fatalf("finite model: %v", err)
	}
	for _, l := range m.Layers {
		for i := range l.Weights() {
			l.Weights()[i] = 1e30
		}
	}
	if fm, err = m.FloatModel(); err != nil {
		t.Fatal(err)
	}
	err = CheckReference(fm, ones, ones)
	if err == nil || !strings.HasPrefix(err.Error(), "study: ") || !strings.Contains(err.Error(), "FP32 model's logit") || !strings.Contains(err.Error(), "training") {
		t.Errorf("overflowing model: %v", err)
	}
}

// TestHoldOut: enough training images give the validation images the last ones not
// calibrated on, capped at the setting; too few are refused and leave the settings alone.
func TestHoldOut(t *testing.T) {
	s := Full()
	s.CalibrationImages, s.ValidationImages = 1000, 5000
	if !HoldOut(&s, 4000) || s.ValidationImages != 3000 {
		t.Errorf("4000 images: validation %d, want 3000", s.ValidationImages)
	}
	s.ValidationImages = 5000
	if HoldOut(&s, 1000+MinHeldOut-1) || s.ValidationImages != 5000 {
		t.Errorf("too few images accepted, or settings changed (validation %d)", s.ValidationImages)
	}
	if !HoldOut(&s, 60000) || s.ValidationImages != 5000 {
		t.Errorf("60000 images: validation %d, want 5000", s.ValidationImages)
	}
}

// TestNewRunInfo fills every field.
func TestNewRunInfo(t *testing.T) {
	r := NewRunInfo("go run ./cmd/mnist -study x")
	if r.Command != "go run ./cmd/mnist -study x" || r.Date == "" || !strings.Contains(r.Machine, "cores") || !strings.HasPrefix(r.Kernels, "integer ") || !strings.HasPrefix(r.Go, "go") {
		t.Errorf("NewRunInfo = %+v", r)
	}
}

// TestFor: the FP32 run's fields are copied into the full or quick grid, the full study's QAT
// trains the run's epochs, and a loaded model leaves its sizes and epochs to the file.
func TestFor(t *testing.T) {
	run := schema.Settings{Seed: 7, Hidden: []int{32}, Epochs: 3, Batch: 64, LR: 0.01, TrainLimit: 5000, QATLR: 0.002, QATEpochs: 99, QATBits: []schema.Pair{{W: 5, A: 5}}}
	s := For(false, run)
	if s.Quick || s.Seed != 7 || len(s.Hidden) != 1 || s.Epochs != 3 || s.Batch != 64 || s.LR != 0.01 || s.TrainLimit != 5000 || s.QATLR != 0.002 || s.QATEpochs != 3 || len(s.QATBits) != len(Full().QATBits) {
		t.Errorf("full: %+v", s)
	}
	if s := For(true, run); !s.Quick || s.QATEpochs != Quick().QATEpochs || s.Epochs != 3 || s.Seed != 7 {
		t.Errorf("quick: %+v", s)
	}
	conv := run
	conv.Hidden, conv.Arch, conv.Shift = nil, "conv(4,3),relu,flatten,dense(10)", 2
	if s := For(false, conv); s.Arch != conv.Arch || s.Shift != 2 {
		t.Errorf("a convolutional run's network and translations not kept: %+v", s)
	}
	run.Load = "m.safetensors"
	if s := For(false, run); s.Load != run.Load || s.Hidden != nil || s.Epochs != 0 || s.QATEpochs != 3 {
		t.Errorf("loaded: %+v", s)
	}
	conv.Load = "m.safetensors"
	if s := For(false, conv); s.Arch != "" {
		t.Errorf("loaded: the file decides the network, not %q", s.Arch)
	}
}

// TestReference: a diverged history and a model with non-finite logits are refused before
// anything is recorded; a sound model becomes the reference with its test accuracy.
func TestReference(t *testing.T) {
	s, err := Open(t.TempDir(), schema.Config{Settings: Quick()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := tinyData(50, 1)
	bad := &train.History{Epochs: []train.Epoch{{TrainLoss: 1e6, TestAccuracy: 10}}}
	if err := s.Reference(testModel(t, 1), bad, data, data, "{}"); err == nil || !strings.HasPrefix(err.Error(), "study: fp32 diverged") {
		t.Errorf("diverged history: %v", err)
	}
	m := testModel(t, 1)
	for _, l := range m.Layers {
		for i := range l.Weights() {
			l.Weights()[i] = 1e30
		}
	}
	if err := s.Reference(m, nil, data, data, "{}"); err == nil || !strings.Contains(err.Error(), "FP32 model's logit") {
		t.Errorf("overflowing model: %v", err)
	}
	if _, err := os.Stat(s.ModelPath()); err == nil || s.Results.FP32.ParamsSHA256 != "" {
		t.Fatal("a refused model was recorded")
	}
	if err := s.Reference(testModel(t, 1), nil, data, data, "{}"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.ModelPath()); err != nil {
		t.Errorf("the reference model was not saved: %v", err)
	}
	if acc := s.Results.FP32.Accuracy; acc < 0 || acc > 100 || string(s.Results.FP32.Training) != "{}" {
		t.Errorf("reference %+v", s.Results.FP32)
	}
}
