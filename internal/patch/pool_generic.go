//go:build !amd64 || !gc || purego

package patch

// poolKernels returns no kernels: this build has only the pure-Go loops.
func poolKernels() (f32, u8 poolKernel) { return nil, nil }
