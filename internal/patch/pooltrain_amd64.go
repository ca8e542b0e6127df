//go:build amd64 && gc && !purego

package patch

import (
	"tinyq/arch"
	"tinyq/internal/kernel"
)

// vecAsm is whether maxArg and addTo run the AVX2 loops (pooltrain_amd64.s): when the float path
// chosen by tinyq/internal/kernel (TINYQ_KERNEL) is not generic, so AVX2 is there.
var vecAsm = floatAsm()

func floatAsm() bool {
	c, _ := kernel.Selected()
	return c.Float == "avx2" || c.Float == "avx512"
}

// maxArg is maxArgGo, 8 values at a time with AVX2 where enabled.
func maxArg(out []float32, arg []int32, in []float32, off int32) {
	n := 0
	if vecAsm {
		n = len(out) &^ 7
	}
	if n > 0 {
		_, _ = arg[n-1], in[n-1]
		maxArgAVX2(&out[0], &arg[0], &in[0], off, n)
	}
	maxArgGo(out[n:], arg[n:], in[n:], off+int32(n))
}

// maxArgAVX2 is maxArgGo on n (a multiple of 8) values.
//
//go:noescape
func maxArgAVX2(out *float32, arg *int32, in *float32, off int32, n int)

// vecAsmEnabled sets whether the AVX2 loops run (if the CPU has AVX2) and returns the
// previous setting; for tests.
func vecAsmEnabled(on bool) bool {
	old := vecAsm
	vecAsm = on && kernel.Host().Has(kernel.Float, "avx2")
	return old
}

// addTo is addGo, 8 values at a time with AVX2 where enabled (vecAsm).
func addTo(dst, src []float32) {
	n := 0
	if vecAsm {
		n = len(src) &^ 7
	}
	if n > 0 {
		_ = dst[n-1]
		addAVX2(&dst[0], &src[0], n)
	}
	addGo(dst[n:], src[n:])
}

// addRuns is addRunsGo with one assembly call for all the runs where they are whole groups
// of 8 values (vecAsm): Col2im's window rows, a call per output pixel rather than per row.
func addRuns(dst, src []float32, runs, runLen, dstStride, srcStride int) {
	if !vecAsm || runLen%8 != 0 || runs <= 0 || runLen <= 0 {
		addRunsGo(dst, src, runs, runLen, dstStride, srcStride)
		return
	}
	_, _ = dst[(runs-1)*dstStride+runLen-1], src[(runs-1)*srcStride+runLen-1]
	addRunsAVX2(&dst[0], &src[0], runs, runLen, 4*dstStride, 4*srcStride)
}

// addRunsAVX2 is addRunsGo on runs of runLen (a multiple of 8) values, the strides in bytes.
//
//go:noescape
func addRunsAVX2(dst, src *float32, runs, runLen, dstStride, srcStride int)

// addAVX2 is addGo on n (a multiple of 8) values.
//
//go:noescape
func addAVX2(dst, src *float32, n int)

// maxPoolImage pools one image with maxRowsAVX2 if it applies (vecAsm, windows inside the
// image: Pad 0, channels a multiple of 8) and reports whether it did.
func maxPoolImage(dst []float32, arg []int32, img []float32, w arch.Window) bool {
	if !vecAsm || w.Pad != 0 || w.C%8 != 0 || len(dst) == 0 {
		return false
	}
	outH, outW, c := w.OutH(), w.OutW(), w.C
	// The last tap of the last window, inside the image by the window geometry.
	_, _ = img[(((outH-1)*w.Stride+w.Kernel-1)*w.W+(outW-1)*w.Stride+w.Kernel-1)*c+c-1], arg[len(dst)-1]
	for oy := 0; oy < outH; oy++ {
		d := oy * outW * c
		maxRowsAVX2(&dst[d], &arg[d], &img[0], oy*w.Stride*w.W*c, outW, w.Stride*c, w.Kernel, w.W*c, c)
	}
	return true
}

// maxRowsAVX2 pools count windows of one row of output pixels (in pooltrain_amd64.s).
//
//go:noescape
func maxRowsAVX2(out *float32, arg *int32, img *float32, first, count, stepX, k, rowStride, c int)

// routeImages writes the gradient of n images pooled by windows that tile them exactly with
// routeRowsAVX2 if it applies (vecAsm, channels a multiple of 8) and reports whether it
// did.
func routeImages(dx, dy []float32, arg []int32, n int, w arch.Window) bool {
	c := w.C
	if !vecAsm || c%8 != 0 || n == 0 {
		return false
	}
	in, per, outH, outW := w.InLen(), w.OutPixels()*c, w.OutH(), w.OutW()
	_, _, _ = dx[n*in-1], dy[n*per-1], arg[n*per-1] // the windows tile the images: all inside
	for b := 0; b < n; b++ {
		for oy := 0; oy < outH; oy++ {
			d := b*per + oy*outW*c
			routeRowsAVX2(&dx[b*in], &dy[d], &arg[d], oy*w.Stride*w.W*c, outW, w.Stride*c, w.Kernel, w.W*c, c)
		}
	}
	return true
}

// routeRowsAVX2 writes the gradient of one row of windows (in pooltrain_amd64.s).
//
//go:noescape
func routeRowsAVX2(img, dy *float32, arg *int32, first, count, stepX, k, rowStride, c int)
