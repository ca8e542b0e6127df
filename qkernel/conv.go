package qkernel

import (
	"fmt"

	"tinyq/arch"
	"tinyq/internal/patch"
)

// ConvScratch returns the scratch length Conv needs to lay out the patches of images
// images of window w at once (at least one image): images·OutPixels·PatchLen bytes.
func ConvScratch(w arch.Window, images int) int {
	return max(1, images) * w.OutPixels() * w.PatchLen()
}

// Conv accumulates a convolution over n NHWC uint8 images: for each image b, output pixel
// (oy, ox) and channel o,
//
//	dst[(b·OutH + oy)·OutW + ox, o] = sum over (ky, kx, c) of (x - zp) · W[o, (ky·Kernel + kx)·C + c]
//
// where x is src[b, oy·Stride-Pad+ky, ox·Stride-Pad+kx, c], or zp outside the image: the
// padding holds the input's zero point, the integer that represents 0.0, so padded taps
// add exactly 0, as the float convolution's zero padding does. src is [n, H, W, C] (win's
// geometry), the weights are [Out, KH, KW, C] (w.In must be win.PatchLen()), dst is
// [n·OutPixels, Out] int32, in int32 wrapping arithmetic like Accumulate.
//
// The patches of as many whole images as scratch holds (at least ConvScratch(win, 1)) are
// laid out with tinyq/internal/patch.Im2col (pad value zp), then accumulated with
// Accumulate, so Conv equals AccumulateRef on the patch matrix bit for bit, on every path.
// workers is Accumulate's. The result does not depend on the chunking or on workers. On the
// AVX-512 VNNI path, layers of at most 48 outputs skip the patch matrix: the images are
// padded into scratch and read in place (the same integer sums; convImplicit).
func (w *Weights) Conv(dst []int32, src []uint8, n int, win arch.Window, zp int32, scratch []uint8, workers int) error {
	if err := win.Check(); err != nil {
		return fmt.Errorf("qkernel: Conv: %w", err)
	}
	plen, pix := win.PatchLen(), win.OutPixels()
	if w.In != plen {
		return fmt.Errorf("qkernel: Conv: weights [%d, %d] for patches of %d", w.Out, w.In, plen)
	}
	if zp < 0 || zp > 255 {
		return fmt.Errorf("qkernel: Conv: zero point %d outside [0, 255]", zp)
	}
	if n < 0 || len(src) != n*win.InLen() || len(dst) != n*pix*w.Out {
		return fmt.Errorf("qkernel: Conv: len(src) = %d, len(dst) = %d for %d images of %d values, %d pixels of %d channels", len(src), len(dst), n, win.InLen(), pix, w.Out)
	}
	chunk := len(scratch) / (pix * plen)
	if chunk < 1 && n > 0 {
		return fmt.Errorf("qkernel: Conv: len(scratch) = %d, want at least %d (one image's patches)", len(scratch), pix*plen)
	}
	if w.convImplicit(dst, src, n, win, zp, scratch, workers) {
		return nil
	}
	for b := 0; b < n; b += chunk {
		k := min(chunk, n-b)
		cols := scratch[:k*pix*plen]
		patch.Im2col(cols, src[b*win.InLen():(b+k)*win.InLen()], k, win, uint8(zp))
		if err := w.Accumulate(dst[b*pix*w.Out:(b+k)*pix*w.Out], cols, k*pix, zeroPoints[zp:zp+1], workers); err != nil {
			return err
		}
	}
	return nil
}

// zeroPoints holds every uint8 zero point, so that Conv passes Accumulate a one-element
// slice without allocating one (read only).
var zeroPoints = func() (t [256]int32) {
	for i := range t {
		t[i] = int32(i)
	}
	return t
}()
