package qkernel

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"tinyq/arch"
)

// naivePool is the max pooling of [n, H, W, C] values over the taps inside the image.
func naivePool[T int32 | uint8](src []T, n int, w arch.Window) []T {
	var dst []T
	for b := 0; b < n; b++ {
		for oy := 0; oy < w.OutH(); oy++ {
			for ox := 0; ox < w.OutW(); ox++ {
				for c := 0; c < w.C; c++ {
					first := true
					var m T
					for ky := 0; ky < w.Kernel; ky++ {
						for kx := 0; kx < w.Kernel; kx++ {
							y, x := oy*w.Stride-w.Pad+ky, ox*w.Stride-w.Pad+kx
							if y < 0 || y >= w.H || x < 0 || x >= w.W {
								continue
							}
							if v := src[((b*w.H+y)*w.W+x)*w.C+c]; first || v > m {
								m, first = v, false
							}
						}
					}
					dst = append(dst, m)
				}
			}
		}
	}
	return dst
}

// TestMaxPoolAcc: on every path, MaxPoolAcc equals the direct max pooling (the CNN's 2x2
// poolings, random windows with padding and strides, channels in and out of multiples of
// 16, accumulators across the whole int32 range), and requantizing the pooled accumulators
// equals pooling the requantized values (Requantize is non-decreasing), for random
// multipliers, shifts, biases, zero points and clamps.
func TestMaxPoolAcc(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	wins := []arch.Window{
		{H: 28, W: 28, C: 16, Kernel: 2, Stride: 2},
		{H: 14, W: 14, C: 32, Kernel: 2, Stride: 2},
		{H: 5, W: 7, C: 17, Kernel: 3, Stride: 2, Pad: 1},
		{H: 1, W: 1, C: 1, Kernel: 1, Stride: 1},
	}
	for len(wins) < 24 {
		k := 1 + rng.IntN(4)
		w := arch.Window{H: 1 + rng.IntN(9), W: 1 + rng.IntN(9), C: []int{1, 3, 16, 20, 32, 48}[rng.IntN(6)], Kernel: k, Stride: 1 + rng.IntN(3), Pad: rng.IntN(k)}
		if w.Check() == nil {
			wins = append(wins, w)
		}
	}
	paths := append(Supported(), Generic)
	for _, p := range paths {
		withPath(t, p, func() {
			for _, win := range wins {
				n := 1 + rng.IntN(3)
				src := make([]int32, n*win.InLen())
				for i := range src {
					switch rng.IntN(8) {
					case 0:
						src[i] = math.MinInt32
					case 1:
						src[i] = math.MaxInt32
					default:
						src[i] = rng.Int32N(1<<20) - 1<<19
					}
				}
				want := naivePool(src, n, win)
				got := make([]int32, len(want))
				if err := MaxPoolAcc(got, src, n, win); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%v %+v n %d: MaxPoolAcc differs from the direct pooling", p, win, n)
				}
				// Requantize, then pool, against pool, then requantize.
				out, pix := win.C, win.H*win.W
				bias, mult, shift := make([]int32, out), make([]int32, out), make([]int, out)
				for o := range out {
					bias[o] = rng.Int32N(1<<16) - 1<<15
					mult[o] = 1<<30 + rng.Int32N(1<<30)
					shift[o] = rng.IntN(20) - 12
				}
				zp := rng.Int32N(256)
				qmin, qmax := []int32{0, zp}[rng.IntN(2)], int32(255)
				q := make([]uint8, n*pix*out)
				if err := Requantize(q, src, n*pix, out, bias, mult, shift, zp, qmin, qmax); err != nil {
					t.Fatal(err)
				}
				wantQ := naivePool(q, n, win)
				gotQ := make([]uint8, len(wantQ))
				if err := Requantize(gotQ, got, len(got)/out, out, bias, mult, shift, zp, qmin, qmax); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(gotQ, wantQ) {
					t.Fatalf("%v %+v: requantizing the pooled accumulators differs from pooling the requantized values", p, win)
				}
			}
		})
	}
}

func TestMaxPoolAccErrors(t *testing.T) {
	win := arch.Window{H: 4, W: 4, C: 2, Kernel: 2, Stride: 2}
	src, dst := make([]int32, win.InLen()), make([]int32, 4*2)
	for name, err := range map[string]error{
		"window": MaxPoolAcc(dst, src, 1, arch.Window{}),
		"src":    MaxPoolAcc(dst, src[1:], 1, win),
		"dst":    MaxPoolAcc(dst[1:], src, 1, win),
		"n":      MaxPoolAcc(dst, src, -1, win),
	} {
		if err == nil || err.Error()[:19] != "qkernel: MaxPoolAcc" {
			t.Errorf("%s: error %v, want a qkernel: MaxPoolAcc error", name, err)
		}
	}
}
