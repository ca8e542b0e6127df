package ptq

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/quant"
)

// convModel returns conv(4,3,pad=1),relu,maxpool(2),conv(6,3,stride=2),relu,dense(10) on
// 8×8 one-channel images with He-normal weights (seed 5).
func convModel(t testing.TB) *infer.FloatModel {
	t.Helper()
	a, err := arch.Parse("conv(4,3,pad=1),relu,maxpool(2),conv(6,3,stride=2,pad=1),relu,flatten,dense(10)", arch.Shape{H: 8, W: 8, C: 1})
	if err != nil {
		t.Fatal(err)
	}
	us, err := a.Units()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(5))
	var layers []infer.FloatLayer
	for i, u := range us {
		in, out := u.Fan()
		l := infer.FloatLayer{Name: modelName(i), In: in, Out: out, ReLU: u.ReLU, W: make([]float32, in*out), B: make([]float32, out), Conv: u.Conv, Pool: u.Pool}
		std := math.Sqrt(2 / float64(in))
		for j := range l.W {
			l.W[j] = float32(rng.NormFloat64() * std)
		}
		for j := range l.B {
			l.B[j] = 0.05 * float32(j%5-2)
		}
		layers = append(layers, l)
	}
	return floatModel(t, layers)
}

func modelName(i int) string { return "fc" + string(rune('1'+i)) }

// Static PTQ of a convolutional model: the integer model (convolutions with the input zero
// point as padding, pooling on uint8) predicts what its fake-quant simulation predicts, at
// every width and granularity; dynamic mode is refused naming the convolution.
func TestConvStaticMatchesSimulation(t *testing.T) {
	m := convModel(t)
	x := randImages(600, 64, 7)
	for _, cfg := range []Config{Spec(Static, 8, 8), Spec(Static, 8, 8).PerTensor(), Spec(Static, 4, 4), Spec(Static, 2, 8)} {
		cfg.Observer = quant.ObserverConfig{Kind: quant.MinMaxObserver}
		ranges, err := Calibrate(m, cfg, x[:300*64])
		if err != nil {
			t.Fatal(err)
		}
		im, err := Convert(m, cfg, Plan{Inputs: ranges})
		if err != nil {
			t.Fatal(err)
		}
		if im.Layers[0].Conv != m.Layers[0].Conv || im.Layers[0].Pool != m.Layers[0].Pool || im.Layers[1].Conv.Stride != 2 {
			t.Fatalf("%s: geometry not carried: %+v", cfg.Name(), im.Layers[0].Conv)
		}
		var plans []LayerPlan
		for i := range m.Layers {
			plans = append(plans, LayerPlan{Weight: cfg.Spec.Layer(i).Weight, Input: ranges[i]})
		}
		sim, err := Simulate(m, plans)
		if err != nil {
			t.Fatal(err)
		}
		ag, err := Compare(sim, im, x[300*64:])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.2f%% same class, max %.2f output steps", cfg.Name(), ag.Percent, ag.MaxLSB)
		if ag.Percent < 100 || ag.MaxLSB > 1 {
			t.Errorf("%s: simulation agrees with the integer model on %.2f%% (max %.2f output steps), want 100%% and <= 1", cfg.Name(), ag.Percent, ag.MaxLSB)
		}
	}
	if _, err := Convert(m, Spec(Dynamic, 8, 8), Plan{}); err == nil || !strings.Contains(err.Error(), "fc1 is a convolution") {
		t.Errorf("dynamic conversion of a convolutional model: %v", err)
	}
	vs, err := Table(m, randImages(400, 64, 8))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if (v.Skipped != "") != strings.Contains(v.Name, "dynamic") {
			t.Errorf("%s: skipped %q", v.Name, v.Skipped)
		}
	}
}
