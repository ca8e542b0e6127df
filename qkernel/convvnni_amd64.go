//go:build amd64 && gc && !purego

package qkernel

import "tinyq/arch"

// convImplicit is Conv on the AVX-512 VNNI path without the patch matrix, for layers in
// 16-channel blocks (at most 48 outputs) on one worker: the images of a chunk are padded
// once (the pad value is zp) into scratch, and each tile of six output pixels reads its
// windows in place. A window row of Kernel·C inputs is read as ceil(Kernel·C/4) groups of
// 4 bytes, group q of row ky at the fixed byte offset ky·paddedW·C + 4q from the window's
// corner (convLayout). Where Kernel·C is not a multiple of 4 (the CNN's first convolution,
// 5·1) the last group of a row reads up to 3 bytes past it (the next pixels, or the
// padded images' tail of zp bytes), which meet zero weights. Every group is summed (no
// zero skipping), so the result is Σ x·w over the padded window minus zp·colsum, the same
// integers as Accumulate on the patch matrix. It reports false, doing nothing, where it
// does not apply.
func (w *Weights) convImplicit(dst []int32, src []uint8, n int, win arch.Window, zp int32, scratch []uint8, workers int) bool {
	if active != AVX512VNNI || workers > 1 || w.Out > 48 || n == 0 {
		return false
	}
	rowLen := win.Kernel * win.C
	l := w.convLayout(rowLen)
	if l == nil || l.groups*4 < win.PatchLen() {
		return false
	}
	rowGroups := l.groups / win.Kernel
	tail := 4*rowGroups - rowLen // bytes read past the last window row
	pw, ph, c := win.W+2*win.Pad, win.H+2*win.Pad, win.C
	img := ph * pw * c
	if len(scratch) < img+tail {
		return false
	}
	s, _ := vnniPool.Get().(*vnniScratch)
	if s == nil {
		s = &vnniScratch{}
	}
	defer vnniPool.Put(s)
	offs := grow(s.groups, l.groups)
	for g := range offs {
		offs[g] = int32(g/rowGroups*pw*c + 4*(g%rowGroups))
	}
	s.groups = offs
	out, pix, outW := w.Out, win.OutPixels(), win.OutW()
	ldc := 16 * l.blocks
	s.c = grow(s.c, vnniRows*ldc)
	per := (len(scratch) - tail) / img // images padded at once
	for b := 0; b < n; b += per {
		k := min(per, n-b)
		padded := scratch[:k*img+tail]
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

// convLayout returns the weights packed for convImplicit, for windows whose rows hold
// rowLen inputs: the VNNI layout of 16-channel blocks, each window row's inputs padded
// with zero weights to whole groups of 4 (the plain VNNI layout where rowLen is a multiple
// of 4). It returns nil where the layout has 64-channel blocks, or for a second row length
// (the layout is built for the first one asked; Conv then takes the patch matrix).
func (w *Weights) convLayout(rowLen int) *vnniLayout {
	if rowLen <= 0 || w.In%rowLen != 0 {
		return nil
	}
	if rowLen%4 == 0 {
		if l := w.vnniLayout(); l.width == 16 {
			return l
		}
		return nil
	}
	if w.Out > 48 {
		return nil
	}
	w.simd.convOnce.Do(func() {
		rg, rows := (rowLen+3)/4, w.In/rowLen
		g := rows * rg
		nb := (w.Out + 15) / 16
		l := &vnniLayout{groups: g, width: 16, blocks: nb, w: make([]int8, nb*g*64), all: make([]int32, g)}
		for k := range l.all {
			l.all[k] = int32(k)
		}
		for o := 0; o < w.Out; o++ {
			b, j := o/16, o%16
			for i := 0; i < w.In; i++ {
				ky, r := i/rowLen, i%rowLen
				l.w[(b*g+ky*rg+r/4)*64+j*4+r%4] = w.At(o, i)
			}
		}
		w.simd.conv, w.simd.convRow = l, rowLen
	})
	if w.simd.convRow != rowLen {
		return nil
	}
	return w.simd.conv
}
