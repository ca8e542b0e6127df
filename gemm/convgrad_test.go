package gemm

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"tinyq/arch"
)

// gradWindows are windows whose rows are whole vectors (Kernel·C a multiple of 16: one to
// ten vectors, so whole windows in one kernel and rows split in blocks), with strides,
// paddings and rows around the edges, and three whose rows are not (Weights reads part
// vectors, Input declines them).
var gradWindows = []arch.Window{
	{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2}, // the CNN's second convolution: 5 vectors
	{H: 9, W: 7, C: 16, Kernel: 3, Stride: 2, Pad: 1},
	{H: 5, W: 6, C: 32, Kernel: 4, Stride: 3, Pad: 3}, // 8 vectors
	{H: 4, W: 9, C: 32, Kernel: 5, Stride: 1, Pad: 2}, // 10: blocks of 8 and 2
	{H: 3, W: 3, C: 16, Kernel: 1, Stride: 1, Pad: 0},
	{H: 6, W: 5, C: 48, Kernel: 3, Stride: 2, Pad: 0}, // 9
	{H: 7, W: 7, C: 8, Kernel: 2, Stride: 1, Pad: 1},  // 1 vector
	{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2},
	{H: 5, W: 5, C: 3, Kernel: 3, Stride: 1, Pad: 1},
	{H: 6, W: 7, C: 5, Kernel: 4, Stride: 2, Pad: 1}, // rows of 20 values: a vector and a part
	{H: 6, W: 6, C: 8, Kernel: 3, Stride: 1, Pad: 1}, // AVX2: a whole window of 3x3 ymm
}

// sparseApplies reports whether ConvGrad's Weights and Input should run for window w on
// the active path (Input: for rows of whole vectors only: 16 values on AVX-512, 8 on AVX2).
func sparseApplies(w arch.Window) (weights, input bool) {
	width := map[Path]int{AVX512: 16, AVX2: 8, Generic: 1}[ActivePath()]
	weights = sparseKernels || ActivePath() == Generic
	return weights, weights && (w.Kernel*w.C)%width == 0
}

// naiveConvGrads computes in float64 the weight gradient transposed, dwT0 + Σ dy·patch
// ([out, PatchLen]), and the data gradient, col2im(dy·wt) ([n, InLen]), straight from
// their definitions (zero padding).
func naiveConvGrads(n int, w arch.Window, out int, src, wt, dy, dwT0 []float32) (dwT, dx []float64) {
	plen := w.PatchLen()
	dwT, dx = make([]float64, out*plen), make([]float64, n*w.InLen())
	for i, v := range dwT0 {
		dwT[i] = float64(v)
	}
	p := 0
	for b := range n {
		for oy := range w.OutH() {
			for ox := range w.OutW() {
				for o := range out {
					g := float64(dy[p*out+o])
					for ky := range w.Kernel {
						for kx := range w.Kernel {
							y, x := oy*w.Stride-w.Pad+ky, ox*w.Stride-w.Pad+kx
							if y < 0 || y >= w.H || x < 0 || x >= w.W {
								continue
							}
							for c := range w.C {
								t, i := (ky*w.Kernel+kx)*w.C+c, ((b*w.H+y)*w.W+x)*w.C+c
								dwT[o*plen+t] += g * float64(src[i])
								dx[i] += g * float64(wt[o*plen+t])
							}
						}
					}
				}
				p++
			}
		}
	}
	return dwT, dx
}

// gradOperands returns src, wt, dy and a starting dwT for n images: integer values in
// [-3, 3] (every sum of the tests is then exact in float32) if ints, else normal floats;
// dy has the given fraction of nonzero values.
func gradOperands(rng *rand.Rand, n int, w arch.Window, out int, density float64, ints bool) (src, wt, dy, dwT []float32) {
	val := func() float32 {
		if ints {
			return float32(rng.Intn(7) - 3)
		}
		return float32(rng.NormFloat64())
	}
	fill := func(k int, density float64) []float32 {
		s := make([]float32, k)
		for i := range s {
			if rng.Float64() < density {
				s[i] = val()
			}
		}
		return s
	}
	return fill(n*w.InLen(), 0.7), fill(out*w.PatchLen(), 1), fill(n*w.OutPixels()*out, density), fill(out*w.PatchLen(), 1)
}

// TestConvGradExact checks on every path that ConvGrad's Weights and Input either decline
// (only where they do not apply: other paths; for Input, windows whose rows are not whole
// vectors) and leave their outputs alone, or equal the gradients' definitions exactly on
// integer-valued data, for 1 and 3 images and out channels of 16, 32 and 5.
func TestConvGradExact(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(1))
		var s ConvGrad // reused across shapes, as a goroutine's is
		ran := 0
		for _, w := range gradWindows {
			for _, n := range []int{1, 3} {
				for _, out := range []int{16, 32, 5} {
					name := fmt.Sprintf("%+v/n%d/out%d", w, n, out)
					src, wt, dy, dwT := gradOperands(rng, n, w, out, 0.25, true)
					want, wantDx := naiveConvGrads(n, w, out, src, wt, dy, dwT)
					dx := make([]float32, n*w.InLen())
					for i := range dx {
						dx[i] = 99 // Input overwrites every value
					}
					before := append([]float32(nil), dwT...)
					okW, okX := s.Weights(n, w, out, src, dy, dwT), s.Input(n, w, out, wt, dy, dx)
					if wantW, wantX := sparseApplies(w); okW != wantW || okX != wantX {
						t.Fatalf("%s: Weights %v, Input %v; want %v, %v", name, okW, okX, wantW, wantX)
					}
					for i := range want {
						if okW && float64(dwT[i]) != want[i] || !okW && dwT[i] != before[i] {
							t.Fatalf("%s: Weights %v: dwT[%d] = %v, want %v (before %v)", name, okW, i, dwT[i], want[i], before[i])
						}
					}
					for i := range wantDx {
						if okX && float64(dx[i]) != wantDx[i] || !okX && dx[i] != 99 {
							t.Fatalf("%s: Input %v: dx[%d] = %v, want %v", name, okX, i, dx[i], wantDx[i])
						}
					}
					if okX {
						ran++
					}
				}
			}
		}
		if w, _ := sparseApplies(gradWindows[0]); w && ran == 0 {
			t.Fatal("no shape ran the sparse kernels")
		}
	})
}

// TestConvGradFloat checks ConvGrad on random floats: within recursive summation's bound
// of the float64 gradients (see reference), and, for rows of whole vectors (which
// accumulate into dwT directly), the weight gradient of 4 images equal bit for bit to four
// calls of one image each (the terms are added in the same order, image by image).
func TestConvGradFloat(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		if w, _ := sparseApplies(gradWindows[0]); !w {
			t.Skip("ConvGrad does not run on this path")
		}
		rng := rand.New(rand.NewSource(2))
		var s ConvGrad
		for _, w := range gradWindows {
			const n, out = 4, 32
			src, wt, dy, dwT := gradOperands(rng, n, w, out, 0.2, false)
			want, wantDx := naiveConvGrads(n, w, out, src, wt, dy, dwT)
			// The bound's sums of |terms|: the gradients of |src|, |wt|, |dy|.
			abs := func(v []float32) []float32 {
				r := make([]float32, len(v))
				for i, x := range v {
					r[i] = float32(math.Abs(float64(x)))
				}
				return r
			}
			bound, boundDx := naiveConvGrads(n, w, out, abs(src), abs(wt), abs(dy), abs(dwT))
			one := append([]float32(nil), dwT...)
			dx := make([]float32, n*w.InLen())
			_, input := sparseApplies(w)
			if !s.Weights(n, w, out, src, dy, dwT) || s.Input(n, w, out, wt, dy, dx) != input {
				t.Fatalf("%+v: Weights declined, or Input did not return %v", w, input)
			}
			if !input {
				wantDx = make([]float64, len(dx))
			}
			check := func(what string, got []float32, want, bound []float64) {
				for i := range want {
					// γ(k+1): k terms and the starting value; k < PatchLen·out·n.
					k := float64(n*w.OutPixels()*out + 1)
					if tol := k * 0x1p-24 / (1 - k*0x1p-24) * bound[i]; math.Abs(float64(got[i])-want[i]) > tol {
						t.Fatalf("%+v: %s[%d] = %v, want %v within %g", w, what, i, got[i], want[i], tol)
					}
				}
			}
			check("dwT", dwT, want, bound)
			check("dx", dx, wantDx, boundDx)
			if !input {
				continue
			}
			in, pix := w.InLen(), w.OutPixels()*out
			for b := range n {
				if !s.Weights(1, w, out, src[b*in:(b+1)*in], dy[b*pix:(b+1)*pix], one) {
					t.Fatalf("%+v: one image declined", w)
				}
			}
			if !bitsEqual(one, dwT) {
				t.Fatalf("%+v: dwT of 4 images one at a time differs from all at once", w)
			}
		}
	})
}

// TestConvGradDense checks that ConvGrad declines a dy more than maxSparseDensity nonzero,
// leaving dwT as it was, and runs on one just below it (its nonzero values at the end, past
// denseSample); and that after a decline it declines a dy whose first denseSample values
// are mostly nonzero without listing it, whatever the rest, but runs on a sparse one.
func TestConvGradDense(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		if w, _ := sparseApplies(gradWindows[0]); !w {
			t.Skip("ConvGrad does not run on this path")
		}
		w := gradWindows[0]
		const out = 16
		src, _, _, dwT := gradOperands(rand.New(rand.NewSource(3)), 1, w, out, 1, true)
		dy := make([]float32, w.OutPixels()*out)
		limit := int(maxSparseDensity * float64(len(dy)))
		fill := func(lo, hi int) {
			clear(dy)
			for i := lo; i < hi; i++ {
				dy[i] = 1
			}
		}
		var fresh ConvGrad
		fill(len(dy)-limit, len(dy))
		if !fresh.Weights(1, w, out, src, dy, dwT) {
			t.Fatal("Weights declined a dy at maxSparseDensity")
		}
		var s ConvGrad
		fill(0, limit+1)
		before := append([]float32(nil), dwT...)
		if s.Weights(1, w, out, src, dy, dwT) || !bitsEqual(before, dwT) {
			t.Fatal("Weights ran on a dy above maxSparseDensity")
		}
		if s.Input(1, w, out, dwT, dy, make([]float32, w.InLen())) {
			t.Fatal("Input ran on a dy above maxSparseDensity")
		}
		fill(0, denseSample)
		if s.Weights(1, w, out, src, dy, dwT) {
			t.Fatal("after a decline, Weights ran on a dy whose sample is dense")
		}
		clear(dy)
		for i := 0; i < len(dy); i += 4 {
			dy[i] = 1
		}
		if !s.Weights(1, w, out, src, dy, dwT) || !s.Input(1, w, out, dwT, dy, make([]float32, w.InLen())) {
			t.Fatal("after a decline, a dy 25% nonzero was declined")
		}
	})
}

// TestConvGradNaN checks that a NaN in dy reaches the gradients it multiplies: it is a
// nonzero value, so listed.
func TestConvGradNaN(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		if w, _ := sparseApplies(gradWindows[0]); !w {
			t.Skip("ConvGrad does not run on this path")
		}
		w := gradWindows[0]
		const out = 16
		var s ConvGrad
		src, wt, _, dwT := gradOperands(rand.New(rand.NewSource(4)), 1, w, out, 1, false)
		dy := make([]float32, w.OutPixels()*out)
		dy[100*out+3] = float32(math.NaN()) // pixel 100 (row 7, column 2), channel 3
		dx := make([]float32, w.InLen())
		if !s.Weights(1, w, out, src, dy, dwT) || !s.Input(1, w, out, wt, dy, dx) {
			t.Fatal("declined")
		}
		if v := dwT[3*w.PatchLen()]; !math.IsNaN(float64(v)) {
			t.Fatalf("dwT[3][0] = %v, want NaN", v)
		}
		if v := dx[(7*w.W+2)*w.C]; !math.IsNaN(float64(v)) {
			t.Fatalf("dx at (7, 2) = %v, want NaN", v)
		}
		if v := dwT[4*w.PatchLen()]; math.IsNaN(float64(v)) {
			t.Fatal("dwT[4][0] is NaN: channel 4 has no NaN")
		}
	})
}

// TestConvGradBadSizes checks that bad lengths panic with gemm's prefix.
func TestConvGradBadSizes(t *testing.T) {
	w := gradWindows[0]
	var s ConvGrad
	for _, f := range []func(){
		func() {
			s.Weights(1, w, 16, make([]float32, 5), make([]float32, w.OutPixels()*16), make([]float32, 16*w.PatchLen()))
		},
		func() {
			s.Input(1, w, 16, make([]float32, 16*w.PatchLen()), make([]float32, 7), make([]float32, w.InLen()))
		},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || fmt.Sprint(r)[:5] != "gemm:" {
					t.Fatalf("recovered %v, want a gemm: panic", r)
				}
			}()
			f()
		}()
	}
}

// BenchmarkConvGrad measures the sparse gradients of the CNN's convolutions on a
// training chunk of 1 image (dy 20% nonzero, as below a pooling).
func BenchmarkConvGrad(b *testing.B) {
	w := gradWindows[0]
	const out = 32
	src, wt, dy, dwT := gradOperands(rand.New(rand.NewSource(5)), 1, w, out, 0.2, false)
	dx := make([]float32, w.InLen())
	var s ConvGrad
	b.Run("weights", func(b *testing.B) {
		for b.Loop() {
			s.Weights(1, w, out, src, dy, dwT)
		}
	})
	b.Run("input", func(b *testing.B) {
		for b.Loop() {
			s.Input(1, w, out, wt, dy, dx)
		}
	})
	// The first convolution's weight gradient: rows of 5 values.
	w1 := arch.Window{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2}
	src1, _, dy1, dwT1 := gradOperands(rand.New(rand.NewSource(6)), 1, w1, 16, 0.2, false)
	b.Run("weights-first", func(b *testing.B) {
		for b.Loop() {
			s.Weights(1, w1, 16, src1, dy1, dwT1)
		}
	})
}
