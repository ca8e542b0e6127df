//go:build !amd64 || !gc || purego

package autograd

// fqBlocks does nothing in this build (returns 0): fakeQuantFast does every element in Go.
func fqBlocks(y, x []float32, m []uint32, s, lo, hi []float32, perChannel bool) int { return 0 }

// rangeBlocks does nothing in this build: rangeRows does every column in Go.
func rangeBlocks(x []float32, rows, chans int, mins, maxs []float32) int { return 0 }

// maskBlocks does nothing in this build: applyMask does every element in Go.
func maskBlocks(dx, dy []float32, m []uint32) int { return 0 }
