package qat

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/ptq"
	"tinyq/quant"
	"tinyq/train"
)

// trainedQAT trains the 784-256-128-10 MLP (seed 1) with QAT at w/a bits for one epoch on
// 4,000 real MNIST training images.
func trainedQAT(t *testing.T, w, a int) (*Model, train.Data) {
	t.Helper()
	trainSet, testSet := loadMNIST(t, 4000, 10000)
	qm, err := Prepare(newModel(t, 1), Spec(w, a))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := qm.Fit(trainSet, train.Data{}, train.Config{Epochs: 1}); err != nil {
		t.Fatal(err)
	}
	return qm, testSet
}

// TestConvertAgreement converts QAT models with their own scales (Convert) and checks, on the
// 10,000 real MNIST test images, that (1) the runtime's float simulation (Simulation, no
// gorgonia) gives bit for bit the logits of the training graph's evaluation, and (2) the
// integer runtime predicts the same class as the simulation on at least 99.9% of them (they
// may differ only where a float rounding error lands on a rounding tie; measured: 100.00% at
// W8A8 and W4A4).
func TestConvertAgreement(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on real MNIST")
	}
	for _, bits := range []quant.Widths{{Weight: 8, Activation: 8}, {Weight: 4, Activation: 4}} {
		qm, test := trainedQAT(t, bits.Weight, bits.Activation)
		im, err := qm.Convert(infer.Static)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := im.Config.Name(), qm.Config.Name()+"-static"; got != want {
			t.Fatalf("converted %s labelled %s", qm.Config.Name(), got)
		}
		sim, err := qm.Simulation()
		if err != nil {
			t.Fatal(err)
		}
		ev, err := qm.NewEvaluator(1000)
		if err != nil {
			t.Fatal(err)
		}
		rt := make([]float32, 1000*10)
		for lo := 0; lo < 10000; lo += 1000 {
			x := test.Images[lo*784 : (lo+1000)*784]
			g, err := ev.Forward(x, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if err := sim.Forward(x, 1000, rt); err != nil {
				t.Fatal(err)
			}
			for i := range g {
				if math.Float32bits(g[i]) != math.Float32bits(rt[i]) {
					t.Fatalf("%s image %d logit %d: runtime simulation %v, training graph %v", qm.Config.Name(), lo+i/10, i%10, rt[i], g[i])
				}
			}
		}
		ag, err := ptq.Compare(sim, im, test.Images)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.2f%% of predictions agree, largest logit difference %.4g (%.0f LSBs)", qm.Config.Name(), ag.Percent, ag.MaxAbs, ag.MaxLSB)
		if ag.Percent < 99.9 {
			t.Errorf("%s: integer and simulated predictions agree on %.2f%%, want >= 99.9%%", qm.Config.Name(), ag.Percent)
		}
	}
}

// TestConvertKeepsBits: a W4A4 model converts to a W4A4 integer model with 4-bit levels, and
// no configuration can relabel it: stating other bits for its parameters is an error, and so is
// dynamic mode (8-bit activations) for a model trained with 4-bit activations.
func TestConvertKeepsBits(t *testing.T) {
	qm, err := Prepare(handModel(), Spec(4, 4))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := qm.NewEvaluator(2)
	if err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(true)
	if _, err := ev.Forward([]float32{0.9, 0.1, 0.4, 0.2, 0.7, 1}, 2); err != nil {
		t.Fatal(err)
	}
	qm.SetObserving(false)
	im, err := qm.Convert(infer.Static)
	if err != nil {
		t.Fatal(err)
	}
	c := im.Config
	if c.Spec.Layer(0).Widths() != (quant.Widths{Weight: 4, Activation: 4}) || c.Name() != "w4a4-static" {
		t.Fatalf("W4A4 converted to %+v (%s)", c, c.Name())
	}
	for _, l := range im.Layers {
		if l.InQMin != 0 || l.InQMax != 15 {
			t.Fatalf("%s input range [%d, %d], want [0, 15]", l.Name, l.InQMin, l.InQMax)
		}
	}
	// The old way to get it wrong: the model's own parameters under an 8-bit configuration.
	var plan ptq.Plan
	for i := range qm.Layers {
		plan.Inputs = append(plan.Inputs, qm.Inputs[i].Params())
		plan.Weights = append(plan.Weights, qm.Weights[i].Params())
	}
	fm, err := qm.MLP.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ptq.Convert(fm, ptq.Spec(ptq.Static, 8, 8), plan); err == nil || !strings.Contains(err.Error(), "integer range") {
		t.Fatalf("4-bit parameters converted as W8A8: %v", err)
	}
	if _, err := qm.Convert(infer.Dynamic); err == nil || !strings.Contains(err.Error(), "4-bit activations") {
		t.Fatalf("W4A4 converted to dynamic mode: %v", err)
	}
	w8, err := Prepare(handModel(), Spec(8, 8))
	if err != nil {
		t.Fatal(err)
	}
	dm, err := w8.Convert(infer.Dynamic)
	if err != nil {
		t.Fatal(err)
	}
	if dm.Config.Name() != "w8-dynamic" {
		t.Fatalf("W8A8 in dynamic mode labelled %s", dm.Config.Name())
	}
}

// Mixed widths: each layer's quantizers get their own; the simulation runs; Convert gives a
// mixed integer model that agrees with it; Save refuses the model (its conversion is saved).
func TestMixedLayerBits(t *testing.T) {
	m := newModel(t, 1)
	cfg := Spec(8, 8)
	bits := []quant.Widths{{Weight: 2, Activation: 4}, {Weight: 8, Activation: 3}, {Weight: 4, Activation: 8}}
	cfg = cfg.WithWidths(bits)
	qm, err := Prepare(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	trainSet, testSet := loadMNIST(t, 2000, 500)
	if _, err := qm.Fit(trainSet, testSet, train.Config{Epochs: 1, LR: 1e-3}); err != nil {
		t.Fatal(err)
	}
	for i, want := range bits {
		if w, a := qm.Weights[i].Spec.Bits, qm.Inputs[i].Spec.Bits; w != want.Weight || a != want.Activation {
			t.Errorf("layer %d: quantizers at w%d a%d, want %v", i, w, a, want)
		}
	}
	sim, err := qm.Simulation()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range bits {
		wq, iq := sim.Sim.Weights[i], sim.Sim.Inputs[i]
		if int(wq.QMax) != 1<<(want.Weight-1)-1 || int(iq.QMax-iq.QMin) != 1<<want.Activation-1 {
			t.Errorf("layer %d: simulation ranges [%d,%d] and [%d,%d], want widths %v", i, wq.QMin, wq.QMax, iq.QMin, iq.QMax, want)
		}
	}
	if qm.Config.Name() != "w2a4-w8a3-w4a8" {
		t.Errorf("name %q", qm.Config.Name())
	}
	im, err := qm.Convert(infer.Static)
	if err != nil {
		t.Fatal(err)
	}
	if im.Config.Name() != "w2a4-w8a3-w4a8-static" {
		t.Errorf("integer model %s", im.Config.Name())
	}
	ag, err := ptq.Compare(sim, im, testSet.Images)
	if err != nil {
		t.Fatal(err)
	}
	if ag.Percent < 99 || ag.MaxLSB > 4 {
		t.Errorf("mixed integer model agrees with its simulation on %.2f%% (max %.2f output steps)", ag.Percent, ag.MaxLSB)
	}
	if _, err := qm.Convert(infer.Dynamic); err == nil || !strings.Contains(err.Error(), "static mode") {
		t.Errorf("dynamic Convert of a mixed model: %v", err)
	}
	if err := qm.Save(filepath.Join(t.TempDir(), "m.safetensors"), ""); err == nil || !strings.Contains(err.Error(), "one width") {
		t.Errorf("Save of a mixed model: %v", err)
	}
	// Per-layer widths for another number of layers are refused (one entry is every layer).
	cfg = cfg.WithWidths([]quant.Widths{{Weight: 2, Activation: 4}, {Weight: 4, Activation: 4}})
	if _, err := Prepare(m, cfg); err == nil || !strings.Contains(err.Error(), "2 per-layer widths for 3 layers") {
		t.Errorf("short per-layer widths: %v", err)
	}
	cfg = cfg.WithWidths([]quant.Widths{{Weight: 2, Activation: 4}, {Weight: 9, Activation: 3}, {Weight: 8, Activation: 8}})
	if _, err := Prepare(m, cfg); err == nil || !strings.Contains(err.Error(), "qat: layer 1 weight spec: bits 9 outside 2..8") {
		t.Errorf("9-bit layer: %v", err)
	}
}
