package ptq

import (
	"slices"
	"strings"
	"testing"

	"tinyq/quant"
)

// TestWeightRange: Config.WeightRange MSE gives each layer the weight scales of its
// MSE-clipped per-channel ranges (quant.MSERanges), records itself in the model's
// calibration, and only minmax and mse are accepted.
func TestWeightRange(t *testing.T) {
	m := smallModel(t, 40, 16, 10)
	x := randImages(64, 40, 7)
	cfg := Spec(Static, 4, 8)
	cfg.WeightRange = quant.MSEObserver
	im := calibrated(t, m, x, cfg)
	if im.Calibration != "minmax; weights mse" {
		t.Errorf("calibration %q, want %q", im.Calibration, "minmax; weights mse")
	}
	clipped := 0
	for i, l := range m.Layers {
		spec := cfg.Spec.Layer(i).Weight
		mins, maxs, err := quant.MSERanges(l.W, []int{l.In, l.Out}, spec)
		if err != nil {
			t.Fatal(err)
		}
		want, err := quant.ChooseParams(spec, mins, maxs)
		if err != nil {
			t.Fatal(err)
		}
		if got := im.Layers[i].WeightScales; !slices.Equal(got, want.Scales) {
			t.Errorf("%s: scales %v, want MSERanges' %v", l.Name, got, want.Scales)
		}
		mm, err := WeightParams(l, spec, quant.MinMaxObserver)
		if err != nil {
			t.Fatal(err)
		}
		for c := range mm.Scales {
			if want.Scales[c] < mm.Scales[c] {
				clipped++
			}
		}
	}
	if clipped == 0 {
		t.Error("no channel clipped at 4 bits: the test shows nothing")
	}
	if im := calibrated(t, m, x, Spec(Static, 4, 8)); im.Calibration != "minmax" {
		t.Errorf("default calibration %q, want minmax", im.Calibration)
	}
	bad := Spec(Static, 4, 8)
	bad.WeightRange = quant.PercentileObserver
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "weight range percentile, want minmax or mse") {
		t.Errorf("percentile weight range: error %v", err)
	}
}

// TestChooseWeightRange: below 8-bit weights Choose scores the three activation observers
// each with min/max and with MSE-clipped weights, in that order, and keeps the candidate
// with the smallest logit MSE; with 8-bit weights it tries the observers alone, and without
// validation images it keeps cfg.WeightRange.
func TestChooseWeightRange(t *testing.T) {
	m := smallModel(t, 40, 16, 10)
	calib, val := randImages(128, 40, 8), randImages(64, 40, 9)
	c, err := Choose(m, Spec(Static, 4, 4), calib, val)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	best := 0
	for i, s := range c.Scores {
		got = append(got, s.Method())
		if s.MSE < c.Scores[best].MSE {
			best = i
		}
	}
	want := []string{"minmax", "minmax; weights mse", "percentile", "percentile; weights mse", "mse", "mse; weights mse"}
	if !slices.Equal(got, want) {
		t.Fatalf("candidates %q, want %q", got, want)
	}
	if c.Model.Calibration != c.Scores[best].Method() {
		t.Errorf("chose %q, want the smallest MSE's %q (%v)", c.Model.Calibration, c.Scores[best].Method(), c.Scores)
	}
	// The chosen model is the one Convert makes with the winner's settings.
	cfg := Spec(Static, 4, 4)
	cfg.Observer.Kind, cfg.WeightRange = c.Scores[best].Observer, c.Scores[best].WeightRange
	im := calibrated(t, m, calib, cfg)
	for i := range im.Layers {
		if !slices.Equal(im.Layers[i].Weights, c.Model.Layers[i].Weights) || !slices.Equal(im.Layers[i].WeightScales, c.Model.Layers[i].WeightScales) {
			t.Errorf("layer %d differs from Convert's with the winner's settings", i)
		}
	}
	c8, err := Choose(m, Spec(Static, 8, 4), calib, val)
	if err != nil {
		t.Fatal(err)
	}
	if len(c8.Scores) != 3 || c8.Scores[0].WeightRange != quant.MinMaxObserver {
		t.Errorf("8-bit weights: scores %v, want the three observers with min/max weights", c8.Scores)
	}
	cfg = Spec(Static, 4, 4)
	cfg.WeightRange = quant.MSEObserver
	c0, err := Choose(m, cfg, calib, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c0.Scores) != 0 || c0.Model.Calibration != "minmax; weights mse" {
		t.Errorf("no validation: %d scores, calibration %q; want none and %q", len(c0.Scores), c0.Model.Calibration, "minmax; weights mse")
	}
}
