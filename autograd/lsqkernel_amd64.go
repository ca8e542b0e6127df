//go:build amd64 && gc && !purego

package autograd

import "tinyq/internal/kernel"

// lsqAsm is whether the LSQ scale gradient's sums run the AVX-512 loops (lsqkernel_amd64.s):
// when the float path (tinyq/gemm's, chosen by tinyq/internal/kernel) is avx512.
var lsqAsm = kernel.FloatAVX512()

// dotDiffBlocks returns dotDiffLanes of the first len(dy)&^7 elements, computed with
// AVX-512, and how many elements that was (0 without AVX-512).
func dotDiffBlocks(dy, y, dx, x []float32) (float64, int) {
	n := len(dy) &^ 7
	if !lsqAsm || n == 0 {
		return 0, 0
	}
	_, _, _ = y[n-1], dx[n-1], x[n-1]
	return dotDiffAVX512(&dy[0], &y[0], &dx[0], &x[0], n), n
}

// dotDiffAVX512 is dotDiffLanes on n (a multiple of 8) elements: eight float64 lanes, lane k
// summing the elements i ≡ k (mod 8) in order, then the same reduction tree.
//
//go:noescape
func dotDiffAVX512(dy, y, dx, x *float32, n int) float64

// rowAccumBlocks does rowAccum on the first len(sums)&^7 columns with AVX-512 and returns how
// many it did (0 without AVX-512).
func rowAccumBlocks(sums []float64, dy, y, dx, x []float32) int {
	n := len(sums) &^ 7
	if !lsqAsm || n == 0 {
		return 0
	}
	_, _, _, _ = dy[n-1], y[n-1], dx[n-1], x[n-1]
	rowAccumAVX512(&sums[0], &dy[0], &y[0], &dx[0], &x[0], n)
	return n
}

// rowAccumAVX512 is rowAccum on n (a multiple of 8) columns, 8 at a time.
//
//go:noescape
func rowAccumAVX512(sums *float64, dy, y, dx, x *float32, n int)

// lsqAsmEnabled sets whether the AVX-512 loops may run (only where the CPU has them) and
// returns the previous setting; for tests.
func lsqAsmEnabled(on bool) bool {
	old := lsqAsm
	lsqAsm = on && kernel.Host().Has(kernel.Float, "avx512")
	return old
}
