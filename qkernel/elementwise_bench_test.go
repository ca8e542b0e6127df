package qkernel

import (
	"math/rand/v2"
	"testing"
)

// benchPaths runs f as a sub-benchmark for every supported path, with active set to it.
func benchPaths(b *testing.B, f func(b *testing.B)) {
	saved := active
	defer func() { active = saved }()
	for _, p := range Supported() {
		active = p
		b.Run(p.String(), f)
	}
}

// BenchmarkQuantizeInput: a batch of 1000 MNIST-sized rows, [1000, 784], as one call.
func BenchmarkQuantizeInput(b *testing.B) {
	r := rand.New(rand.NewPCG(51, 52))
	x := make([]float32, benchBatch*784)
	for k := range x {
		if r.IntN(5) == 0 { // ~19% nonzero pixels in [0, 1]
			x[k] = r.Float32()
		}
	}
	dst := make([]uint8, len(x))
	benchPaths(b, func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for b.Loop() {
			if err := QuantizeInput(dst, x, 1.0/255, 0, 0, 255); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRowRange: the per-row ranges of dynamic mode, 1000 rows of 784 and of 256.
func BenchmarkRowRange(b *testing.B) {
	r := rand.New(rand.NewPCG(53, 54))
	for _, in := range []int{784, 256} {
		x := make([]float32, benchBatch*in)
		for k := range x {
			x[k] = max(0, float32(r.NormFloat64())) // ReLU-like: the minimum is a zero
		}
		b.Run(map[int]string{784: "1000x784", 256: "1000x256"}[in], func(b *testing.B) {
			benchPaths(b, func(b *testing.B) {
				b.SetBytes(int64(4 * len(x)))
				for b.Loop() {
					for row := range benchBatch {
						RowRange(x[row*in : (row+1)*in])
					}
				}
			})
		})
	}
}

// BenchmarkRequantizePaths: the first layer's output, [1000, 256], per-channel constants, bias.
func BenchmarkRequantizePaths(b *testing.B) {
	r := rand.New(rand.NewPCG(55, 56))
	for _, out := range []int{256, 10} {
		acc, bias, mult, shift, _, _, _ := randRequant(r, benchBatch, out)
		mult, shift = make([]int32, out), make([]int, out)
		for k := range mult {
			mult[k], shift[k] = int32(1<<30+r.IntN(1<<30)), -8-r.IntN(4)
		}
		if bias == nil {
			bias = make([]int32, out)
		}
		dst := make([]uint8, len(acc))
		b.Run(map[int]string{256: "1000x256", 10: "1000x10"}[out], func(b *testing.B) {
			benchPaths(b, func(b *testing.B) {
				b.SetBytes(int64(4 * len(acc)))
				for b.Loop() {
					if err := Requantize(dst, acc, benchBatch, out, bias, mult, shift, 0, 0, 255); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkDequantize: dynamic mode's first layer, [1000, 256], per-channel weight scales,
// fused ReLU.
func BenchmarkDequantize(b *testing.B) {
	r := rand.New(rand.NewPCG(57, 58))
	const out = 256
	acc := randAcc(r, benchBatch*out)
	rowScale := make([]float32, benchBatch)
	for k := range rowScale {
		rowScale[k] = 1.0 / 255
	}
	wScale, bias := make([]float32, out), make([]float32, out)
	for k := range wScale {
		wScale[k], bias[k] = 0.01*r.Float32(), float32(r.NormFloat64())
	}
	dst := make([]float32, len(acc))
	benchPaths(b, func(b *testing.B) {
		b.SetBytes(int64(4 * len(acc)))
		for b.Loop() {
			if err := Dequantize(dst, acc, benchBatch, out, rowScale, wScale, bias, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLogits: the last layer, [1000, 10].
func BenchmarkLogits(b *testing.B) {
	r := rand.New(rand.NewPCG(59, 60))
	const out = 10
	acc, bias := randAcc(r, benchBatch*out), randAcc(r, out)
	scale := make([]float32, out)
	for k := range scale {
		scale[k] = 1e-4 * r.Float32()
	}
	dst := make([]float32, len(acc))
	benchPaths(b, func(b *testing.B) {
		b.SetBytes(int64(4 * len(acc)))
		for b.Loop() {
			if err := Logits(dst, acc, benchBatch, out, bias, scale, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}
