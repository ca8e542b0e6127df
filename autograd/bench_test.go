package autograd

import (
	"math/rand"
	"testing"

	"gorgonia.org/tensor"

	"tinyq/quant"
)

// BenchmarkFakeQuantObserve runs the fake-quant forward pass with observation on, as QAT
// does every step, and the observation alone: a 784x256 weight per channel (axis 1, min/max
// of the current tensor), a 256x784 weight per channel along axis 0, and a 128x784
// activation per tensor (moving average). All take the range path (the observers implement
// quant.RangeState).
func BenchmarkFakeQuantObserve(b *testing.B) {
	for _, tc := range []struct {
		name  string
		spec  quant.Spec
		kind  quant.ObserverKind
		reset bool
		shape []int
	}{
		{"weight-axis1", quant.Spec{Bits: 4, Scheme: quant.Symmetric, Granularity: quant.PerChannel, Axis: 1}, quant.MinMaxObserver, true, []int{784, 256}},
		{"weight-axis0", quant.Spec{Bits: 4, Scheme: quant.Symmetric, Granularity: quant.PerChannel, Axis: 0}, quant.MinMaxObserver, true, []int{256, 784}},
		{"act-tensor", quant.Spec{Bits: 8, Scheme: quant.Affine, Granularity: quant.PerTensor}, quant.MovingAverageObserver, false, []int{128, 784}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			obs, err := quant.NewObserver(tc.spec, quant.ObserverConfig{Kind: tc.kind})
			if err != nil {
				b.Fatal(err)
			}
			chans := 1
			if tc.spec.Granularity == quant.PerChannel {
				chans = tc.shape[tc.spec.Axis]
			}
			q, err := NewQuantizer("q", tc.spec, chans, obs)
			if err != nil {
				b.Fatal(err)
			}
			q.ResetEachStep = tc.reset
			rng := rand.New(rand.NewSource(5))
			x := make([]float32, tc.shape[0]*tc.shape[1])
			for i := range x {
				x[i] = float32(rng.NormFloat64()) * 0.1
			}
			xv := tensor.New(tensor.WithShape(tc.shape...), tensor.WithBacking(x))
			fwd := &fakeQuantOp{base: base{name: "q", kind: "FakeQuant"}, q: q}
			b.SetBytes(int64(4 * len(x)))
			b.Run("forward", func(b *testing.B) {
				for b.Loop() {
					if _, err := fwd.Do(xv, q.Scale); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("observe", func(b *testing.B) {
				b.SetBytes(int64(4 * len(x)))
				fwd.setInput(x, xv.Shape())
				for b.Loop() {
					if err := fwd.observe(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
