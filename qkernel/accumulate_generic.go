//go:build !amd64 || purego

package qkernel

// vnniLayout is unused without the AVX-512 VNNI kernels.
type vnniLayout struct{}

// avx2Layout is unused without the AVX2 kernels.
type avx2Layout struct{}

// accumulateFast reports that there is no SIMD path in this build.
func (w *Weights) accumulateFast(dst []int32, src []uint8, batch int, zp []int32, workers int) bool {
	return false
}
