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

// poolF32AVX512 is poolF32AVX2 with 16 channels at a time (c a multiple of 16).
//
//go:noescape
func poolF32AVX512(out, in unsafe.Pointer, c, kw, kh, row, step, n int)

// poolU8AVX is poolF32AVX2 for uint8, 16 channels at a time (c a multiple of 16).
//
//go:noescape
func poolU8AVX(out, in unsafe.Pointer, c, kw, kh, row, step, n int)

// copyRunsAVX copies the k window rows of run bytes of each of pixels windows, the rows of
// window p at src + p·step + ky·row, to dst one after another (in pool_amd64.s); runs
// under 8 bytes are moved as 8 bytes, writing up to 7 bytes past the last one.
//
//go:noescape
func copyRunsAVX(dst, src unsafe.Pointer, pixels, k, run, row, step int)

// copyKernel reports whether this process copies window rows with copyRunsAVX: when it
// uses any SIMD path (all have AVX), not with TINYQ_KERNEL=generic.
func copyKernel() bool {
	c, _ := kernel.Selected()
	return c.Float != "generic" || c.Int != "generic"
}

// copyRunsCall calls copyRunsAVX directly (a call through a function value would make the
// caller's stack buffer escape to the heap).
func copyRunsCall(dst, src unsafe.Pointer, pixels, k, run, row, step int) {
	copyRunsAVX(dst, src, pixels, k, run, row, step)
}

// poolKernels returns the pooling kernels of the paths this process selected
// (tinyq/internal/kernel: the float kernel with gemm's avx2 or avx512, the byte kernel
// with qkernel's non-generic paths, all of which have AVX2; the float kernel of 16
// channels with avx512), nil for none.
func poolKernels() (f32, f32Wide, u8 poolKernel) {
	c, _ := kernel.Selected()
	if c.Float != "generic" {
		f32 = poolF32AVX2
	}
	if c.Float == "avx512" {
		f32Wide = poolF32AVX512
	}
	if c.Int != "generic" {
		u8 = poolU8AVX
	}
	return f32, f32Wide, u8
}
