//go:build !amd64 || !gc || purego

package gemm

// sparseKernels reports that this build has no assembly sparse kernels (ConvGrad runs on
// the generic path only, in Go).
const sparseKernels = false

// sparseRun is never called in this build.
func sparseRun(ng int, spans []int32, vals []float32, off []int32, src, dst []float32, doff []int32, segs, run, sstride, dstride int) {
	panic("gemm: no sparse kernels in this build")
}

// compressRows is never called in this build.
func compressRows(rows int, vals []float32, offs []int32, outVals []float32, outOffs []int32, counts []int32) {
	panic("gemm: no sparse kernels in this build")
}
