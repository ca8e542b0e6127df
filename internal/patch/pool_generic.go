//go:build !amd64 || !gc || purego

package patch

import "unsafe"

// poolKernels returns no kernels: this build has only the pure-Go loops.
func poolKernels() (f32, f32Wide, u8 poolKernel) { return nil, nil, nil }

// copyKernel reports false: this build has only the pure-Go loops.
func copyKernel() bool { return false }

// copyRunsCall is never called in this build (copyRuns is false).
func copyRunsCall(dst, src unsafe.Pointer, pixels, k, run, row, step int) {
	panic("patch: no assembly copier in this build")
}
