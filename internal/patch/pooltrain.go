package patch

import (
	"fmt"

	"tinyq/arch"
)

// MaxPoolArg is MaxPool for float32 values with the offsets of the maxima, the training
// forward: dst and arg (both [n, OutH, OutW, C]) receive exactly what
// MaxPool(dst, arg, src, n, w) writes (the same ties and NaN rules), but each window tap is
// compared with the running maxima 8 channels at a time without branches (AVX2) where the
// CPU and build allow: MaxPool's per-value branch mispredicts on about half of the values
// of real activations. Windows inside the image (Pad 0) over a multiple of 8 channels are
// pooled a row of output pixels per assembly call.
func MaxPoolArg(dst []float32, arg []int32, src []float32, n int, w arch.Window) {
	check("MaxPoolArg", n, w, "src", len(src), n*w.InLen(), "dst", len(dst), n*w.OutPixels()*w.C, "arg", len(arg), n*w.OutPixels()*w.C)
	if int64(w.InLen()) > 1<<31-1 {
		panic(fmt.Sprintf("patch: MaxPoolArg: image of %d values: offsets overflow int32", w.InLen()))
	}
	outH, outW, k, c := w.OutH(), w.OutW(), w.Kernel, w.C
	d := 0
	per := w.OutPixels() * c
	for b := 0; b < n; b++ {
		img := src[b*w.InLen() : (b+1)*w.InLen()]
		if maxPoolImage(dst[b*per:(b+1)*per], arg[b*per:(b+1)*per], img, w) {
			d += per
			continue
		}
		for oy := 0; oy < outH; oy++ {
			y0 := oy*w.Stride - w.Pad
			ky0, ky1 := max(0, -y0), min(k, w.H-y0)
			for ox := 0; ox < outW; ox++ {
				x0 := ox*w.Stride - w.Pad
				kx0, kx1 := max(0, -x0), min(k, w.W-x0)
				out, a := dst[d:d+c], arg[d:d+c]
				first := ((y0+ky0)*w.W + x0 + kx0) * c
				copy(out, img[first:first+c])
				for ch := range a {
					a[ch] = int32(first + ch)
				}
				for ky := ky0; ky < ky1; ky++ {
					for kx := kx0; kx < kx1; kx++ {
						if ky == ky0 && kx == kx0 {
							continue // the first tap is out already
						}
						s := ((y0+ky)*w.W + x0 + kx) * c
						maxArg(out, a, img[s:s+c], int32(s))
					}
				}
				d += c
			}
		}
	}
}

// maxArgGo replaces out[i] by in[i], and arg[i] by off+i, where in[i] is greater than out[i]
// or is a NaN where out[i] is not: one tap of MaxPool's window.
func maxArgGo(out []float32, arg []int32, in []float32, off int32) {
	in, arg = in[:len(out)], arg[:len(out)]
	for i, v := range in {
		if m := out[i]; v > m || (v != v && m == m) {
			out[i], arg[i] = v, off+int32(i)
		}
	}
}
