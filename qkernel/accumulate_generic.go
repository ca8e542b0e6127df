//go:build !amd64 || !gc || purego

package qkernel

// simdLayouts is empty without SIMD kernels.
type simdLayouts struct{}

// bytes is 0: there are no SIMD layouts.
func (simdLayouts) bytes() int { return 0 }

// accumulateFast reports that there is no SIMD path in this build.
func (w *Weights) accumulateFast(dst []int32, src []uint8, batch int, zp []int32, workers int) bool {
	return false
}

// simdJob is a splitJob's arguments for the SIMD paths: none in this build.
type simdJob struct{}
