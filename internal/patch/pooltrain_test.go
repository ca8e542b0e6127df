package patch

import (
	"math"
	"math/rand/v2"
	"testing"

	"tinyq/arch"
)

// TestMaxPoolArg checks MaxPoolArg against the naive definition, bit for bit with the same
// offsets, with the AVX2 loop on and off, on windows whose channel counts exercise full
// blocks of 8 and the remainders, with ties, NaNs and signed zeros.
func TestMaxPoolArg(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ws := append(randomWindows(r, 40),
		arch.Window{H: 28, W: 28, C: 16, Kernel: 2, Stride: 2},
		arch.Window{H: 14, W: 14, C: 32, Kernel: 2, Stride: 2},
		arch.Window{H: 7, W: 6, C: 19, Kernel: 3, Stride: 2, Pad: 1},
		arch.Window{H: 5, W: 5, C: 8, Kernel: 3, Stride: 1, Pad: 2},
		arch.Window{H: 4, W: 9, C: 27, Kernel: 2, Stride: 1},
		arch.Window{H: 7, W: 9, C: 24, Kernel: 3, Stride: 1}, // rows in assembly: overlapping windows
		arch.Window{H: 7, W: 6, C: 8, Kernel: 3, Stride: 2},  // and windows leaving a border
	)
	for _, asm := range []bool{false, true} {
		old := vecAsmEnabled(asm)
		for _, w := range ws {
			n := 1 + r.IntN(3)
			src := make([]float32, n*w.InLen())
			for i := range src {
				switch v := r.IntN(40); {
				case v == 0:
					src[i] = float32(math.NaN())
				case v == 1:
					src[i] = float32(math.Copysign(0, -1))
				case v == 2:
					src[i] = float32(math.Inf(-1))
				default:
					src[i] = float32(v%5 - 2)
				}
			}
			want, wantArg := naiveMaxPool(src, n, w)
			got, arg := make([]float32, len(want)), make([]int32, len(want))
			for i := range got {
				got[i], arg[i] = 7, -9 // stale values: every element must be written
			}
			MaxPoolArg(got, arg, src, n, w)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) || arg[i] != wantArg[i] {
					t.Fatalf("asm %v, %+v n=%d: out %d = %v (arg %d), want %v (arg %d)", asm, w, n, i, got[i], arg[i], want[i], wantArg[i])
				}
			}
		}
		vecAsmEnabled(old)
	}
}

func TestMaxPoolArgBadSizesPanic(t *testing.T) {
	w := arch.Window{H: 4, W: 4, C: 2, Kernel: 2, Stride: 2}
	for name, f := range map[string]func(){
		"arg": func() { MaxPoolArg(make([]float32, 8), make([]int32, 7), make([]float32, 32), 1, w) },
		"dst": func() { MaxPoolArg(make([]float32, 7), make([]int32, 8), make([]float32, 32), 1, w) },
		"src": func() { MaxPoolArg(make([]float32, 8), make([]int32, 8), make([]float32, 31), 1, w) },
	} {
		func() {
			defer func() {
				if r, ok := recover().(string); !ok || r[:6] != "patch:" {
					t.Errorf("%s: recovered %v, want a panic starting with patch:", name, r)
				}
			}()
			f()
		}()
	}
}

// BenchmarkMaxPoolArg pools the CNN's first convolution output at batch 64 (64x28x28x16,
// 2x2) with offsets: MaxPoolArg against MaxPool.
func BenchmarkMaxPoolArg(b *testing.B) {
	w := arch.Window{H: 28, W: 28, C: 16, Kernel: 2, Stride: 2}
	const n = 64
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, n*w.InLen())
	for i := range src {
		src[i] = float32(r.NormFloat64())
	}
	dst, arg := make([]float32, n*w.OutPixels()*w.C), make([]int32, n*w.OutPixels()*w.C)
	b.Run("MaxPoolArg", func(b *testing.B) {
		for b.Loop() {
			MaxPoolArg(dst, arg, src, n, w)
		}
	})
	b.Run("MaxPool", func(b *testing.B) {
		for b.Loop() {
			MaxPool(dst, arg, src, n, w)
		}
	})
}

// TestCol2imVec checks Col2im with its AVX2 additions and without against the direct scatter
// (the rows of cols in order, each in (ky, kx, c) order) bit for bit, on real values (so that
// another order of the additions would round differently) and windows whose runs (kernel
// columns · channels) have full blocks of 8 and remainders.
func TestCol2imVec(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	ws := append(randomWindows(r, 40),
		arch.Window{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2},
		arch.Window{H: 9, W: 7, C: 3, Kernel: 3, Stride: 2, Pad: 1},
		arch.Window{H: 6, W: 6, C: 11, Kernel: 4, Stride: 1, Pad: 3},
	)
	for _, asm := range []bool{false, true} {
		for _, w := range ws {
			n := 1 + r.IntN(3)
			cols := make([]float32, n*w.OutPixels()*w.PatchLen())
			for i := range cols {
				cols[i] = float32(r.NormFloat64())
			}
			want, got := make([]float32, n*w.InLen()), make([]float32, n*w.InLen())
			for i := range want {
				want[i] = float32(r.NormFloat64())
				got[i] = want[i]
			}
			col2imNaive(want, cols, n, w)
			old := vecAsmEnabled(asm)
			Col2im(got, cols, n, w)
			vecAsmEnabled(old)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("asm %v, %+v n=%d: dst[%d] = %v, want %v", asm, w, n, i, got[i], want[i])
				}
			}
		}
	}
}

// TestMaxPoolGradInto checks MaxPoolGradInto against MaxPoolGrad bit for bit, with the AVX2
// loop on and off, on windows that tile their images over multiples of 8 channels (the
// fast path) and others, with gradients holding zeros of both signs and a dx of stale
// values.
func TestMaxPoolGradInto(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	ws := append(randomWindows(r, 30),
		arch.Window{H: 28, W: 28, C: 16, Kernel: 2, Stride: 2},
		arch.Window{H: 14, W: 14, C: 32, Kernel: 2, Stride: 2},
		arch.Window{H: 6, W: 9, C: 24, Kernel: 3, Stride: 3},
		arch.Window{H: 4, W: 4, C: 8, Kernel: 1, Stride: 1},
		arch.Window{H: 6, W: 6, C: 11, Kernel: 2, Stride: 2}, // channels not a multiple of 8
		arch.Window{H: 5, W: 4, C: 8, Kernel: 2, Stride: 2},  // H not a multiple of the kernel
	)
	for _, asm := range []bool{false, true} {
		old := vecAsmEnabled(asm)
		for _, w := range ws {
			n := 1 + r.IntN(3)
			src := make([]float32, n*w.InLen())
			for i := range src {
				src[i] = float32(r.IntN(7) - 3)
			}
			per := w.OutPixels() * w.C
			y, arg := make([]float32, n*per), make([]int32, n*per)
			MaxPool(y, arg, src, n, w)
			dy := make([]float32, n*per)
			for i := range dy {
				if v := r.IntN(10); v == 0 {
					dy[i] = float32(math.Copysign(0, -1))
				} else {
					dy[i] = float32(v - 5)
				}
			}
			want, got := make([]float32, len(src)), make([]float32, len(src))
			for i := range got {
				got[i] = 9
			}
			MaxPoolGrad(want, dy, arg, n, w)
			MaxPoolGradInto(got, dy, arg, n, w)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("asm %v, %+v n=%d: dx[%d] = %v, want %v", asm, w, n, i, got[i], want[i])
				}
			}
		}
		vecAsmEnabled(old)
	}
}

// BenchmarkMaxPoolGradInto routes the gradient of the CNN's first pooling at batch 64
// (64x28x28x16, 2x2): MaxPoolGradInto against clear and MaxPoolGrad.
func BenchmarkMaxPoolGradInto(b *testing.B) {
	w := arch.Window{H: 28, W: 28, C: 16, Kernel: 2, Stride: 2}
	const n = 64
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, n*w.InLen())
	for i := range src {
		src[i] = float32(r.NormFloat64())
	}
	y, arg := make([]float32, n*w.OutPixels()*w.C), make([]int32, n*w.OutPixels()*w.C)
	MaxPool(y, arg, src, n, w)
	dx := make([]float32, len(src))
	b.Run("MaxPoolGradInto", func(b *testing.B) {
		for b.Loop() {
			MaxPoolGradInto(dx, y, arg, n, w)
		}
	})
	b.Run("MaxPoolGrad", func(b *testing.B) {
		for b.Loop() {
			clear(dx)
			MaxPoolGrad(dx, y, arg, n, w)
		}
	})
}

// col2imNaive is Col2im element by element: dst += the scatter of cols, the rows of cols in
// order, each in (ky, kx, c) order, taps in the padding dropped.
func col2imNaive(dst, cols []float32, n int, w arch.Window) {
	i := 0
	for b := range n {
		for oy := range w.OutH() {
			for ox := range w.OutW() {
				for ky := range w.Kernel {
					for kx := range w.Kernel {
						y, x := oy*w.Stride-w.Pad+ky, ox*w.Stride-w.Pad+kx
						for c := range w.C {
							if y >= 0 && y < w.H && x >= 0 && x < w.W {
								dst[b*w.InLen()+(y*w.W+x)*w.C+c] += cols[i]
							}
							i++
						}
					}
				}
			}
		}
	}
}

// BenchmarkCol2im is the input gradient's scatter of the CNN's second convolution (14×14×16,
// 5×5, pad 2) for 16 images.
func BenchmarkCol2im(b *testing.B) {
	w := arch.Window{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2}
	n := 16
	cols := make([]float32, n*w.OutPixels()*w.PatchLen())
	for i := range cols {
		cols[i] = float32(i%31) - 15
	}
	dst := make([]float32, n*w.InLen())
	for b.Loop() {
		Col2im(dst, cols, n, w)
	}
}
