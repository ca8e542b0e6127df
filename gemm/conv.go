package gemm

import (
	"fmt"

	"tinyq/arch"
	"tinyq/internal/patch"
)

// ConvScratch returns the scratch length Conv needs to work on images images of window w
// at once (at least one image): enough for their patches, images·OutPixels·PatchLen, and
// for their copies with padded columns (the AVX-512 path's direct convolution).
func ConvScratch(w arch.Window, images int) int {
	images = max(1, images)
	return max(images*w.OutPixels()*w.PatchLen(), images*paddedLen(w)+paddedSlack(w))
}

// maxTilePixels is the most output pixels a direct convolution tile computes at once (the
// AVX-512 kernel of 16 columns: 14 pixels).
const maxTilePixels = 14

// paddedLen returns the values of one image copied with its columns padded (padImage):
// H rows of W+2·Pad pixels of C values.
func paddedLen(w arch.Window) int { return w.H * (w.W + 2*w.Pad) * w.C }

// paddedSlack returns how many values past the last padded image a direct convolution may
// read: a tile over a row shorter than the tile reads maxTilePixels windows from the row's
// start, the last (maxTilePixels-1)·Stride pixels on, Kernel pixels long.
func paddedSlack(w arch.Window) int { return (maxTilePixels*w.Stride + w.Kernel) * w.C }

// Conv is a convolution layer over n NHWC images: dst = op(im2col(src)·weights + bias),
// op ReLU if relu is set. src is [n, H, W, C] (w's geometry), weights [PatchLen, out] (the
// training layout [KH, KW, C, Out], patch order ky, kx, c), bias [out], dst
// [n, OutH, OutW, out]. The padding is zero.
//
// Every output element is computed exactly as Affine computes a row of a fully connected
// layer whose input is the element's patch: its bias, then the patch's terms in order (ky,
// kx, c), then ReLU, but that terms whose value is zero may be skipped, which changes at
// most the sign of a zero (see the package documentation). On the AVX-512 path, for out a
// multiple of 16, Conv is a direct convolution: a few images at a time (up to 64 KB, at
// least one) are copied into scratch with their columns zero-padded, and tiles of output
// pixels of one row (7 pixels × 32 channels, or 14 × 16) are computed from the copy in
// place, with no patch matrix, skipping the window rows in the vertical padding (and, for
// 32 channels, each pixel's window columns in the horizontal padding). Otherwise the
// patches of as many whole images as scratch holds (at least ConvScratch(w, 1)) are laid
// out with tinyq/internal/patch.Im2col, then multiplied with one Affine call per chunk. Conv runs on the calling goroutine's share of
// the kernels' parallelism (large products are split by output rows, or by Affine) and
// allocates nothing. It panics on bad sizes, like Affine.
func Conv(n int, w arch.Window, out int, src, weights, bias []float32, relu bool, dst, scratch []float32) {
	if err := w.Check(); err != nil {
		panic(fmt.Errorf("gemm: Conv: %w", err))
	}
	plen, pix := w.PatchLen(), w.OutPixels()
	if n < 0 || out < 1 || len(src) != n*w.InLen() || len(weights) != plen*out || len(bias) != out || len(dst) != n*pix*out {
		panic(fmt.Errorf("gemm: Conv: %d images, %d outputs: len(src)=%d len(weights)=%d len(bias)=%d len(dst)=%d for window %+v",
			n, out, len(src), len(weights), len(bias), len(dst), w))
	}
	if n > 0 && len(scratch) < ConvScratch(w, 1) {
		panic(fmt.Errorf("gemm: Conv: len(scratch)=%d, want at least %d (one image's patches)", len(scratch), ConvScratch(w, 1)))
	}
	if convDirect(n, w, out, src, weights, bias, relu, dst, scratch) {
		return
	}
	chunk := len(scratch) / (pix * plen)
	for b := 0; b < n; b += chunk {
		k := min(chunk, n-b)
		cols := scratch[:k*pix*plen]
		patch.Im2col(cols, src[b*w.InLen():(b+k)*w.InLen()], k, w, 0)
		rows := k * pix
		Affine(rows, out, plen, cols, plen, weights, out, bias, relu, dst[b*pix*out:(b*pix+rows)*out], out) // [rows, out]
	}
}
