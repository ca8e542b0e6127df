package crosstest

import (
	"math/rand"
	"testing"

	"tinyq/mnist"
	"tinyq/nn"
	"tinyq/ptq"
)

// benchModel returns a 784-256-128-10 model (He init, seed 1) and 1,000 real MNIST test
// images, so the input sparsity that the integer kernels exploit is realistic.
func benchModel(b *testing.B) (*nn.MLP, []float32) {
	dir, err := mnist.Locate("")
	if err != nil {
		b.Fatal(err)
	}
	_, test, err := mnist.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	m, err := nn.NewMLP([]int{784, 256, 128, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		b.Fatal(err)
	}
	return m, test.Images[:1000*784]
}

// BenchmarkForward (in crosstest: it needs the training stack, which ptq's own tests never
// link) compares float32 inference (the training stack's gorgonia graph and the
// runtime's float model) with the integer runtime at
// batch 1000, in one run so the ratios are fair on a noisy machine.
func BenchmarkForward(b *testing.B) {
	m, x := benchModel(b)
	b.Run("fp32", func(b *testing.B) {
		ev, err := m.NewEvaluator(1000)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < b.N; i++ {
			if _, err := ev.Forward(x, 1000); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "samples/s")
	})
	fm, err := m.FloatModel()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fp32-runtime", func(b *testing.B) {
		logits := make([]float32, 1000*10)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := fm.Forward(x, 1000, logits); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "samples/s")
	})
	// Batch 1: one sample per call, cycling through the 1,000 images.
	b.Run("fp32/bs1", func(b *testing.B) {
		ev, err := m.NewEvaluator(1)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < b.N; i++ {
			k := i % 1000
			if _, err := ev.Forward(x[k*784:(k+1)*784], 1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	})
	b.Run("fp32-runtime/bs1", func(b *testing.B) {
		logits := make([]float32, 10)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			k := i % 1000
			if err := fm.Forward(x[k*784:(k+1)*784], 1, logits); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	})
	for _, c := range []struct {
		name string
		cfg  ptq.Config
	}{
		{"w8a8-static", ptq.Spec(ptq.Static, 8, 8)},
		{"w4a4-static", ptq.Spec(ptq.Static, 4, 4)},
		{"w8-dynamic", ptq.Spec(ptq.Dynamic, 8, 8)},
		{"w2a4-static", ptq.Spec(ptq.Static, 2, 4)},
	} {
		var plan ptq.Plan
		if c.cfg.Mode == ptq.Static {
			if plan.Inputs, err = ptq.Calibrate(fm, c.cfg, x); err != nil {
				b.Fatal(err)
			}
		}
		im, err := ptq.Convert(fm, c.cfg, plan)
		if err != nil {
			b.Fatal(err)
		}
		logits := make([]float32, 1000*10)
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := im.Forward(x, 1000, logits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "samples/s")
		})
		// Batch 1: one sample per call, cycling through the 1,000 images.
		b.Run(c.name+"/bs1", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				k := i % 1000
				if err := im.Forward(x[k*784:(k+1)*784], 1, logits[:10]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
