//go:build amd64 && gc && !purego

package gemm

import (
	"sync"
	"unsafe"

	"tinyq/arch"
	"tinyq/internal/par"
)

// conv32AVX512 computes a tile of 7 output pixels × 32 columns of a direct convolution (in
// convdirect_amd64.s): for r < 7, j < 32, with strides in bytes and run the sum of the
// segments' terms (segs[i] = terms<<8 | mask),
//
//	c[r·cs + j] = bias[j] + Σ a[r·rs + ky·(run·4+skip) + t]·b[(ky·run + t)·bs + j]
//
// over ky < nky and t < run in that order, one fused multiply-add per term, skipping the
// terms of a segment for the pixels r whose bit is clear in its mask; then max(c, 0) if
// relu&1.
//
//go:noescape
func conv32AVX512(nky, nseg int, a unsafe.Pointer, rs, skip uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, cs uintptr, bias unsafe.Pointer, relu uintptr, segs *uint32)

// conv16AVX512 is conv32AVX512 for a tile of 14 pixels × 16 columns, without masks: every
// term of every pixel (run = Kernel·C).
//
//go:noescape
func conv16AVX512(nky, run int, a unsafe.Pointer, rs, skip uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, cs uintptr, bias unsafe.Pointer, relu uintptr)

// The direct kernels' tiles: 7 pixels of 32 columns (14 zmm accumulators, two per pixel)
// and 14 pixels of 16 columns (14 zmm, one per pixel); the accumulators, the weights of a
// term and a broadcast value take at most 17 of the 32 zmm registers, and 14 independent
// sums keep an FMA unit of latency 4 busy.
const (
	conv32Pixels = 7
	conv16Pixels = 14
)

// paddedBytes is the most bytes of padded images convDirect copies before computing them
// (at least one image's), so that they are still in L2 when read: 64 KB, 4 of the CNN's
// second convolution's 14×18×16 float32s. (The CNN's forward at batch 256 on one core:
// 51.0 µs per image against 52.0 when a chunk filled the caller's scratch, 58 images.)
const paddedBytes = 64 << 10

// maxDirectRun is the most terms a window row may have (Kernel·C) for convDirect: a
// segment's count of terms takes the 24 high bits of a uint32.
const maxDirectRun = 1<<24 - 1

// direct reports whether convDirect computes convolutions of window w with out channels.
func direct(w arch.Window, out int) bool {
	return ActivePath() == AVX512 && out%16 == 0 && w.Kernel*w.C <= maxDirectRun
}

// convDirect is Conv on the AVX-512 path for out a multiple of 16: a direct convolution
// that reads each image, copied once with its columns padded (padImage), in place, without
// a patch matrix. Each output pixel is computed as Affine computes a row of the patch
// matrix, its bias then its terms in the order (ky, kx, c) with fused multiply-adds, but
// for the terms of the window rows that lie in the vertical padding, which it skips, and
// (32-column tiles) those of the window columns in the horizontal padding (their values
// are zero: skipping them changes at most the sign of a zero, see the package
// documentation). It reports false, doing nothing, on other paths and shapes.
func convDirect(n int, w arch.Window, out int, src, weights, bias []float32, relu bool, dst, scratch []float32) bool {
	if !direct(w, out) || n == 0 {
		return n == 0 && direct(w, out)
	}
	img, slack := paddedLen(w), paddedSlack(w)
	chunk := min((len(scratch)-slack)/img, max(1, paddedBytes/(img*f32)))
	if chunk < 1 {
		return false
	}
	s := convCalls.Get().(*convCall)
	s.w, s.out, s.weights, s.bias, s.relu = w, out, weights, bias, relu
	s.oh, s.ow = w.OutH(), w.OutW()
	s.tileSegments()
	pix, plen := w.OutPixels(), w.PatchLen()
	for b := 0; b < n; b += chunk {
		k := min(chunk, n-b)
		s.padded = scratch[:k*img+slack]
		for i := 0; i < k; i++ {
			padImage(s.padded[i*img:(i+1)*img], src[(b+i)*w.InLen():(b+i+1)*w.InLen()], w)
		}
		clear(s.padded[k*img:])
		s.dst = dst[b*pix*out : (b+k)*pix*out]
		s.rows = k * s.oh
		s.parts = partsFor(k*pix, out, plen, s.rows)
		par.Do(s.parts, s.work)
	}
	segments.put(s.segsBuf)
	s.padded, s.weights, s.bias, s.dst, s.segs, s.segsBuf = nil, nil, nil, nil, nil, nil
	convCalls.Put(s)
	return true
}

// padImage copies the NHWC image src of window w into dst (paddedLen(w) values) with Pad
// zero pixels before and after each row.
func padImage(dst, src []float32, w arch.Window) {
	row, lead := w.W*w.C, w.Pad*w.C
	prow := row + 2*lead
	for y := 0; y < w.H; y++ {
		d := dst[y*prow : (y+1)*prow]
		clear(d[:lead])
		copy(d[lead:lead+row], src[y*row:(y+1)*row])
		clear(d[lead+row:])
	}
}

// convCall holds the arguments of one chunk of convDirect for the goroutines that share
// it; calls are pooled and their entry point bound once, so a call allocates nothing.
type convCall struct {
	w                  arch.Window
	out, oh, ow        int
	padded             []float32 // the chunk's images, padded (padImage), then paddedSlack values
	weights, bias, dst []float32
	relu               bool
	// segs holds, for each tile of a row of the 32-column kernel (tile t at pixel
	// tileStart(t, conv32Pixels)), its number of segments and then its segments, in
	// Kernel+1 values per tile.
	segs        []uint32
	segsBuf     *[]uint32   // segs' pooled storage
	rows, parts int         // output rows of the chunk (image·OutH + oy), parts
	work        func(i int) // run, bound once
}

var convCalls = sync.Pool{New: func() any {
	s := new(convCall)
	s.work = s.run
	return s
}}

// segments pools convCall.segs.
var segments slicePool[uint32]

// tileStart returns the first pixel of tile t of a row of ow pixels in tiles of tile: the
// tiles follow each other, but a last partial tile ends at the row's end (overlapping the
// one before), and a row shorter than a tile has one tile at 0.
func tileStart(t, tile, ow int) int { return min(t*tile, max(0, ow-tile)) }

// tileSegments fills s.segs: the segments of a window row's run for each tile of the
// 32-column kernel, consecutive columns kx of the window with the same mask, bit r set
// when pixel x0+r is in the row and its column kx in the image (not in the padding).
func (s *convCall) tileSegments() {
	w, ow := s.w, s.ow
	tiles := (ow + conv32Pixels - 1) / conv32Pixels
	s.segsBuf = segments.get(tiles * (w.Kernel + 1))
	s.segs = *s.segsBuf
	for t := 0; t < tiles; t++ {
		x0 := tileStart(t, conv32Pixels, ow)
		seg := s.segs[t*(w.Kernel+1)+1 : (t+1)*(w.Kernel+1)]
		nseg := 0
		for kx := 0; kx < w.Kernel; kx++ {
			m := uint32(0)
			for r := 0; r < conv32Pixels; r++ {
				if ix := (x0+r)*w.Stride - w.Pad + kx; x0+r < ow && ix >= 0 && ix < w.W {
					m |= 1 << r
				}
			}
			if nseg > 0 && seg[nseg-1]&0xff == m {
				seg[nseg-1] += uint32(w.C) << 8
				continue
			}
			seg[nseg] = uint32(w.C)<<8 | m
			nseg++
		}
		s.segs[t*(w.Kernel+1)] = uint32(nseg)
	}
}

// run computes part i of the chunk's output rows.
func (s *convCall) run(i int) {
	var tmp [conv32Pixels * 32]float32 // = conv16Pixels·16: a tile of a row shorter than a tile
	lo, hi := split(s.rows, s.parts, i)
	for r := lo; r < hi; r++ {
		s.row(r/s.oh, r%s.oh, &tmp)
	}
}

// row computes output row oy of image b of the chunk: for each panel of 32 columns (16 for
// the last if out is an odd multiple of 16), the row's tiles of pixels (tileStart: a last
// partial tile recomputes pixels of the one before bit for bit), through tmp when the row
// is shorter than a tile. The 32-column kernel skips, for each column kx of the window,
// the pixels whose column kx lies in the horizontal padding (zeros in the copy); the
// 16-column kernel, made for few channels (a segment per column of the window would be a
// term or two), adds them.
func (s *convCall) row(b, oy int, tmp *[conv32Pixels * 32]float32) {
	w, out, ow := s.w, s.out, s.ow
	pw, c := w.W+2*w.Pad, w.C
	iy := oy*w.Stride - w.Pad
	ky0, ky1 := max(0, -iy), min(w.Kernel, w.H-iy)
	run := w.Kernel * c
	nky := ky1 - ky0
	skip := uintptr((pw*c - run) * f32)
	rs, cs := uintptr(w.Stride*c*f32), uintptr(out*f32)
	base := b*paddedLen(w) + (iy+ky0)*pw*c // padded[base]: pixel 0's first value
	wrow := ky0 * run * out                // weights[wrow]: row of the first term
	orow := (b*s.oh + oy) * ow * out       // dst[orow]: pixel 0's first output
	relu := uintptr(0)
	if s.relu {
		relu = 1
	}
	for j := 0; j < out; j += 32 {
		tile, cols := conv32Pixels, 32
		if out-j < 32 {
			tile, cols = conv16Pixels, 16
		}
		_ = s.weights[wrow+j+((nky*run-1)*out)+cols-1] // the last weight read, checked once
		bp, bias := unsafe.Pointer(&s.weights[wrow+j]), unsafe.Pointer(&s.bias[j])
		for t := 0; t*tile < ow; t++ {
			x0 := tileStart(t, tile, ow)
			// The last value read: pixel tile-1's last term (paddedSlack covers the pixels
			// past the row of a short row's tile).
			_ = s.padded[base+(x0+tile-1)*w.Stride*c+(nky-1)*pw*c+run-1]
			a := unsafe.Pointer(&s.padded[base+x0*w.Stride*c])
			dst, ds := unsafe.Pointer(&tmp[0]), uintptr(cols*f32)
			if ow >= tile {
				_ = s.dst[orow+(x0+tile-1)*out+j+cols-1]
				dst, ds = unsafe.Pointer(&s.dst[orow+x0*out+j]), cs
			}
			if cols == 16 {
				conv16AVX512(nky, run, a, rs, skip, bp, cs, dst, ds, bias, relu)
			} else {
				seg := s.segs[t*(w.Kernel+1):]
				conv32AVX512(nky, int(seg[0]), a, rs, skip, bp, cs, dst, ds, bias, relu, &seg[1])
			}
			if ow < tile {
				for p := 0; p < ow; p++ {
					copy(s.dst[orow+p*out+j:orow+p*out+j+cols], tmp[p*cols:])
				}
			}
		}
	}
}
