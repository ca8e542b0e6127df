//go:build amd64 && gc && !purego

package autograd

import "tinyq/internal/kernel"

// reduceAsm is whether the per-channel column sums of a reduction run the AVX-512 loops
// (reducekernel_amd64.s): when the float path (tinyq/gemm's, chosen by tinyq/internal/kernel)
// is avx512.
var reduceAsm = kernel.FloatAVX512()

// sumColsBlocks adds, for each channel j of the first channels that the AVX-512 loops cover
// (whole groups of 8, widest groups first), x[row*c+j] converted to float64 to s[j], rows in
// order, and returns how many channels it did (0 without AVX-512). Each channel's sum is the
// same sequence of float64 additions as the Go loop's, so the result is bit for bit the same.
func sumColsBlocks(s []float64, x []float32, rows, c int) int {
	if !reduceAsm || rows == 0 || c < 8 {
		return 0
	}
	_, _ = s[c-1], x[rows*c-1]
	stride := 4 * c // bytes between rows
	j := 0
	for ; j+32 <= c; j += 32 {
		sumCols32AVX512(&s[j], &x[j], rows, stride)
	}
	if j+16 <= c {
		sumCols16AVX512(&s[j], &x[j], rows, stride)
		j += 16
	}
	if j+8 <= c {
		sumCols8AVX512(&s[j], &x[j], rows, stride)
		j += 8
	}
	return j
}

// sumCols32AVX512 adds rows rows of 32 float32 values, stride bytes apart, to the 32 float64
// sums at s, in float64, rows in order.
//
//go:noescape
func sumCols32AVX512(s *float64, x *float32, rows, stride int)

// sumCols16AVX512 is sumCols32AVX512 for 16 channels.
//
//go:noescape
func sumCols16AVX512(s *float64, x *float32, rows, stride int)

// sumCols8AVX512 is sumCols32AVX512 for 8 channels.
//
//go:noescape
func sumCols8AVX512(s *float64, x *float32, rows, stride int)

// bnSumsBlocks adds to s0 and s1, for each channel j of the first channels that the AVX-512
// loops cover (whole groups of 8), the BatchNorm sums of reduction.block over rows rows of c
// values, rows in order: of the centred values (dy == nil) or of the gradient (see
// reduction.run). It returns how many channels it did (0 without AVX-512). Each channel's
// sums are the same sequence of operations as the Go loops', so the result is bit for bit
// the same.
func bnSumsBlocks(s0, s1 []float64, x, dy, mean, inv []float32, rows, c int) int {
	if !reduceAsm || rows == 0 || c < 8 {
		return 0
	}
	_, _, _, _ = s0[c-1], s1[c-1], x[rows*c-1], mean[c-1]
	if dy != nil {
		_, _ = dy[rows*c-1], inv[c-1]
	}
	stride := 4 * c // bytes between rows
	j := 0
	for ; j+8 <= c; j += 8 {
		if dy == nil {
			centredSums8AVX512(&s0[j], &s1[j], &x[j], &mean[j], rows, stride)
		} else {
			gradSums8AVX512(&s0[j], &s1[j], &x[j], &dy[j], &mean[j], &inv[j], rows, stride)
		}
	}
	return j
}

// centredSums8AVX512 adds, for 8 channels, rows rows (stride bytes apart) of d = x - mean
// in float64 to s0 and d·d to s1.
//
//go:noescape
func centredSums8AVX512(s0, s1 *float64, x, mean *float32, rows, stride int)

// gradSums8AVX512 adds, for 8 channels, rows rows of d = float64(dy) to s0 and of
// d·float64((x-mean)·inv) (float32 arithmetic inside) to s1.
//
//go:noescape
func gradSums8AVX512(s0, s1 *float64, x, dy, mean, inv *float32, rows, stride int)

// reduceAsmEnabled sets whether the AVX-512 loops run (if the CPU has AVX-512) and returns
// the previous setting; for tests.
func reduceAsmEnabled(on bool) bool {
	old := reduceAsm
	reduceAsm = on && kernel.Host().Has(kernel.Float, "avx512")
	return old
}
