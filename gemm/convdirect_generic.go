//go:build !amd64 || !gc || purego

package gemm

import "tinyq/arch"

// convDirect reports false: this build has no direct convolution kernel (Conv lays out
// patches and calls Affine).
func convDirect(n int, w arch.Window, out int, src, weights, bias []float32, relu bool, dst, scratch []float32) bool {
	return false
}
