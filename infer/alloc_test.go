package infer_test

import (
	"math/rand"
	"testing"

	"tinyq/infer"
	"tinyq/quant"
)

// allocSizes is the MLP of the allocation test: MNIST's input and classes, two hidden
// layers (so an inner requantization runs).
var allocSizes = []int{784, 64, 32, 10}

// randomFloat returns a float model of sizes with weights uniform in ±0.1 and biases in
// ±0.01, built with the runtime's own constructor.
func randomFloat(t *testing.T, sizes []int, rng *rand.Rand) *infer.FloatModel {
	t.Helper()
	var layers []infer.FloatLayer
	for i := range len(sizes) - 1 {
		l := infer.FloatLayer{Name: "fc", In: sizes[i], Out: sizes[i+1], ReLU: i < len(sizes)-2,
			W: make([]float32, sizes[i]*sizes[i+1]), B: make([]float32, sizes[i+1])}
		for k := range l.W {
			l.W[k] = 0.2 * (rng.Float32() - 0.5)
		}
		for k := range l.B {
			l.B[k] = 0.02 * (rng.Float32() - 0.5)
		}
		layers = append(layers, l)
	}
	m, err := infer.NewFloatModel(infer.F32, layers, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randomInt returns an integer model of sizes for cfg (uniform widths), built with the
// runtime's own constructor: weights uniform over the width's range, weight scales about
// 0.1/qmax, the first layer's input the pixels over 255 and the others' inputs at scale
// 1/16, small biases.
func randomInt(t *testing.T, cfg infer.IntConfig, sizes []int, rng *rand.Rand) *infer.IntModel {
	t.Helper()
	ws, as := cfg.Spec.Layer(0).Weight, cfg.Spec.Layer(0).Activation
	wmin, wmax := ws.QRange()
	amin, amax := as.QRange()
	pk, err := quant.PackingFor(ws.Bits)
	if err != nil {
		t.Fatal(err)
	}
	var layers []*infer.IntLayer
	for i := range len(sizes) - 1 {
		in, out := sizes[i], sizes[i+1]
		l := &infer.IntLayer{Name: "fc", In: in, Out: out, ReLU: i < len(sizes)-2}
		q := make([]int8, in*out)
		for k := range q {
			q[k] = int8(wmin + rng.Int31n(wmax-wmin+1))
		}
		l.Weights = make([]byte, pk.Len(in*out))
		if err := pk.Pack(l.Weights, q); err != nil {
			t.Fatal(err)
		}
		l.WeightScales = []float32{0.1 / float32(wmax)}
		if cfg.PerChannel() {
			l.WeightScales = make([]float32, out)
			for o := range l.WeightScales {
				l.WeightScales[o] = (0.05 + 0.1*rng.Float32()) / float32(wmax)
			}
		}
		if cfg.Mode == infer.Dynamic {
			l.BiasF = make([]float32, out)
			for o := range l.BiasF {
				l.BiasF[o] = 0.02 * (rng.Float32() - 0.5)
			}
		} else {
			l.InScale, l.InZP, l.InQMin, l.InQMax = 1.0/16, amin, amin, amax
			if i == 0 {
				l.InScale = 1.0 / 255
			}
			l.Bias = make([]int32, out)
			for o := range l.Bias {
				l.Bias[o] = rng.Int31n(201) - 100
			}
		}
		layers = append(layers, l)
	}
	m, err := infer.NewIntModel(cfg, layers)
	if err != nil {
		t.Fatalf("%s: %v", cfg.Name(), err)
	}
	return m
}

// TestForwardAllocations: once warm, an integer or float model's Forward allocates nothing at
// batch 1 (one goroutine) and, at batch 1000, only what starting its goroutines costs, a constant
// independent of the batch (measured: 7 small allocations with 2 workers, on every path).
func TestForwardAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	rng := rand.New(rand.NewSource(2))
	x := make([]float32, 1000*784)
	for i := range x {
		if rng.Intn(5) == 0 {
			x[i] = rng.Float32()
		}
	}
	for _, cfg := range []infer.IntConfig{
		{Mode: infer.Static, Spec: quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 8, Activation: 8}, quant.PerChannel))},
		{Mode: infer.Static, Spec: quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 4, Activation: 4}, quant.PerChannel))},
		{Mode: infer.Dynamic, Spec: quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 8, Activation: 8}, quant.PerChannel))},
	} {
		im := randomInt(t, cfg, allocSizes, rng)
		logits := make([]float32, 1000*10)
		for _, c := range []struct {
			rows int
			max  float64
		}{{1, 0}, {1000, 12}} {
			im.Workers = 2
			n := testing.AllocsPerRun(20, func() {
				if err := im.Forward(x[:c.rows*784], c.rows, logits[:c.rows*10]); err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%s batch %d: %v allocations", cfg.Name(), c.rows, n)
			if n > c.max {
				t.Errorf("%s batch %d: %v allocations per Forward, want at most %v", cfg.Name(), c.rows, n, c.max)
			}
		}
	}
	// The float model: the same, through gemm.Affine.
	fm := randomFloat(t, allocSizes, rng)
	fm.Workers = 2
	logits := make([]float32, 1000*10)
	for _, c := range []struct {
		rows int
		max  float64
	}{{1, 0}, {1000, 12}} {
		n := testing.AllocsPerRun(20, func() {
			if err := fm.Forward(x[:c.rows*784], c.rows, logits[:c.rows*10]); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("fp32 batch %d: %v allocations", c.rows, n)
		if n > c.max {
			t.Errorf("fp32 batch %d: %v allocations per Forward, want at most %v", c.rows, n, c.max)
		}
	}
}
