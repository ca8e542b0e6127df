//go:build !amd64 || !gc || purego

package patch

import "tinyq/arch"

// maxArg is maxArgGo in this build.
func maxArg(out []float32, arg []int32, in []float32, off int32) { maxArgGo(out, arg, in, off) }

// vecAsmEnabled does nothing in this build; for tests.
func vecAsmEnabled(bool) bool { return false }

// addTo is addGo in this build.
func addTo(dst, src []float32) { addGo(dst, src) }

// maxPoolImage does nothing in this build: MaxPoolArg pools tap by tap.
func maxPoolImage([]float32, []int32, []float32, arch.Window) bool { return false }

// routeImages does nothing in this build: MaxPoolGradInto uses MaxPoolGrad.
func routeImages([]float32, []float32, []int32, int, arch.Window) bool { return false }

// addRuns is addRunsGo in this build.
func addRuns(dst, src []float32, runs, runLen, dstStride, srcStride int) {
	addRunsGo(dst, src, runs, runLen, dstStride, srcStride)
}
