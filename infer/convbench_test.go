package infer_test

import (
	"fmt"
	"math/rand"
	"testing"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/quant"
)

// cnnModels returns issue 20's CNN (arch.CNN) as a float model and a W8A8 static integer
// model with random weights, for the benchmarks (and TestConvForwardAllocations).
func cnnModels(b testing.TB) (*infer.FloatModel, *infer.IntModel) {
	us, err := arch.CNN(false, 10).Units()
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	var fl []infer.FloatLayer
	var il []*infer.IntLayer
	for i, u := range us {
		in, out, conv, pool, relu := infer.UnitWindows(u)
		w, bias := make([]float32, in*out), make([]float32, out)
		for k := range w {
			w[k] = 0.1 * (rng.Float32() - 0.5)
		}
		fl = append(fl, infer.FloatLayer{Name: "l", In: in, Out: out, Conv: conv, Pool: pool, ReLU: relu, W: w, B: bias})
		q := make([]byte, in*out)
		for k := range q {
			q[k] = byte(rng.Intn(255) - 127)
		}
		scales := make([]float32, out)
		for o := range scales {
			scales[o] = 0.1 / 127
		}
		l := &infer.IntLayer{Name: "l", In: in, Out: out, Conv: conv, Pool: pool, ReLU: relu, Weights: q, WeightScales: scales,
			InScale: 1.0 / 16, InQMin: 0, InQMax: 255, Bias: make([]int32, out)}
		if i == 0 {
			l.InScale = 1.0 / 255
		}
		il = append(il, l)
	}
	fm, err := infer.NewFloatModel(infer.F32, fl, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := infer.IntConfig{Mode: infer.Static, Spec: quant.Uniform(quant.LayerSpecFor(quant.Widths{Weight: 8, Activation: 8}, quant.PerChannel))}
	im, err := infer.NewIntModel(cfg, il)
	if err != nil {
		b.Fatal(err)
	}
	return fm, im
}

// BenchmarkCNN times issue 20's CNN (3.02M multiply-adds per image) through the runtime,
// fp32 and int8 (W8A8 static), at batch 1000 and 1, in images per second (random weights:
// the speed does not depend on them, but for the zero inputs the kernels skip).
func BenchmarkCNN(b *testing.B) {
	fm, im := cnnModels(b)
	rng := rand.New(rand.NewSource(2))
	x := images(rng, 1000)
	logits := make([]float32, 1000*10)
	for _, m := range []infer.Model{fm, im} {
		for _, rows := range []int{1000, 1} {
			b.Run(fmt.Sprintf("%s/batch%d", m.Name(), rows), func(b *testing.B) {
				for b.Loop() {
					if err := m.Forward(x[:rows*784], rows, logits[:rows*10]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
