package ptq

import (
	"errors"
	"strings"
	"testing"

	"tinyq/quant"
)

// TestOverflowingModelRefused (issue 18, item 9): a float model whose logits overflow
// float32 (last-layer weights of 1e38: every logit is a sum of such products) is refused by
// Calibrate, Choose, Logits and LogitMSE with a *NonFiniteError naming whose logit, which
// image and class, never scored (before, every candidate's MSE was NaN and Choose returned a
// nil model without an error; at 8 bits it converted the model as if nothing were wrong).
func TestOverflowingModelRefused(t *testing.T) {
	m := smallModel(t, 20, 16, 10)
	for i := range m.Layers[1].W {
		m.Layers[1].W[i] = 1e38
	}
	m = clone(t, m) // NewFloatModel checks that the parameters themselves are finite
	calib, val := randImages(64, 20, 1), randImages(32, 20, 2)
	check := func(what string, err error, model, set string) {
		t.Helper()
		var nf *NonFiniteError
		if !errors.As(err, &nf) {
			t.Errorf("%s: error %v, want a *NonFiniteError", what, err)
			return
		}
		if nf.Model != model || nf.Set != set || nf.Image < 0 || nf.Class < 0 || nf.Class >= 10 || quant.AllFinite([]float32{nf.Value}) {
			t.Errorf("%s: %+v, want model %q, set %q and a non-finite value", what, nf, model, set)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "ptq: ") || !strings.Contains(msg, "want finite logits") || strings.Contains(msg, "\n") {
			t.Errorf("%s: message %q", what, msg)
		}
	}
	// At 8 bits Choose only calibrates; below, it first computes the float model's logits on
	// the validation images, to score the calibration methods.
	for _, c := range []struct {
		cfg Config
		set string
	}{
		{Spec(Static, 8, 8), "calibration"},
		{Spec(Static, 4, 4), "validation"},
		{Spec(Static, 4, 8).PerTensor(), "validation"},
	} {
		ch, err := Choose(m, c.cfg, calib, val)
		if ch.Model != nil {
			t.Errorf("Choose %s returned a model", c.cfg.Name())
		}
		check("Choose "+c.cfg.Name(), err, "the float model", c.set)
	}
	_, err := Calibrate(m, Spec(Static, 8, 8), calib)
	check("Calibrate", err, "the float model", "calibration")

	fm := m
	_, err = Logits(fm, val)
	check("Logits", err, "", "")
	// A sound model scored against the overflowing one: the reference is named.
	gm := smallModel(t, 20, 16, 10)
	_, err = LogitMSE(fm, gm, val)
	check("LogitMSE against it", err, "the reference", "")
	ref, err := Logits(gm, val)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = LogitMSEFrom(ref, fm, val, nil)
	check("LogitMSEFrom of it", err, "", "")
}
