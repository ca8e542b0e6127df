package gemm

import (
	"fmt"
	"math"

	"tinyq/arch"
)

// ConvGrad computes the two gradients of a convolution (Conv's arithmetic, weights
// [PatchLen, out]) from an output gradient dy that is mostly zeros, as it is below a max
// pooling: a 2×2 pooling passes each window's gradient to one of its four pixels, and
// ReLU's gradient clears more, so the CNN's dy is at most a quarter nonzero. The dense
// products, colsᵀ·dy and dy·wᵀ, multiply every zero; ConvGrad lists dy's nonzero values
// and adds only their terms, each a window row of Kernel·C contiguous values read in place
// from a zero-padded copy of the images (the weight gradient) or added in place to a
// zero-padded input gradient (the data gradient), with no patch matrix and no col2im.
//
// On the AVX-512 and AVX2 paths the terms run in assembly kernels (a whole 3- or 5-row
// window's accumulators in registers where they fit), on the generic path in Go
// (sparseRows). Its methods report false, doing nothing, where they do not apply: for
// Input on windows whose rows are not whole vectors (Kernel·C a multiple of 16 on AVX-512,
// 8 on AVX2), and when more than maxSparseDensity of dy is nonzero (the caller then runs
// the dense products). Weights takes windows whose rows are not whole vectors (the CNN's
// first convolution: rows of 5 values): it reads whole vectors from the padded copy and
// keeps the row's lanes. The zero value is ready to use; it keeps its scratch space (the
// padded images and the lists, about 3·n·OutPixels·out values for n images) between
// calls, and one ConvGrad serves one goroutine at a time.
//
// Arithmetic: each element of the result is its starting value (the weight gradient
// accumulates into dwT, directly for rows of whole vectors, else through a sum from zero
// that is then added; the data gradient starts at zero) plus its nonzero terms in a fixed
// order (below), each a fused multiply-add on the AVX-512 and AVX2 paths, a rounded
// product then a rounded sum on the generic path (as its Sgemm). Terms whose dy value is ±0 are skipped,
// which changes at most the sign of a zero result and hides a NaN or an infinity that
// would have been multiplied by zero, as Sgemm's sparse kernels do (see the package
// documentation). The order differs from the dense products', so the results differ from
// theirs in the last bits.
type ConvGrad struct {
	pad   []float32 // padded images (Weights) or padded input gradients (Input)
	g     []float32 // the entries' dy values (list)
	off   []int32   // the entries' byte offsets in the kernel's src (list; Weights: channels)
	spans []int32   // each group's entries, [lo, hi)
	doff  []int32   // each group's byte offset in the kernel's dst
	cnt   []int32   // each row's entries (list)
	bg    []float32 // Weights: the entries' values, in buckets by channel
	boff  []int32   // Weights: the entries' byte offsets, in buckets by channel
	fill  []int32   // Weights: each bucket's entries
	coff  []int32   // Weights: the channels; Input: the byte offsets of wt's rows
	acc   []float32 // Weights, rows not whole vectors: the sums, rows padded to vectors
	dense bool      // the last call declined a dy for its density
}

// denseSample is how many values of dy a ConvGrad checks first after it declined a dense
// dy (with BatchNorm between the convolution and its ReLU every call does): if more than
// maxSparseDensity of them are nonzero it declines without listing dy.
const denseSample = 512

// tooDense reports whether dy is to be declined for its density without listing it: the
// last call was declined, and so is a sample of dy's first values.
func (s *ConvGrad) tooDense(dy []float32) bool {
	if !s.dense {
		return false
	}
	sample := dy[:min(len(dy), denseSample)]
	nz := 0
	for _, v := range sample {
		nz += nonzero(v)
	}
	return float64(nz) > maxSparseDensity*float64(len(sample))
}

// declines reports whether a list of total nonzero values out of all is too dense, and
// records it for tooDense.
func (s *ConvGrad) declines(total, all int) bool {
	s.dense = float64(total) > maxSparseDensity*float64(all)
	return s.dense
}

// maxSparseDensity is the largest fraction of nonzero dy values for which ConvGrad runs: a
// listed term costs about what a dense one does (a window row of fused multiply-adds read
// from L1), plus the list; at half density the sparse gradients already save half the
// products. The CNN's dy is 10-15% nonzero (both convolutions, sampled over two epochs of
// cmd/mnist -arch cnn); with BatchNorm between the convolution and its ReLU it is dense
// and the dense products run.
const maxSparseDensity = 0.5

// sparseOK reports whether ConvGrad's kernels compute windows w with out channels: the
// AVX-512 or AVX2 path (assembly) or the generic one (sparseRows), window rows of whole
// vectors (sparseWidth) if whole is set, and byte offsets of n images (with a vector of slack) and list
// indices that fit the kernels' int32s.
func sparseOK(n int, w arch.Window, out int, whole bool) bool {
	width := sparseWidth()
	if width == 0 || n < 1 || out < 1 || (whole && (w.Kernel*w.C)%width != 0) {
		return false
	}
	limit := int64(math.MaxInt32/f32 - 16)
	rows := int64(w.Kernel) * int64(vectors(w.Kernel*w.C, width)*width)
	return int64(n)*int64(paddedFull(w)) <= limit && int64(out)*max(int64(w.PatchLen()), rows) <= limit &&
		int64(n)*int64(w.OutPixels())*int64(out) <= math.MaxInt32 // the lists' indices
}

// sparseWidth returns the values per vector of the active path's sparse kernels: 16 on
// AVX-512, 8 on AVX2, 1 on the generic path (sparseRows), 0 where there are none.
func sparseWidth() int {
	switch ActivePath() {
	case AVX512:
		if sparseKernels {
			return 16
		}
	case AVX2:
		if sparseKernels {
			return 8
		}
	case Generic:
		return 1
	}
	return 0
}

// vectors returns the vectors of width values that hold run values.
func vectors(run, width int) int { return (run + width - 1) / width }

// f32 is the bytes of a float32.
const f32 = 4

// nonzero returns 1 if v is not ±0 (NaN counts), else 0, without a branch (lists of
// nonzero values are built over values that are zero at random).
func nonzero(v float32) int {
	x := math.Float32bits(v) << 1 // drop the sign
	return int((x | -x) >> 31)
}

// paddedFull returns the values of one image padded on every side: (H+2·Pad)·(W+2·Pad)·C.
func paddedFull(w arch.Window) int { return (w.H + 2*w.Pad) * (w.W + 2*w.Pad) * w.C }

// Weights adds the weight gradient of n NHWC images src [n, H·W·C] (window w) with output
// gradient dy [n, OutPixels, out] to dwT, the gradient transposed [out, PatchLen]:
//
//	dwT[c][t] += Σ_p dy[p][c]·patch_p[t]   (patch_p: output pixel p's window, zero padded)
//
// for each channel c and window row ky, over the nonzero dy[p][c] in order of p (image,
// then output row, then column), added to dwT one by one (for rows that are not whole
// vectors: summed from zero, then the sum added). It reports false, leaving dwT as it was,
// where it does not apply (see ConvGrad). It panics on bad sizes, like Sgemm.
func (s *ConvGrad) Weights(n int, w arch.Window, out int, src, dy, dwT []float32) bool {
	plen, pix := w.PatchLen(), w.OutPixels()
	if len(src) != n*w.InLen() || len(dy) != n*pix*out || len(dwT) != out*plen {
		panic(fmt.Errorf("gemm: ConvGrad.Weights: %d images, %d outputs: len(src)=%d len(dy)=%d len(dwT)=%d for window %+v",
			n, out, len(src), len(dy), len(dwT), w))
	}
	if !sparseOK(n, w, out, false) || s.tooDense(dy) {
		return false
	}
	// Channel c's entries: the nonzero values of dy's column c, in order of pixel, with the
	// byte offsets of their pixels' windows in the padded images, at [c·rows, c·rows +
	// fill[c]) of bg and boff: dy's rows are listed (list: value, channel), then each entry
	// goes to its channel's bucket.
	rows := n * pix
	if !s.listRows(rows, out, dy, 1) {
		return false
	}
	s.bg, s.boff = grow(s.bg, out*rows), grow(s.boff, out*rows)
	s.fill = grow(s.fill, out)
	clear(s.fill)
	img, prow := paddedFull(w), (w.W+2*w.Pad)*w.C
	e, p := 0, 0
	for i := range n {
		for oy := range w.OutH() {
			base := i*img + oy*w.Stride*prow
			for ox := range w.OutW() {
				o := int32((base + ox*w.Stride*w.C) * f32)
				for end := e + int(s.cnt[p]); e < end; e++ {
					c := s.off[e]
					k := int(c)*rows + int(s.fill[c])
					s.bg[k], s.boff[k] = s.g[e], o
					s.fill[c]++
				}
				p++
			}
		}
	}
	s.pad = grow(s.pad, n*img+16) // 16: a row's last vector may read past the last image
	for i := range n {
		padFull(s.pad[i*img:(i+1)*img], src[i*w.InLen():(i+1)*w.InLen()], w)
	}
	clear(s.pad[n*img:])
	// The sums go to dwT, or for rows of part vectors to acc, [out, Kernel, whole vectors].
	run := w.Kernel * w.C
	width := sparseWidth()
	vrun := vectors(run, width) * width
	dst, rowLen := dwT, plen
	if vrun != run {
		s.acc = grow(s.acc, out*w.Kernel*vrun)
		clear(s.acc)
		dst, rowLen = s.acc, w.Kernel*vrun
	}
	s.spans, s.doff = grow(s.spans, 2*out), grow(s.doff, out)
	for c, k := range s.fill[:out] {
		s.spans[2*c], s.spans[2*c+1] = int32(c*rows), int32(c*rows)+k
		s.doff[c] = int32(c * rowLen * f32)
	}
	s.run(out, s.spans, s.bg, s.boff, s.pad, dst, s.doff, w.Kernel, vrun, prow, vrun)
	if vrun != run {
		for c := range out {
			for ky := range w.Kernel {
				d, a := dwT[c*plen+ky*run:][:run], s.acc[c*rowLen+ky*vrun:][:run]
				for t, v := range a {
					d[t] += v
				}
			}
		}
	}
	return true
}

// Input sets dx [n, H·W·C] to the data gradient of n images of window w from the weights
// transposed, wt [out, PatchLen], and the output gradient dy [n, OutPixels, out]:
//
//	dx = col2im(dy·wt)   (each window's terms added to the pixels it covers; padding dropped)
//
// for each window row ky, then each output pixel p in order, adding Σ_c dy[p][c]·wt[c]
// (the nonzero dy[p][c], in order of c) to the window row. It reports false, leaving dx
// as it was, where it does not apply (see ConvGrad). It panics on bad sizes.
func (s *ConvGrad) Input(n int, w arch.Window, out int, wt, dy, dx []float32) bool {
	plen, pix := w.PatchLen(), w.OutPixels()
	if len(wt) != out*plen || len(dy) != n*pix*out || len(dx) != n*w.InLen() {
		panic(fmt.Errorf("gemm: ConvGrad.Input: %d images, %d outputs: len(wt)=%d len(dy)=%d len(dx)=%d for window %+v",
			n, out, len(wt), len(dy), len(dx), w))
	}
	if !sparseOK(n, w, out, true) || s.tooDense(dy) {
		return false
	}
	// Pixel p's entries (a group, if it has any): the nonzero values of dy's row p, off the
	// byte offsets of their channels' rows of wt; doff the byte offset of its window in the
	// padded gradient.
	rows := n * pix
	if !s.listRows(rows, out, dy, int32(plen*f32)) {
		return false
	}
	s.spans, s.doff = grow(s.spans, 2*rows), grow(s.doff, rows)
	img, prow := paddedFull(w), (w.W+2*w.Pad)*w.C
	e, groups, p := int32(0), 0, 0
	for i := range n {
		for oy := range w.OutH() {
			base := i*img + oy*w.Stride*prow
			for ox := range w.OutW() {
				if k := s.cnt[p]; k > 0 {
					s.spans[2*groups], s.spans[2*groups+1] = e, e+k
					s.doff[groups] = int32((base + ox*w.Stride*w.C) * f32)
					groups++
					e += k
				}
				p++
			}
		}
	}
	s.pad = grow(s.pad, n*img)
	clear(s.pad[:n*img])
	run := w.Kernel * w.C
	s.run(groups, s.spans, s.g, s.off, wt, s.pad, s.doff, w.Kernel, run, run, prow)
	// Drop the padding.
	lead, row := w.Pad*(w.C+prow), w.W*w.C
	for i := range n {
		for y := range w.H {
			o := (i*w.H + y) * row
			copy(dx[o:o+row], s.pad[i*img+lead+y*prow:])
		}
	}
	return true
}

// listRows lists the nonzero values of dy's rows rows of out values (list), each with its
// channel c times step as its offset, and reports whether dy is sparse enough to go on
// (declines).
func (s *ConvGrad) listRows(rows, out int, dy []float32, step int32) bool {
	s.coff = grow(s.coff, out)
	for c := range out {
		s.coff[c] = int32(c) * step
	}
	return !s.declines(s.list(rows, dy, s.coff), rows*out)
}

// list sets g and off to the nonzero values of rows rows of len(offs) values of vals
// (NaN counts), each with the offset offs[j] of its column j, row after row, and cnt[r]
// to row r's count; it returns the total.
func (s *ConvGrad) list(rows int, vals []float32, offs []int32) int {
	cols := len(offs)
	s.g, s.off = grow(s.g, rows*cols+16), grow(s.off, rows*cols+16) // 16: compressRows' whole vectors
	s.cnt = grow(s.cnt, rows)
	if w := sparseWidth(); w > 1 && cols%w == 0 { // the assembly paths: compressRows
		compressRows(rows, vals, offs, s.g, s.off, s.cnt)
	} else {
		e := 0
		for r := range rows {
			lo := e
			for j, v := range vals[r*cols : (r+1)*cols] {
				s.g[e], s.off[e] = v, offs[j]
				e += nonzero(v)
			}
			s.cnt[r] = int32(e - lo)
		}
	}
	total := 0
	for _, k := range s.cnt[:rows] {
		total += int(k)
	}
	return total
}

// run adds the entries' terms to the groups' rows (see sparseRun): with the assembly
// kernels on the AVX-512 and AVX2 paths, else with sparseRows.
func (s *ConvGrad) run(ng int, spans []int32, vals []float32, off []int32, src, dst []float32, doff []int32, segs, run, sstride, dstride int) {
	if sparseKernels && ActivePath() != Generic {
		sparseRun(ng, spans, vals, off, src, dst, doff, segs, run, sstride, dstride)
		return
	}
	sparseRows(ng, spans, vals, off, src, dst, doff, segs, run, sstride, dstride)
}

// sparseRows is the sparse kernels' work in Go for the generic path, with its arithmetic:
// for each group k, each of its entries i in order, each segment s < segs and value t <
// run, dst[doff[k]/4 + s·dstride + t] += vals[i]·src[off[i]/4 + s·sstride + t], the
// product rounded, then the sum.
func sparseRows(ng int, spans []int32, vals []float32, off []int32, src, dst []float32, doff []int32, segs, run, sstride, dstride int) {
	for k := range ng {
		d0 := int(doff[k]) / f32
		for i := spans[2*k]; i < spans[2*k+1]; i++ {
			g, o := vals[i], int(off[i])/f32
			for seg := range segs {
				d := dst[d0+seg*dstride:][:run]
				for t, v := range src[o+seg*sstride:][:run] {
					d[t] += float32(g * v) // rounded: no fused multiply-add
				}
			}
		}
	}
}

// padFull copies the NHWC image src of window w into dst (paddedFull(w) values) with Pad
// zero pixels on every side.
func padFull(dst, src []float32, w arch.Window) {
	prow, row, lead := (w.W+2*w.Pad)*w.C, w.W*w.C, w.Pad*w.C
	clear(dst[:w.Pad*prow])
	for y := range w.H {
		d := dst[(w.Pad+y)*prow : (w.Pad+y+1)*prow]
		clear(d[:lead])
		copy(d[lead:lead+row], src[y*row:(y+1)*row])
		clear(d[lead+row:])
	}
	clear(dst[(w.Pad+w.H)*prow:])
}

// grow returns s with length n, reallocated (contents lost) if its capacity is short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
