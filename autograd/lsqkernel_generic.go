//go:build !amd64 || !gc || purego

package autograd

// dotDiffBlocks does nothing in this build (returns 0, 0): dotDiff does every element in Go.
func dotDiffBlocks(dy, y, dx, x []float32) (float64, int) { return 0, 0 }

// rowAccumBlocks does nothing in this build: rowAccum does every column in Go.
func rowAccumBlocks(sums []float64, dy, y, dx, x []float32) int { return 0 }

// lsqAsmEnabled does nothing in this build; for tests.
func lsqAsmEnabled(bool) bool { return false }
