package ptq

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/quant"
	"tinyq/safetensors"
)

// A uniform plan simulates what Convert's integer model computes: the same predictions, and
// logits within a few output steps (the simulation sums in float32).
func TestSimulateUniformMatchesConvert(t *testing.T) {
	m := smallModel(t, 64, 32, 16, 10)
	x := randImages(400, 64, 5)
	for _, bits := range []int{8, 4, 2} {
		cfg := Spec(Static, bits, bits)
		cfg.Observer = quant.ObserverConfig{Kind: quant.MinMaxObserver}
		ranges, err := Calibrate(m, cfg, x[:200*64])
		if err != nil {
			t.Fatal(err)
		}
		im, err := Convert(m, cfg, Plan{Inputs: ranges})
		if err != nil {
			t.Fatal(err)
		}
		var plans []LayerPlan
		for i := range m.Layers {
			plans = append(plans, LayerPlan{Weight: cfg.Spec.Layer(0).Weight, Input: ranges[i]})
		}
		sim, err := Simulate(m, plans)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("w%[1]da%[1]d-w%[1]da%[1]d-w%[1]da%[1]d", bits); sim.Sim.Name != want {
			t.Errorf("%d bits: name %q", bits, sim.Sim.Name)
		}
		ag, err := Compare(sim, im, x[200*64:])
		if err != nil {
			t.Fatal(err)
		}
		if ag.Percent < 99 || ag.MaxLSB > 4 {
			t.Errorf("%d bits: simulation agrees with the integer model on %.2f%% (max %.2f output steps), want >= 99%% and <= 4", bits, ag.Percent, ag.MaxLSB)
		}
	}
}

// Float layers are left exactly as the float model computes them; a quantized layer changes
// the logits.
func TestSimulateFloatLayers(t *testing.T) {
	m := smallModel(t, 64, 32, 10)
	x := randImages(50, 64, 6)
	fm := m
	want := make([]float32, 50*10)
	if err := fm.Forward(x, 50, want); err != nil {
		t.Fatal(err)
	}
	sim, err := Simulate(m, make([]LayerPlan, 2))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 50*10)
	if err := sim.Forward(x, 50, got); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("all-float plan: logit %d is %v, float model %v", i, got[i], want[i])
		}
	}
	cfg := Spec(Static, 2, 2)
	ranges, err := Calibrate(m, cfg, x)
	if err != nil {
		t.Fatal(err)
	}
	sim, err = Simulate(m, []LayerPlan{{}, {Weight: cfg.Spec.Layer(0).Weight, Input: ranges[1]}})
	if err != nil {
		t.Fatal(err)
	}
	if sim.Sim.Name != "f-w2a2" {
		t.Errorf("name %q, want f-w2a2", sim.Sim.Name)
	}
	if err := sim.Forward(x, 50, got); err != nil {
		t.Fatal(err)
	}
	same := 0
	for i := range want {
		if got[i] == want[i] {
			same++
		}
	}
	if same > len(want)/10 {
		t.Errorf("a 2-bit last layer left %d of %d logits unchanged", same, len(want))
	}
}

func TestSimulateBadPlans(t *testing.T) {
	m := smallModel(t, 64, 32, 10)
	cfg := Spec(Static, 4, 4)
	ranges, err := Calibrate(m, cfg, randImages(20, 64, 7))
	if err != nil {
		t.Fatal(err)
	}
	for name, plans := range map[string][]LayerPlan{
		"layer plans for":   {{}},
		"for a float layer": {{Input: ranges[0]}, {}},
		"input scales":      {{Weight: cfg.Spec.Layer(0).Weight}, {}},
		"want symmetric":    {{Weight: quant.Spec{Bits: 4, Scheme: quant.Affine}, Input: ranges[0]}, {}},
	} {
		if _, err := Simulate(m, plans); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

// LogitMSEFrom with reference logits computed once gives LogitMSE's value, and from the same
// pass infer.Evaluate's accuracy.
func TestLogitMSEFrom(t *testing.T) {
	m := smallModel(t, 64, 32, 10)
	x := randImages(1500, 64, 8) // more than one evaluation batch
	labels := make([]uint8, 1500)
	for i := range labels {
		labels[i] = uint8(i * 7 % 10)
	}
	fm := m
	im := calibrated(t, m, x, Spec(Static, 4, 4))
	want, err := LogitMSE(fm, im, x)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Logits(fm, x)
	if err != nil {
		t.Fatal(err)
	}
	mse, acc, err := LogitMSEFrom(ref, im, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	wantAcc, err := infer.Evaluate(im, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	if mse != want || acc != wantAcc || !(mse > 0) {
		t.Errorf("LogitMSEFrom = %v, %v%%; LogitMSE %v, Evaluate %v%%", mse, acc, want, wantAcc)
	}
	if _, _, err := LogitMSEFrom(ref[:10], im, x, nil); err == nil {
		t.Error("short reference logits accepted")
	}
}

// calibratedMixed converts m with per-layer widths, each input calibrated at its own width:
// one Calibrate with the mixed configuration gives what calibrating at each layer's width
// and taking that layer's range gives.
func calibratedMixed(t *testing.T, m *infer.FloatModel, x []float32, bits []quant.Widths) (*infer.IntModel, []LayerPlan) {
	t.Helper()
	cfg := Spec(Static, 8, 8)
	cfg = cfg.WithWidths(bits)
	inputs, err := Calibrate(m, cfg, x)
	if err != nil {
		t.Fatal(err)
	}
	var plans []LayerPlan
	for i, b := range bits {
		r, err := Calibrate(m, Spec(Static, b.Weight, b.Activation), x)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(inputs[i], r[i]) {
			t.Errorf("layer %d: mixed calibration %+v, at its width alone %+v", i, inputs[i], r[i])
		}
		plans = append(plans, LayerPlan{Weight: Spec(Static, b.Weight, b.Activation).Spec.Layer(0).Weight, Input: r[i]})
	}
	im, err := Convert(m, cfg, Plan{Inputs: inputs})
	if err != nil {
		t.Fatal(err)
	}
	return im, plans
}

// A mixed-precision integer model computes what its simulation computes, is stored as a
// format_version 3 file (uniform models stay version 2) and loads back to the same logits.
func TestConvertMixed(t *testing.T) {
	m := smallModel(t, 64, 32, 16, 10)
	x := randImages(400, 64, 9)
	bits := []quant.Widths{{Weight: 2, Activation: 8}, {Weight: 4, Activation: 3}, {Weight: 8, Activation: 2}}
	im, plans := calibratedMixed(t, m, x[:200*64], bits)
	if got := im.Config.Name(); got != "w2a8-w4a3-w8a2-static" {
		t.Errorf("name %q", got)
	}
	sim, err := Simulate(m, plans)
	if err != nil {
		t.Fatal(err)
	}
	ag, err := Compare(sim, im, x[200*64:])
	if err != nil {
		t.Fatal(err)
	}
	if ag.Percent < 99 || ag.MaxLSB > 4 {
		t.Errorf("mixed model agrees with its simulation on %.2f%% (max %.2f output steps)", ag.Percent, ag.MaxLSB)
	}
	// Each layer is sized as its own width stores it: 2-bit weights four per byte, 4-bit two.
	want := 0
	for i, l := range m.Layers {
		b, err := infer.LayerBytes(l.In, l.Out, bits[i].Weight, true, infer.Static)
		if err != nil {
			t.Fatal(err)
		}
		want += b
	}
	if im.WeightBytes() != want || len(im.Layers[0].Weights) != 64*32/4 || len(im.Layers[1].Weights) != 32*16/2 {
		t.Errorf("weight bytes %d (want %d), layer bytes %d and %d", im.WeightBytes(), want, len(im.Layers[0].Weights), len(im.Layers[1].Weights))
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "mixed.safetensors")
	if err := infer.SaveInt(path, im, ""); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Metadata[modelfile.KeyVersion]; v != "3" {
		t.Errorf("mixed file format_version %q, want 3", v)
	}
	back, err := infer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want1 := make([]float32, 200*10)
	got := make([]float32, 200*10)
	if err := im.Forward(x[200*64:], 200, want1); err != nil {
		t.Fatal(err)
	}
	if err := back.Forward(x[200*64:], 200, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != want1[i] {
			t.Fatalf("reloaded logit %d is %v, saved model %v", i, got[i], want1[i])
		}
	}
	uni := calibrated(t, m, x, Spec(Static, 4, 4))
	upath := filepath.Join(dir, "uniform.safetensors")
	if err := infer.SaveInt(upath, uni, ""); err != nil {
		t.Fatal(err)
	}
	if uf, err := safetensors.ReadFile(upath); err != nil || uf.Metadata[modelfile.KeyVersion] != "2" {
		t.Errorf("uniform file format_version %q (%v), want 2", uf.Metadata[modelfile.KeyVersion], err)
	}

	// layer_bits in a version 2 file is refused, not misread.
	f.Metadata[modelfile.KeyVersion] = "2"
	if _, err := infer.Decode(f); err == nil || !strings.Contains(err.Error(), "layer_bits in a format_version 2 file") {
		t.Errorf("layer_bits in version 2: %v", err)
	}

	bad := Spec(Dynamic, 8, 8)
	bad = bad.WithWidths(bits)
	if _, err := Convert(m, bad, Plan{}); err == nil || !strings.Contains(err.Error(), "static mode") {
		t.Errorf("dynamic mixed: %v", err)
	}
}
