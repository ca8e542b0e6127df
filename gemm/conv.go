package gemm

import (
	"fmt"

	"tinyq/arch"
	"tinyq/internal/patch"
)

// ConvScratch returns the scratch length Conv needs to lay out the patches of images
// images of window w at once (at least one image): images·OutPixels·PatchLen.
func ConvScratch(w arch.Window, images int) int {
	return max(1, images) * w.OutPixels() * w.PatchLen()
}

// Conv is a convolution layer over n NHWC images: dst = op(im2col(src)·weights + bias),
// op ReLU if relu is set. src is [n, H, W, C] (w's geometry), weights [PatchLen, out] (the
// training layout [KH, KW, C, Out], patch order ky, kx, c), bias [out], dst
// [n, OutH, OutW, out]. The padding is zero.
//
// The patches of as many whole images as scratch holds (at least ConvScratch(w, 1)) are
// laid out with tinyq/internal/patch.Im2col, then multiplied with one Affine call per
// chunk. Every output element is therefore computed exactly as Affine computes a row of a
// fully connected layer whose input is the element's patch: its bias, then the patch's
// terms in order (ky, kx, c), then ReLU; the chunking changes at most the sign of a zero
// (see the package documentation). Conv runs on the calling goroutine's share of the
// kernels' parallelism (Affine splits large products) and allocates nothing. It panics on
// bad sizes, like Affine.
func Conv(n int, w arch.Window, out int, src, weights, bias []float32, relu bool, dst, scratch []float32) {
	if err := w.Check(); err != nil {
		panic(fmt.Errorf("gemm: Conv: %w", err))
	}
	plen, pix := w.PatchLen(), w.OutPixels()
	if n < 0 || out < 1 || len(src) != n*w.InLen() || len(weights) != plen*out || len(bias) != out || len(dst) != n*pix*out {
		panic(fmt.Errorf("gemm: Conv: %d images, %d outputs: len(src)=%d len(weights)=%d len(bias)=%d len(dst)=%d for window %+v",
			n, out, len(src), len(weights), len(bias), len(dst), w))
	}
	chunk := len(scratch) / (pix * plen)
	if chunk < 1 && n > 0 {
		panic(fmt.Errorf("gemm: Conv: len(scratch)=%d, want at least %d (one image's patches)", len(scratch), pix*plen))
	}
	for b := 0; b < n; b += chunk {
		k := min(chunk, n-b)
		cols := scratch[:k*pix*plen]
		patch.Im2col(cols, src[b*w.InLen():(b+k)*w.InLen()], k, w, 0)
		rows := k * pix
		Affine(rows, out, plen, cols, plen, weights, out, bias, relu, dst[b*pix*out:(b*pix+rows)*out], out) // [rows, out]
	}
}
