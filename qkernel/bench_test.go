package qkernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// report adds samples/s (wall clock) and, where the system reports it, cpu-us/sample
// (process CPU time) to b.
func report(b *testing.B, cpu0 time.Duration, samples int) {
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
	if cpu0 > 0 {
		b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(samples), "cpu-us/sample")
	}
}

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

// mnistLike returns batch 28x28 images that look like MNIST to the kernels: the nonzero pixels
// (about 19%, as in MNIST) lie in the central 20x20 box, so that whole 8-byte words of the
// border are zero, and half of them are near 255 (MNIST strokes saturate; the mean nonzero
// MNIST pixel is about 174, here about 178).
func mnistLike(r *rand.Rand, batch int) []uint8 {
	x := make([]uint8, batch*784)
	const density = 0.19 * 784 / 400
	for b := range batch {
		for row := 4; row < 24; row++ {
			for col := 4; col < 24; col++ {
				if r.Float64() >= density {
					continue
				}
				v := 1 + r.IntN(255)
				if r.IntN(2) == 0 {
					v = 200 + r.IntN(56)
				}
				x[b*784+row*28+col] = uint8(v)
			}
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
	kindInt8      benchKind = iota // default layout
	kindInt8Trans                  // transposed int8 layout, int32 accumulators
	kindInt8x2                     // two 32-bit lanes
	kindInt4
	kindInt4Trans // int4 unpacked to transposed int8
)

var allKinds = []benchKind{kindInt8, kindInt8Trans, kindInt8x2, kindInt4, kindInt4Trans}

func (k benchKind) String() string {
	return [...]string{"int8", "int8-transposed", "int8-2x32", "int4", "int4-transposed"}[k]
}

func benchWeights(b testing.TB, r *rand.Rand, kind benchKind, out, in int) *Weights {
	var (
		w   *Weights
		err error
	)
	switch kind {
	case kindInt8:
		w, err = NewWeights(randInt8(r, out*in, -127, 127), out, in)
	case kindInt8Trans:
		w, err = newWeights(randInt8(r, out*in, -127, 127), out, in, layout{})
	case kindInt8x2:
		w, err = newWeights(randInt8(r, out*in, -127, 127), out, in, lanes2x32)
	case kindInt4, kindInt4Trans:
		w, err = NewWeightsInt4(packInt4(randInt8(r, out*in, -7, 7)), out, in)
		if kind == kindInt4Trans {
			w.lay = layout{}
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	return w
}

func BenchmarkAccumulate(b *testing.B) {
	for _, l := range benchLayers {
		for _, kind := range allKinds {
			for _, ref := range []bool{false, true} {
				if ref && kind != kindInt8 && kind != kindInt4 {
					continue
				}
				name := fmt.Sprintf("%dx%d/%v", l.in, l.out, kind)
				if ref {
					name = fmt.Sprintf("%dx%d/%v-ref", l.in, l.out, kind)
				}
				b.Run(name, func(b *testing.B) {
					r := rand.New(rand.NewPCG(1, 2))
					w := benchWeights(b, r, kind, l.out, l.in)
					src := sparseInput(r, benchBatch*l.in, l.density)
					if l.in == 784 {
						src = mnistLike(r, benchBatch)
					}
					dst := make([]int32, benchBatch*l.out)
					zp := []int32{0}
					cpu0 := cpuTime()
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
					report(b, cpu0, benchBatch*b.N)
				})
			}
		}
	}
}

// BenchmarkMLP runs the integer forward pass of a 784-256-128-10 MLP at batch 1000: three
// Accumulate and two Requantize (with fused ReLU) calls, as the runtime does.
func BenchmarkMLP(b *testing.B) {
	for _, kind := range allKinds {
		for _, ref := range []bool{false, true} {
			if ref && kind != kindInt8 && kind != kindInt4 {
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
				x := mnistLike(r, benchBatch)
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
				cpu0 := cpuTime()
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
				report(b, cpu0, benchBatch*b.N)
			})
		}
	}
}

// BenchmarkRequantize requantizes the first hidden layer of the MLP, [1000, 256], with
// per-channel multipliers, a bias and a fused ReLU.
func BenchmarkRequantize(b *testing.B) {
	const out = 256
	r := rand.New(rand.NewPCG(5, 6))
	acc := make([]int32, benchBatch*out)
	for k := range acc {
		acc[k] = int32(r.IntN(1<<18) - 1<<17)
	}
	bias, mult, shift := make([]int32, out), make([]int32, out), make([]int, out)
	for o := range out {
		bias[o] = int32(r.IntN(1<<12) - 1<<11)
		mult[o] = int32(1<<30 + r.IntN(1<<30))
		shift[o] = -8 - r.IntN(3)
	}
	dst := make([]uint8, len(acc))
	b.SetBytes(int64(4 * len(acc)))
	for b.Loop() {
		if err := Requantize(dst, acc, benchBatch, out, bias, mult, shift, 0, 0, 255); err != nil {
			b.Fatal(err)
		}
	}
}
