package study

import (
	"strings"
	"testing"

	"tinyq/study/schema"
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
	}{{[]int{12, 8, 10}, ""}, {nil, ""}, {[]int{12, 9, 10}, "has layer sizes [12 8 10], the study's settings [12 9 10]"}} {
		s, err := Open(dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.Resume("", c.sizes)
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
