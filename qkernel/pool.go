package qkernel

import (
	"fmt"

	"tinyq/arch"
	"tinyq/internal/patch"
)

// MaxPoolAcc takes the maximum of int32 accumulators over each window of w: src is
// [n, H, W, C] (w's geometry), dst is [n, OutH, OutW, C]; taps in the padding are skipped
// (as tinyq/internal/patch.MaxPool does).
//
// Requantize is non-decreasing in each accumulator (x·mult with mult >= 0, then floors and
// a clamp, all in int64), so requantizing the pooled accumulators gives exactly the max
// pooling of the requantized values; a runtime that pools first requantizes a quarter of
// the values after a 2x2 pooling. On the AVX-512 VNNI path channels in multiples of 16 go
// through an assembly kernel (VPMAXSD), the same maxima.
func MaxPoolAcc(dst, src []int32, n int, w arch.Window) error {
	if err := w.Check(); err != nil {
		return fmt.Errorf("qkernel: MaxPoolAcc: %w", err)
	}
	if n < 0 || len(src) != n*w.InLen() || len(dst) != n*w.OutPixels()*w.C {
		return fmt.Errorf("qkernel: MaxPoolAcc: len(src) = %d, len(dst) = %d for %d images of %d values, %d pixels of %d channels", len(src), len(dst), n, w.InLen(), w.OutPixels(), w.C)
	}
	if n == 0 {
		return nil
	}
	c := w.C
	fast := poolAccFast(c)
	d := 0 // output values written
	patch.WindowRuns(n, w, func(first, kw, kh, pixels int) {
		if fast {
			poolAccCall(&dst[d], &src[first], c, kw, kh, w.W*c, w.Stride*c, pixels)
		} else {
			poolAccGo(dst[d:d+pixels*c], src[first:], c, kw, kh, w.W*c, w.Stride*c, pixels)
		}
		d += pixels * c
	})
	return nil
}

// poolAccGo writes, for each of pixels windows p, the maximum over kh×kw taps of each of c
// channels to out[p·c:], the taps of window p at in[p·step + ky·row + kx·c:].
func poolAccGo(out, in []int32, c, kw, kh, row, step, pixels int) {
	for p := 0; p < pixels; p++ {
		o := out[p*c : (p+1)*c]
		copy(o, in[p*step:])
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				t := in[p*step+ky*row+kx*c:]
				t = t[:len(o)]
				for i, v := range t {
					o[i] = max(o[i], v)
				}
			}
		}
	}
}
