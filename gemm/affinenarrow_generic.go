//go:build !amd64 || !gc || purego

package gemm

// affine16 is never called in this build: ActivePath is never AVX512.
func affine16(m, k int, a []float32, lda int, b, bias, c []float32, ldc int) {
	Affine(m, 16, k, a, lda, b, 16, bias, false, c, ldc)
}
