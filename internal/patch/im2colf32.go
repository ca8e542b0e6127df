package patch

import "tinyq/arch"

// Im2colF32 is Im2col for float32 images with zero padding, Im2col(dst, src, n, w, 0) bit
// for bit. For windows whose rows are at most 8 values (a 5×5 window over one channel: the
// CNN's first convolution) on images whose padded copy fits paddedMax values, each window
// row is moved as one 8-value array copy (two vector moves, no loop) from a padded copy of
// the image: the values past the row land on the next row's place in dst and are
// overwritten by the writes that follow (dst is written in increasing order; the last rows,
// where 8 values do not fit, value by value). Im2col's loop over a row's 5 values, with its
// bounds checks, cost 4.4 ns a row (6% of a CNN training step). Other windows go to Im2col.
func Im2colF32(dst, src []float32, n int, w arch.Window) {
	check("Im2colF32", n, w, "src", len(src), n*w.InLen(), "dst", len(dst), n*w.OutPixels()*w.PatchLen())
	pw, ph := w.W+2*w.Pad, w.H+2*w.Pad
	c, k := w.C, w.Kernel
	rowLen, prow := k*c, pw*c
	if ph*prow > paddedMax || rowLen > 8 {
		Im2col(dst, src, n, w, 0)
		return
	}
	var buf [paddedMax + 8]float32 // + 8: the last 8-value load may read past the padded image
	padded := buf[:ph*prow]
	clear(padded) // the border stays zero; the interior is overwritten image by image
	outH, outW := w.OutH(), w.OutW()
	fast := len(dst) - 8 // rows starting at or before this index are moved 8 values at once
	d := 0
	for b := 0; b < n; b++ {
		img := src[b*w.InLen() : (b+1)*w.InLen()]
		for y := 0; y < w.H; y++ {
			copy(padded[((y+w.Pad)*pw+w.Pad)*c:], img[y*w.W*c:(y+1)*w.W*c])
		}
		for oy := 0; oy < outH; oy++ {
			for ox := 0; ox < outW; ox++ {
				s := (oy*w.Stride*pw + ox*w.Stride) * c
				for ky := 0; ky < k; ky++ {
					if d <= fast {
						*(*[8]float32)(dst[d : d+8]) = *(*[8]float32)(buf[s : s+8])
					} else {
						copy(dst[d:d+rowLen], buf[s:s+rowLen])
					}
					d += rowLen
					s += prow
				}
			}
		}
	}
}
