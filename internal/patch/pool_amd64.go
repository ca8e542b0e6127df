//go:build amd64 && gc && !purego

package patch

import (
	"unsafe"

	"tinyq/internal/kernel"
)

// poolF32AVX2 takes the maximum over kh×kw taps of n windows, 8 channels at a time (c a
// multiple of 8), with MaxPool's rule for ties and NaN (in pool_amd64.s). Taps are at
// in + p·step + ky·row bytes + kx·c values, output pixel p at out + p·c values.
//
//go:noescape
func poolF32AVX2(out, in unsafe.Pointer, c, kw, kh, row, step, n int)

// poolU8AVX is poolF32AVX2 for uint8, 16 channels at a time (c a multiple of 16).
//
//go:noescape
func poolU8AVX(out, in unsafe.Pointer, c, kw, kh, row, step, n int)

// poolKernels returns the pooling kernels of the paths this process selected
// (tinyq/internal/kernel: the float kernel with gemm's avx2 or avx512, the byte kernel
// with qkernel's non-generic paths, all of which have AVX2), nil for none.
func poolKernels() (f32, u8 poolKernel) {
	c, _ := kernel.Selected()
	if c.Float != "generic" {
		f32 = poolF32AVX2
	}
	if c.Int != "generic" {
		u8 = poolU8AVX
	}
	return f32, u8
}
