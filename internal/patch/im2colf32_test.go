package patch

import (
	"math"
	"math/rand/v2"
	"testing"

	"tinyq/arch"
)

// TestIm2colF32 checks Im2colF32 against Im2col bit for bit (zero padding), on the fast
// path's windows (rows of at most 8 values) and others, into a dst of stale values.
func TestIm2colF32(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, w := range randomWindows(r, 60) {
		n := 1 + r.IntN(3)
		src := make([]float32, n*w.InLen())
		for i := range src {
			src[i] = float32(r.NormFloat64())
			if i%7 == 0 {
				src[i] = float32(math.Copysign(0, -1))
			}
		}
		want, got := make([]float32, n*w.OutPixels()*w.PatchLen()), make([]float32, n*w.OutPixels()*w.PatchLen())
		for i := range got {
			got[i] = 7
		}
		Im2col(want, src, n, w, 0)
		Im2colF32(got, src, n, w)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v n=%d: dst[%d] = %v, want %v", w, n, i, got[i], want[i])
			}
		}
	}
}

// BenchmarkIm2colF32 lays out the patches of the CNN's first convolution for 3 images.
func BenchmarkIm2colF32(b *testing.B) {
	w := arch.Window{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2}
	const n = 3
	src, dst := make([]float32, n*w.InLen()), make([]float32, n*w.OutPixels()*w.PatchLen())
	b.Run("Im2colF32", func(b *testing.B) {
		for b.Loop() {
			Im2colF32(dst, src, n, w)
		}
	})
	b.Run("Im2col", func(b *testing.B) {
		for b.Loop() {
			Im2col(dst, src, n, w, 0)
		}
	})
}
