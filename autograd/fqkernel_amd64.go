//go:build amd64 && gc && !purego

package autograd

import "tinyq/internal/kernel"

// fqAsm is whether fakeQuantFast runs the AVX-512 loop (fqkernel_amd64.s): when the float path
// (tinyq/gemm's, chosen by tinyq/internal/kernel) is avx512.
var fqAsm = kernel.FloatAVX512()

// fqBlocks fake-quantizes the first n&^15 elements of x with fqAVX512 when fqAsm is set,
// and returns how many it did (0 otherwise), or -1 if one of them was not finite.
func fqBlocks(y, x []float32, m []uint32, s, lo, hi []float32, perChannel bool) int {
	n := len(x) &^ 15
	if !fqAsm || n == 0 {
		return 0
	}
	var mp *uint32
	if m != nil {
		mp = &m[0]
	}
	if !fqAVX512(&y[0], &x[0], mp, n, &s[0], &lo[0], &hi[0], perChannel) {
		return -1
	}
	return n
}

// fqAVX512 is fqScalar on n (a multiple of 16) elements, 16 at a time; with perChannel the
// scale and bounds of element i are s[i], lo[i], hi[i], else s[0], lo[0], hi[0]. m, if not
// nil, gets the STE mask. It reports whether every x was finite (if not, y and m are
// garbage).
//
//go:noescape
func fqAVX512(y, x *float32, m *uint32, n int, s, lo, hi *float32, perChannel bool) (finite bool)

// rangeBlocks updates mins and maxs (per column) over rows rows of x (row length chans) as
// rangeRows' scalar loop does, for the first chans&^15 columns with AVX-512, and returns how
// many columns it did (0 without AVX-512).
func rangeBlocks(x []float32, rows, chans int, mins, maxs []float32) int {
	nb := chans / 16
	if !fqAsm || nb == 0 || rows == 0 {
		return 0
	}
	_ = x[(rows-1)*chans+chans-1]
	rangeAVX512(&x[0], rows, uintptr(4*chans), &mins[0], &maxs[0], nb)
	return 16 * nb
}

// rangeAVX512 is rangeRows' scalar loop on 16·blocks columns (in fqkernel_amd64.s).
//
//go:noescape
func rangeAVX512(x *float32, rows int, stride uintptr, mins, maxs *float32, blocks int)

// maskBlocks does dx = dy & m (applyMask's loop) on the first len(dx)&^15 elements with
// AVX-512 and returns how many it did (0 without AVX-512).
func maskBlocks(dx, dy []float32, m []uint32) int {
	n := len(dx) &^ 15
	if !fqAsm || n == 0 {
		return 0
	}
	_, _ = dy[n-1], m[n-1]
	andMaskAVX512(&dx[0], &dy[0], &m[0], n)
	return n
}

// andMaskAVX512 is applyMask's loop on n (a multiple of 16) elements (in fqkernel_amd64.s).
//
//go:noescape
func andMaskAVX512(dx, dy *float32, m *uint32, n int)
