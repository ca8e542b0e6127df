//go:build amd64 && gc && !purego

package qkernel

import "tinyq/arch"

// convImplicit is Conv on the AVX-512 VNNI path without the patch matrix, for windows
// whose rows are whole groups of 4 inputs (Kernel·C a multiple of 4: the CNN's second
// convolution, 5·16) and layers in 16-channel blocks (at most 48 outputs), on one worker:
// the images of a chunk are padded once (the pad value is zp) into scratch, and each tile
// of six output pixels reads its windows in place, group g of a window at a fixed byte
// offset from the window's corner ((4g / (Kernel·C))·paddedW·C + 4g mod Kernel·C). Every
// group is summed (no zero skipping), so the result is Σ x·w over the padded window minus
// zp·colsum, the same integers as Accumulate on the patch matrix. It reports false, doing
// nothing, where it does not apply.
func (w *Weights) convImplicit(dst []int32, src []uint8, n int, win arch.Window, zp int32, scratch []uint8, workers int) bool {
	if active != AVX512VNNI || workers > 1 || (win.Kernel*win.C)%4 != 0 || w.Out > 48 || n == 0 {
		return false
	}
	l := w.vnniLayout()
	pw, ph, c := win.W+2*win.Pad, win.H+2*win.Pad, win.C
	img := ph * pw * c
	if l.width != 16 || l.groups*4 != win.PatchLen() || len(scratch) < img {
		return false
	}
	s, _ := vnniPool.Get().(*vnniScratch)
	if s == nil {
		s = &vnniScratch{}
	}
	defer vnniPool.Put(s)
	rowLen := win.Kernel * c
	offs := grow(s.groups, l.groups)
	for g := range offs {
		i := 4 * g
		offs[g] = int32(i/rowLen*pw*c + i%rowLen)
	}
	s.groups = offs
	out, pix, outW := w.Out, win.OutPixels(), win.OutW()
	ldc := 16 * l.blocks
	s.c = grow(s.c, vnniRows*ldc)
	per := len(scratch) / img // images padded at once
	for b := 0; b < n; b += per {
		k := min(per, n-b)
		padded := scratch[:k*img]
		padded[0] = uint8(zp)
		for i := 1; i < len(padded); i *= 2 {
			copy(padded[i:], padded[:i]) // doubling: log2(len) memmoves
		}
		for im := 0; im < k; im++ {
			from := src[(b+im)*win.InLen():]
			to := padded[im*img:]
			for y := 0; y < win.H; y++ {
				copy(to[((y+win.Pad)*pw+win.Pad)*c:], from[y*win.W*c:(y+1)*win.W*c])
			}
		}
		rows := k * pix
		d := dst[b*pix*out : (b*pix+rows)*out]
		var ptrs [vnniRows]*uint8
		// The next window's corner: image im, output pixel (oy, ox), at byte at.
		im, oy, ox, at := 0, 0, 0, 0
		step, down := win.Stride*c, win.Stride*pw*c
		for r0 := 0; r0 < rows; r0 += vnniRows {
			cnt := min(vnniRows, rows-r0)
			for r := range cnt {
				ptrs[r] = &padded[at]
				if ox++; ox < outW {
					at += step
					continue
				}
				ox = 0
				if oy++; oy < win.OutH() {
					at = im*img + oy*down
					continue
				}
				oy = 0
				im++
				at = im * img
			}
			for r := cnt; r < vnniRows; r++ {
				ptrs[r] = ptrs[cnt-1] // a partial tile repeats its last window
			}
			direct := cnt == vnniRows && out%16 == 0
			for bl := 0; bl < l.blocks; bl++ {
				wb := &l.w[bl*l.groups*64]
				if direct {
					vnni6x16i(&ptrs, &offs[0], l.groups, wb, &d[r0*out+16*bl], 4*out)
				} else {
					vnni6x16i(&ptrs, &offs[0], l.groups, wb, &s.c[16*bl], 4*ldc)
				}
			}
			if !direct {
				for r := 0; r < cnt; r++ {
					copy(d[(r0+r)*out:(r0+r+1)*out], s.c[r*ldc:])
				}
			}
		}
		w.subtractZeroPoints(d, rows, zeroPoints[zp:zp+1])
	}
	return true
}
