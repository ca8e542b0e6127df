//go:build !amd64 || !gc || purego

package qkernel

import "tinyq/arch"

// convImplicit reports false: this build has no VNNI kernels.
func (w *Weights) convImplicit(dst []int32, src []uint8, n int, win arch.Window, zp int32, scratch []uint8, workers int) bool {
	return false
}
