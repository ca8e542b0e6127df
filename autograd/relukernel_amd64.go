//go:build amd64 && gc && !purego

package autograd

import "tinyq/internal/kernel"

// reluAsm is whether ReLU and its gradient run the AVX-512 loops (relukernel_amd64.s): when the
// float path (tinyq/gemm's, chosen by tinyq/internal/kernel) is avx512.
var reluAsm = kernel.FloatAVX512()

// reluBlocks does y = relu(x) on the first len(x)&^15 elements with AVX-512 and returns how
// many it did (0 without AVX-512).
func reluBlocks(y, x []float32) int {
	n := len(x) &^ 15
	if !reluAsm || n == 0 {
		return 0
	}
	_ = y[n-1]
	reluAVX512(&y[0], &x[0], n)
	return n
}

// reluGradBlocks does dx = dy where y > 0, else +0, on the first len(y)&^15 elements with
// AVX-512 and returns how many it did (0 without AVX-512).
func reluGradBlocks(dx, y, dy []float32) int {
	n := len(y) &^ 15
	if !reluAsm || n == 0 {
		return 0
	}
	_, _ = dx[n-1], dy[n-1]
	reluGradAVX512(&dx[0], &y[0], &dy[0], n)
	return n
}

// reluAVX512 is relu on n (a multiple of 16) elements.
//
//go:noescape
func reluAVX512(y, x *float32, n int)

// reluGradAVX512 is ReLU's gradient on n (a multiple of 16) elements.
//
//go:noescape
func reluGradAVX512(dx, y, dy *float32, n int)

// reluAsmEnabled sets whether the AVX-512 loops run (if the CPU has AVX-512) and returns the
// previous setting; for tests.
func reluAsmEnabled(on bool) bool {
	old := reluAsm
	reluAsm = on && kernel.Host().Has(kernel.Float, "avx512")
	return old
}
