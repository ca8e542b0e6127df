package gemm

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/internal/patch"
)

// convWindows are the CNN's convolutions and shapes with strides, paddings and channel
// counts around the tiles' edges.
var convWindows = []arch.Window{
	{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2},
	{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2},
	{H: 9, W: 7, C: 3, Kernel: 3, Stride: 2, Pad: 1},
	{H: 5, W: 6, C: 17, Kernel: 4, Stride: 3, Pad: 3},
	{H: 1, W: 1, C: 2, Kernel: 1, Stride: 1, Pad: 0},
	// Rows shorter than the direct kernels' tiles of 7 and 14 pixels, and rows of 17 and
	// 30 pixels, whose last tile overlaps the one before.
	{H: 6, W: 5, C: 3, Kernel: 3, Stride: 1, Pad: 1},
	{H: 4, W: 17, C: 2, Kernel: 3, Stride: 1, Pad: 1},
	{H: 3, W: 30, C: 1, Kernel: 5, Stride: 1, Pad: 2},
	{H: 8, W: 16, C: 5, Kernel: 2, Stride: 2, Pad: 1},
	{H: 9, W: 25, C: 3, Kernel: 7, Stride: 3, Pad: 3},
}

// directConv is the direct formula of a convolution in float64, over NHWC src and
// [KH, KW, C, Out] weights, zero padding, then ReLU.
func directConv(n int, w arch.Window, out int, src, weights, bias []float32, relu bool) []float64 {
	var dst []float64
	for b := 0; b < n; b++ {
		for oy := 0; oy < w.OutH(); oy++ {
			for ox := 0; ox < w.OutW(); ox++ {
				for o := 0; o < out; o++ {
					s := float64(bias[o])
					for ky := 0; ky < w.Kernel; ky++ {
						for kx := 0; kx < w.Kernel; kx++ {
							y, x := oy*w.Stride-w.Pad+ky, ox*w.Stride-w.Pad+kx
							if y < 0 || y >= w.H || x < 0 || x >= w.W {
								continue
							}
							for c := 0; c < w.C; c++ {
								s += float64(src[((b*w.H+y)*w.W+x)*w.C+c]) * float64(weights[((ky*w.Kernel+kx)*w.C+c)*out+o])
							}
						}
					}
					if relu {
						s = max(s, 0)
					}
					dst = append(dst, s)
				}
			}
		}
	}
	return dst
}

// TestConv checks on every path that Conv equals the direct convolution exactly on
// integer-valued data (every sum is exact in float32: |terms| <= 9, at most 400 of them),
// and that on random floats it equals Affine applied to the patches bit for bit (but for
// the sign of a zero), whatever the chunking (one image or all at once). Channel counts
// of 16, 32 and 48 take the AVX-512 path's direct convolution (checked), 1 and 33 the
// patches.
func TestConv(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(5))
		for _, w := range convWindows {
			for _, out := range []int{1, 16, 32, 33, 48} {
				n := 1 + rng.Intn(3)
				src := make([]float32, n*w.InLen())
				weights := make([]float32, w.PatchLen()*out)
				bias := make([]float32, out)
				for _, v := range [][]float32{src, weights, bias} {
					for i := range v {
						v[i] = float32(rng.Intn(7) - 3)
					}
				}
				relu := rng.Intn(2) == 0
				want := directConv(n, w, out, src, weights, bias, relu)
				got := make([]float32, n*w.OutPixels()*out)
				Conv(n, w, out, src, weights, bias, relu, got, make([]float32, ConvScratch(w, 1)))
				direct := convDirect(n, w, out, src, weights, bias, relu, make([]float32, n*w.OutPixels()*out), make([]float32, ConvScratch(w, 1)))
				if want := ActivePath() == AVX512 && out%16 == 0; direct != want {
					t.Fatalf("%+v out %d: direct convolution %v, want %v", w, out, direct, want)
				}
				for i := range got {
					if float64(got[i]) != want[i] {
						t.Fatalf("%+v out %d: dst[%d] = %v, want %v", w, out, i, got[i], want[i])
					}
				}
				// Random floats: Conv equals Affine on the patch matrix, chunked or not.
				for i := range src {
					src[i] = rng.Float32()*2 - 1
				}
				for i := range weights {
					weights[i] = rng.Float32()*2 - 1
				}
				cols := make([]float32, n*w.OutPixels()*w.PatchLen())
				patch.Im2col(cols, src, n, w, 0)
				Conv(n, w, out, src, weights, bias, relu, got, make([]float32, ConvScratch(w, n)))
				ref := make([]float32, len(got))
				Affine(n*w.OutPixels(), out, w.PatchLen(), cols, w.PatchLen(), weights, out, bias, relu, ref, out)
				one := make([]float32, len(got))
				Conv(n, w, out, src, weights, bias, relu, one, make([]float32, ConvScratch(w, 1)+7))
				if !valuesEqual(got, ref) || !valuesEqual(one, ref) {
					t.Fatalf("%+v out %d: Conv differs from Affine on the patches", w, out)
				}
			}
		}
	})
}

func TestConvBadSizes(t *testing.T) {
	w := convWindows[2]
	for name, f := range map[string]func(){
		"scratch": func() {
			Conv(1, w, 2, make([]float32, w.InLen()), make([]float32, w.PatchLen()*2), make([]float32, 2), false, make([]float32, w.OutPixels()*2), make([]float32, 3))
		},
		"bias": func() {
			Conv(1, w, 2, make([]float32, w.InLen()), make([]float32, w.PatchLen()*2), make([]float32, 1), false, make([]float32, w.OutPixels()*2), make([]float32, ConvScratch(w, 1)))
		},
		"window": func() { Conv(1, arch.Window{}, 2, nil, nil, nil, false, nil, nil) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(error).Error(), "gemm: Conv") {
					t.Errorf("%s: recovered %v, want a gemm: Conv panic", name, r)
				}
			}()
			f()
		}()
	}
}

func TestConvAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	w := convWindows[1]
	src, weights, bias := make([]float32, w.InLen()), make([]float32, w.PatchLen()*32), make([]float32, 32)
	dst, scratch := make([]float32, w.OutPixels()*32), make([]float32, ConvScratch(w, 1))
	if n := testing.AllocsPerRun(10, func() { Conv(1, w, 32, src, weights, bias, true, dst, scratch) }); n >= 1 {
		t.Errorf("%v allocations per call", n)
	}
}

// BenchmarkConv is the CNN's two convolutions at batch 1000 (patches of 8 images at a
// time) and batch 1, on the active path.
func BenchmarkConv(b *testing.B) {
	for _, c := range []struct {
		name string
		w    arch.Window
		out  int
	}{{"conv1", convWindows[0], 16}, {"conv2", convWindows[1], 32}} {
		for _, n := range []int{1000, 1} {
			w := c.w
			src, weights, bias := make([]float32, n*w.InLen()), make([]float32, w.PatchLen()*c.out), make([]float32, c.out)
			for i := range src {
				src[i] = float32(i%5) * 0.1
			}
			dst, scratch := make([]float32, n*w.OutPixels()*c.out), make([]float32, ConvScratch(w, min(n, 8)))
			b.Run(fmt.Sprintf("%s/batch%d", c.name, n), func(b *testing.B) {
				for b.Loop() {
					Conv(n, w, c.out, src, weights, bias, true, dst, scratch)
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}

// TestConvNaN checks on every path that a NaN input pixel reaches exactly the outputs
// whose window covers it, through ReLU, at every position of the image (edges, where the
// direct convolution skips the padding, included): no real pixel's term is skipped, and
// no padding value read by a tile reaches an output.
func TestConvNaN(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		for _, c := range []struct {
			w   arch.Window
			out int
		}{{convWindows[1], 32}, {convWindows[5], 32}, {convWindows[6], 48}, {convWindows[9], 32}, {convWindows[7], 16}} {
			w, out := c.w, c.out
			weights, bias := make([]float32, w.PatchLen()*out), make([]float32, out)
			for i := range weights {
				weights[i] = 0.5
			}
			src := make([]float32, w.InLen())
			dst := make([]float32, w.OutPixels()*out)
			scratch := make([]float32, ConvScratch(w, 1))
			for y := 0; y < w.H; y++ {
				for x := 0; x < w.W; x++ {
					clear(src)
					src[(y*w.W+x)*w.C+w.C-1] = float32(math.NaN())
					Conv(1, w, out, src, weights, bias, true, dst, scratch)
					for oy := 0; oy < w.OutH(); oy++ {
						for ox := 0; ox < w.OutW(); ox++ {
							dy, dx := y-(oy*w.Stride-w.Pad), x-(ox*w.Stride-w.Pad)
							covers := dy >= 0 && dy < w.Kernel && dx >= 0 && dx < w.Kernel
							for o := 0; o < out; o++ {
								if v := dst[(oy*w.OutW()+ox)*out+o]; math.IsNaN(float64(v)) != covers {
									t.Fatalf("%+v: NaN at (%d, %d): output (%d, %d) channel %d = %v", w, y, x, oy, ox, o, v)
								}
							}
						}
					}
				}
			}
		}
	})
}
