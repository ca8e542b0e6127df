//go:build amd64 && gc && !purego

package gemm

import "unsafe"

// affine16 computes the m rows (a multiple of narrowRows) of C = A·B + bias for n = 16 with
// affine16AVX512.
func affine16(m, k int, a []float32, lda int, b, bias, c []float32, ldc int) {
	_, _, _, _ = a[(m-1)*lda+k-1], b[k*16-1], bias[15], c[(m-1)*ldc+15] // bounds, once
	affine16AVX512(m/narrowRows, k, unsafe.Pointer(&a[0]), uintptr(lda*f32), unsafe.Pointer(&b[0]), unsafe.Pointer(&bias[0]), unsafe.Pointer(&c[0]), uintptr(ldc*f32))
}

// affine16AVX512 computes groups·8 rows of C (stride ldc bytes) = A (stride lda bytes, k
// columns)·B ([k][16], contiguous) + bias (16), each row in one zmm register: c = bias,
// then c = fma(a[p], b[p], c) for p = 0 .. k-1 (in narrow_amd64.s).
//
//go:noescape
func affine16AVX512(groups, k int, a unsafe.Pointer, lda uintptr, b, bias, c unsafe.Pointer, ldc uintptr)
