//go:build !amd64 || !gc || purego

package autograd

// sumColsBlocks does nothing in this build: reduction.block sums every channel in Go.
func sumColsBlocks(s []float64, x []float32, rows, c int) int { return 0 }

// bnSumsBlocks does nothing in this build: reduction.block sums every channel in Go.
func bnSumsBlocks(s0, s1 []float64, x, dy, mean, inv []float32, rows, c int) int { return 0 }

// reduceAsmEnabled does nothing in this build; for tests.
func reduceAsmEnabled(bool) bool { return false }
