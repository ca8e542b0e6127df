package patch

import (
	"math"
	"math/rand/v2"
	"testing"

	"tinyq/arch"
)

// withoutPoolKernels runs f with the assembly pooling kernels off (the pure-Go loops).
func withoutPoolKernels(f func()) {
	f32, wide, u8 := poolF32, poolF32Wide, poolU8
	poolF32, poolF32Wide, poolU8 = nil, nil, nil
	defer func() { poolF32, poolF32Wide, poolU8 = f32, wide, u8 }()
	f()
}

// withoutWidePoolKernel runs f with the 16-channel float kernel off (the 8-channel one
// takes its windows).
func withoutWidePoolKernel(f func()) {
	wide := poolF32Wide
	poolF32Wide = nil
	defer func() { poolF32Wide = wide }()
	f()
}

// TestMaxPoolKernels checks MaxPool without offsets on windows whose channels fill the
// assembly kernels' vectors (multiples of 16, and of 8 for the 8-channel float kernel),
// with and without padding, against the naive pooling and against the pure-Go loops:
// float32 with NaNs, signed zeros and ties (through each float kernel this process has),
// uint8 over the whole byte range (an unsigned comparison).
func TestMaxPoolKernels(t *testing.T) {
	if poolF32 == nil && poolU8 == nil {
		t.Log("no assembly pooling kernels in this build or process: the pure-Go loops against the naive pooling")
	}
	r := rand.New(rand.NewPCG(7, 8))
	ws := []arch.Window{
		{H: 28, W: 28, C: 16, Kernel: 2, Stride: 2},
		{H: 14, W: 14, C: 32, Kernel: 2, Stride: 2},
		{H: 7, W: 9, C: 48, Kernel: 3, Stride: 2, Pad: 1},
		{H: 6, W: 6, C: 24, Kernel: 2, Stride: 2},
	}
	for len(ws) < 40 {
		k := 1 + r.IntN(4)
		w := arch.Window{H: 1 + r.IntN(9), W: 1 + r.IntN(9), C: 16 * (1 + r.IntN(3)), Kernel: k, Stride: 1 + r.IntN(3), Pad: r.IntN(k)}
		if w.Check() == nil {
			ws = append(ws, w)
		}
	}
	for _, w := range ws {
		n := 1 + r.IntN(3)
		src := make([]float32, n*w.InLen())
		srcU := make([]uint8, len(src))
		for i := range src {
			switch v := r.IntN(40); {
			case v == 0:
				src[i] = float32(math.NaN())
			case v == 1:
				src[i] = float32(math.Copysign(0, -1))
			case v == 2:
				src[i] = math.Float32frombits(0x7fc00000 | uint32(r.IntN(1000))) // NaN payloads: the first NaN wins
			default:
				src[i] = float32(v%5 - 2)
			}
			srcU[i] = uint8(r.IntN(256))
		}
		want, _ := naiveMaxPool(src, n, w)
		got := make([]float32, len(want))
		MaxPool(got, nil, src, n, w)
		goGot := make([]float32, len(want))
		withoutPoolKernels(func() { MaxPool(goGot, nil, src, n, w) })
		narrow := make([]float32, len(want))
		withoutWidePoolKernel(func() { MaxPool(narrow, nil, src, n, w) })
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) || math.Float32bits(goGot[i]) != math.Float32bits(want[i]) || math.Float32bits(narrow[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v n=%d: out %d = %v (%#x; pure Go %#x, 8-channel kernel %#x), want %#x", w, n, i, got[i], math.Float32bits(got[i]), math.Float32bits(goGot[i]), math.Float32bits(narrow[i]), math.Float32bits(want[i]))
			}
		}
		gotU := make([]uint8, len(want))
		MaxPool(gotU, nil, srcU, n, w)
		goU := make([]uint8, len(want))
		withoutPoolKernels(func() { MaxPool(goU, nil, srcU, n, w) })
		per := w.OutPixels() * w.C
		for i := range gotU {
			b, o := i/per, i%per
			pix, ch := o/w.C, o%w.C
			oy, ox := pix/w.OutW(), pix%w.OutW()
			m, seen := uint8(0), false
			for ky := 0; ky < w.Kernel; ky++ {
				for kx := 0; kx < w.Kernel; kx++ {
					if v, ok := at(srcU, w, b, oy*w.Stride-w.Pad+ky, ox*w.Stride-w.Pad+kx, ch, 0); ok && (!seen || v > m) {
						m, seen = v, true
					}
				}
			}
			if gotU[i] != m || goU[i] != m {
				t.Fatalf("%+v n=%d: uint8 out %d = %d (pure Go %d), want %d", w, n, i, gotU[i], goU[i], m)
			}
		}
	}
}

// BenchmarkIm2colFirst is the CNN's first convolution (28×28×1, 5×5, pad 2) at batch 64,
// float32 and uint8 (im2colPadded).
func BenchmarkIm2colFirst(b *testing.B) {
	w := arch.Window{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2}
	const n = 64
	src := make([]float32, n*w.InLen())
	srcU := make([]uint8, len(src))
	for i := range src {
		src[i], srcU[i] = float32(i%7), uint8(i%7)
	}
	dst, dstU := make([]float32, n*w.OutPixels()*w.PatchLen()), make([]uint8, n*w.OutPixels()*w.PatchLen())
	b.Run("float32", func(b *testing.B) {
		for b.Loop() {
			Im2col(dst, src, n, w, 0)
		}
	})
	b.Run("uint8", func(b *testing.B) {
		for b.Loop() {
			Im2col(dstU, srcU, n, w, 3)
		}
	})
}
