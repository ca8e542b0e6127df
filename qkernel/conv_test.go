package qkernel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"tinyq/arch"
	"tinyq/quant"
)

// naiveConv is the direct integer convolution: the int32 sum over (ky, kx, c) of
// (x - zp)·w with w [Out, KH, KW, C], skipping taps outside the image (their x - zp is 0).
func naiveConv(w []int8, out int, src []uint8, n int, win arch.Window, zp int32) []int32 {
	var dst []int32
	for b := 0; b < n; b++ {
		for oy := 0; oy < win.OutH(); oy++ {
			for ox := 0; ox < win.OutW(); ox++ {
				for o := 0; o < out; o++ {
					var s int32
					for ky := 0; ky < win.Kernel; ky++ {
						for kx := 0; kx < win.Kernel; kx++ {
							y, x := oy*win.Stride-win.Pad+ky, ox*win.Stride-win.Pad+kx
							if y < 0 || y >= win.H || x < 0 || x >= win.W {
								continue
							}
							for c := 0; c < win.C; c++ {
								v := int32(src[((b*win.H+y)*win.W+x)*win.C+c])
								s += (v - zp) * int32(w[o*win.PatchLen()+(ky*win.Kernel+kx)*win.C+c])
							}
						}
					}
					dst = append(dst, s)
				}
			}
		}
	}
	return dst
}

// packedWeights returns random weights of the given width at the extremes and between,
// and the kernel built from their packed bytes.
func packedWeights(t testing.TB, rng *rand.Rand, bits, out, in int) ([]int8, *Weights) {
	qmax := int32(1)<<(bits-1) - 1
	w := make([]int8, out*in)
	for i := range w {
		switch rng.IntN(4) {
		case 0:
			w[i] = int8(qmax)
		case 1:
			w[i] = int8(-qmax)
		default:
			w[i] = int8(rng.Int32N(2*qmax+1) - qmax)
		}
	}
	pk, err := quant.PackingFor(bits)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, pk.Len(len(w)))
	if err := pk.Pack(data, w); err != nil {
		t.Fatal(err)
	}
	ws, err := NewWeightsPacked(pk, data, out, in)
	if err != nil {
		t.Fatal(err)
	}
	return w, ws
}

// TestConvPaths: on every path this CPU supports, Conv equals the direct integer
// convolution bit for bit, for int8, int4 and int2 weights, on the CNN's convolutions and
// random windows (strides, paddings, channels), zero points 0 to 255, sparse and dense
// images, chunks of one image or all, one or several workers (the AVX-512 VNNI path's
// implicit convolution, convImplicit, takes windows whose rows are whole groups of 4 on
// one worker).
func TestConvPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	wins := []arch.Window{
		{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2},
		{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2},
		// Window rows of whole 4-byte groups (the VNNI path's implicit convolution),
		// strided, and with partial six-pixel tiles.
		{H: 9, W: 7, C: 8, Kernel: 3, Stride: 2, Pad: 1},
		{H: 5, W: 6, C: 4, Kernel: 2, Stride: 1, Pad: 1},
	}
	for len(wins) < 16 {
		k := 1 + rng.IntN(5)
		w := arch.Window{H: 1 + rng.IntN(9), W: 1 + rng.IntN(9), C: 1 + rng.IntN(20), Kernel: k, Stride: 1 + rng.IntN(3), Pad: rng.IntN(k)}
		if w.Check() == nil {
			wins = append(wins, w)
		}
	}
	for _, p := range Supported() {
		withPath(t, p, func() {
			for _, bits := range []int{8, 4, 2} {
				for i, win := range wins {
					out := []int{1, 4, 16, 17, 32, 65}[rng.IntN(6)]
					n := 1 + rng.IntN(3)
					if i < 2 {
						out = 16 * (i + 1)
					}
					w, ws := packedWeights(t, rng, bits, out, win.PatchLen())
					src := make([]uint8, n*win.InLen())
					density := []int{2, 5, 10}[rng.IntN(3)] // of 10
					for k := range src {
						if rng.IntN(10) < density {
							src[k] = uint8(rng.IntN(256))
						}
					}
					zp := []int32{0, 1, 128, 255}[rng.IntN(4)]
					want := naiveConv(w, out, src, n, win, zp)
					for _, c := range []struct{ images, workers int }{{1, 1}, {n, 1}, {n, 2}, {2, 3}} {
						got := make([]int32, len(want))
						if err := ws.Conv(got, src, n, win, zp, make([]uint8, ConvScratch(win, c.images)), c.workers); err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, want) {
							k := 0
							for got[k] == want[k] {
								k++
							}
							t.Fatalf("%v int%d %+v out %d n %d zp %d chunk %d workers %d: element %d is %d, want %d",
								p, bits, win, out, n, zp, c.images, c.workers, k, got[k], want[k])
						}
					}
				}
			}
		})
	}
}

func TestConvErrors(t *testing.T) {
	win := arch.Window{H: 4, W: 4, C: 2, Kernel: 3, Stride: 1, Pad: 1}
	_, ws := packedWeights(t, rand.New(rand.NewPCG(1, 1)), 8, 3, win.PatchLen())
	src, dst, sc := make([]uint8, win.InLen()), make([]int32, 16*3), make([]uint8, ConvScratch(win, 1))
	for name, err := range map[string]error{
		"window":  ws.Conv(dst, src, 1, arch.Window{}, 0, sc, 1),
		"patch":   ws.Conv(dst, src, 1, arch.Window{H: 4, W: 4, C: 1, Kernel: 3, Stride: 1, Pad: 1}, 0, sc, 1),
		"zp":      ws.Conv(dst, src, 1, win, 256, sc, 1),
		"src":     ws.Conv(dst, src[1:], 1, win, 0, sc, 1),
		"dst":     ws.Conv(dst[1:], src, 1, win, 0, sc, 1),
		"scratch": ws.Conv(dst, src, 1, win, 0, sc[1:], 1),
	} {
		if err == nil || err.Error()[:14] != "qkernel: Conv:" {
			t.Errorf("%s: error %v, want a qkernel: Conv: error", name, err)
		}
	}
}

// FuzzConv checks Conv against the direct integer convolution on arbitrary windows,
// weights (int8 or int4), images and zero points.
func FuzzConv(f *testing.F) {
	f.Add([]byte{1, 2, 3, 250, 0, 0, 7, 128}, uint8(5), uint8(5), uint8(2), uint8(3), uint8(1), uint8(1), uint8(2), uint8(0), false)
	f.Add([]byte{0xFF, 0x80, 0x7F, 0x01, 0, 0xFF}, uint8(28), uint8(28), uint8(1), uint8(5), uint8(1), uint8(2), uint8(16), uint8(255), true)
	f.Add([]byte{0x88, 0x77, 0xFF, 0, 9}, uint8(3), uint8(7), uint8(17), uint8(4), uint8(3), uint8(3), uint8(33), uint8(7), false)
	f.Fuzz(func(t *testing.T, data []byte, h, wd, c, k, stride, pad, out uint8, zp uint8, int4 bool) {
		if len(data) == 0 {
			return
		}
		win := arch.Window{H: int(h%16) + 1, W: int(wd%16) + 1, C: int(c%24) + 1, Kernel: int(k%6) + 1, Stride: int(stride%4) + 1}
		win.Pad = int(pad) % win.Kernel
		if win.Check() != nil {
			return
		}
		o, n := int(out%40)+1, int(h/16)%3+1
		byteAt := func(i int) byte { return data[i%len(data)] }
		w := make([]int8, o*win.PatchLen())
		for i := range w {
			w[i] = int8(byteAt(i))
			if int4 {
				w[i] = int8(byteAt(i)%15) - 7
			}
		}
		bits := 8
		if int4 {
			bits = 4
		}
		pk, _ := quant.PackingFor(bits)
		data4 := make([]byte, pk.Len(len(w)))
		if err := pk.Pack(data4, w); err != nil {
			t.Fatal(err)
		}
		ws, err := NewWeightsPacked(pk, data4, o, win.PatchLen())
		if err != nil {
			t.Fatal(err)
		}
		src := make([]uint8, n*win.InLen())
		for i := range src {
			if byteAt(i+3)%3 != 0 {
				src[i] = byteAt(len(w) + i)
			}
		}
		want := naiveConv(w, o, src, n, win, int32(zp))
		got := make([]int32, len(want))
		if err := ws.Conv(got, src, n, win, int32(zp), make([]uint8, ConvScratch(win, 1)), 2); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Conv != direct convolution: %+v out %d n %d zp %d int4 %v", win, o, n, zp, int4)
		}
	})
}

// BenchmarkConv times the CNN's layers (the two convolutions, then the dense layers as
// Accumulate) with int8 weights at batch 1000 and 1, one worker per chunk of images as the
// runtime calls them (workers 1, scratch of 8 images), on the active path.
func BenchmarkConv(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name string
		win  arch.Window
		out  int
	}{{"conv1", arch.Window{H: 28, W: 28, C: 1, Kernel: 5, Stride: 1, Pad: 2}, 16}, {"conv2", arch.Window{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2}, 32}} {
		for _, n := range []int{1000, 1} {
			_, ws := packedWeights(b, rng, 8, c.out, c.win.PatchLen())
			src := make([]uint8, n*c.win.InLen())
			for i := range src {
				if rng.IntN(10) < 5 {
					src[i] = uint8(rng.IntN(256))
				}
			}
			dst, sc := make([]int32, n*c.win.OutPixels()*c.out), make([]uint8, ConvScratch(c.win, min(n, 8)))
			b.Run(fmt.Sprintf("%v/%s/batch%d", ActivePath(), c.name, n), func(b *testing.B) {
				for b.Loop() {
					if err := ws.Conv(dst, src, n, c.win, 0, sc, 1); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
