package patch

import "tinyq/arch"

// Col2imVec is Col2im with each window row's run of values added 8 at a time (AVX2) where
// the CPU and build allow: the same sums in the same order, so the same result bit for bit.
// Col2im's one scalar addition per value was 12% of a CNN training step.
func Col2imVec(dst, cols []float32, n int, w arch.Window) {
	check("Col2imVec", n, w, "dst", len(dst), n*w.InLen(), "cols", len(cols), n*w.OutPixels()*w.PatchLen())
	outH, outW, k, c := w.OutH(), w.OutW(), w.Kernel, w.C
	plen, rowLen := w.PatchLen(), k*c
	d := 0
	for b := 0; b < n; b++ {
		img := dst[b*w.InLen() : (b+1)*w.InLen()]
		for oy := 0; oy < outH; oy++ {
			y0 := oy*w.Stride - w.Pad
			for ox := 0; ox < outW; ox++ {
				x0 := ox*w.Stride - w.Pad
				kx0, kx1 := max(0, -x0), min(k, w.W-x0)
				row := cols[d : d+plen]
				for ky := 0; ky < k; ky++ {
					y := y0 + ky
					if y < 0 || y >= w.H || kx0 >= kx1 {
						continue
					}
					r := row[ky*rowLen+kx0*c : ky*rowLen+kx1*c]
					s := (y*w.W + x0 + kx0) * c
					addTo(img[s:s+len(r)], r)
				}
				d += plen
			}
		}
	}
}

// addGo adds src to dst elementwise (len(src) values).
func addGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}
