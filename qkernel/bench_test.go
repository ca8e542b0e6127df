package qkernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Realistic shapes and sparsity: an MLP 784-256-128-10 on MNIST. About 19% of MNIST pixels
// are nonzero after quantization to uint8; about half of the ReLU outputs are zero.
const benchBatch = 1000

var benchLayers = []struct {
	in, out int
	density float64
}{
	{784, 256, 0.19},
	{256, 128, 0.5},
	{128, 10, 0.5},
}

func randInt8(r *rand.Rand, n int, lo, hi int) []int8 {
	w := make([]int8, n)
	for k := range w {
		w[k] = int8(lo + r.IntN(hi-lo+1))
	}
	return w
}

func sparseInput(r *rand.Rand, n int, density float64) []uint8 {
	x := make([]uint8, n)
	for k := range x {
		if r.Float64() < density {
			x[k] = uint8(1 + r.IntN(255))
		}
	}
	return x
}

func packInt4(w []int8) []byte {
	p := make([]byte, (len(w)+1)/2)
	for k, v := range w {
		p[k/2] |= byte(v&0xF) << (4 * (k % 2))
	}
	return p
}

type benchKind int

const (
	kindInt8      benchKind = iota // two-lane layout
	kindInt8Trans                  // transposed int8 layout, int32 accumulators
	kindInt4
)

func (k benchKind) String() string { return [...]string{"int8", "int8-transposed", "int4"}[k] }

func benchWeights(b testing.TB, r *rand.Rand, kind benchKind, out, in int) *Weights {
	var (
		w   *Weights
		err error
	)
	switch kind {
	case kindInt8:
		w, err = newWeights(randInt8(r, out*in, -127, 127), out, in, true)
	case kindInt8Trans:
		w, err = newWeights(randInt8(r, out*in, -127, 127), out, in, false)
	case kindInt4:
		w, err = NewWeightsInt4(packInt4(randInt8(r, out*in, -7, 7)), out, in)
	}
	if err != nil {
		b.Fatal(err)
	}
	return w
}

func BenchmarkAccumulate(b *testing.B) {
	for _, l := range benchLayers {
		for _, kind := range []benchKind{kindInt8, kindInt8Trans, kindInt4} {
			for _, ref := range []bool{false, true} {
				if ref && kind != kindInt8 {
					continue
				}
				name := fmt.Sprintf("%dx%d/%v", l.in, l.out, kind)
				if ref {
					name = fmt.Sprintf("%dx%d/ref", l.in, l.out)
				}
				b.Run(name, func(b *testing.B) {
					r := rand.New(rand.NewPCG(1, 2))
					w := benchWeights(b, r, kind, l.out, l.in)
					src := sparseInput(r, benchBatch*l.in, l.density)
					dst := make([]int32, benchBatch*l.out)
					zp := []int32{0}
					for b.Loop() {
						var err error
						if ref {
							err = w.AccumulateRef(dst, src, benchBatch, zp)
						} else {
							err = w.Accumulate(dst, src, benchBatch, zp, 0)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(benchBatch*b.N)/b.Elapsed().Seconds(), "samples/s")
				})
			}
		}
	}
}

// BenchmarkMLP runs the integer forward pass of a 784-256-128-10 MLP at batch 1000: three
// Accumulate and two Requantize (with fused ReLU) calls, as the runtime does.
func BenchmarkMLP(b *testing.B) {
	for _, kind := range []benchKind{kindInt8, kindInt8Trans, kindInt4} {
		for _, ref := range []bool{false, true} {
			if ref && kind == kindInt8Trans {
				continue
			}
			name := kind.String()
			if ref {
				name += "-ref"
			}
			b.Run(name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(3, 4))
				ws := make([]*Weights, len(benchLayers))
				for k, l := range benchLayers {
					ws[k] = benchWeights(b, r, kind, l.out, l.in)
				}
				x := sparseInput(r, benchBatch*784, 0.19)
				acc := [3][]int32{make([]int32, benchBatch*256), make([]int32, benchBatch*128), make([]int32, benchBatch*10)}
				act := [2][]uint8{make([]uint8, benchBatch*256), make([]uint8, benchBatch*128)}
				// A multiplier of about 2^-9 (mult 2^30, shift -8) and a bias shifted by half the
				// accumulator range keep roughly half of the ReLU outputs at zero for random data.
				mult := []int32{1 << 30}
				shift := []int{-8}
				zp := []int32{0}
				run := func(w *Weights, dst []int32, src []uint8) {
					var err error
					if ref {
						err = w.AccumulateRef(dst, src, benchBatch, zp)
					} else {
						err = w.Accumulate(dst, src, benchBatch, zp, 0)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				var zeros int
				for b.Loop() {
					run(ws[0], acc[0], x)
					if err := Requantize(act[0], acc[0], benchBatch, 256, nil, mult, shift, 0, 0, 255); err != nil {
						b.Fatal(err)
					}
					run(ws[1], acc[1], act[0])
					if err := Requantize(act[1], acc[1], benchBatch, 128, nil, mult, shift, 0, 0, 255); err != nil {
						b.Fatal(err)
					}
					run(ws[2], acc[2], act[1])
				}
				for _, v := range act[1] {
					if v == 0 {
						zeros++
					}
				}
				b.ReportMetric(float64(zeros)/float64(len(act[1])), "zero-frac")
				b.ReportMetric(float64(benchBatch*b.N)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}
