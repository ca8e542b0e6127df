//go:build !amd64 || !gc || purego

package autograd

// reluBlocks does nothing in this build: reluOp does every element in Go.
func reluBlocks(y, x []float32) int { return 0 }

// reluGradBlocks does nothing in this build: reluGradOp does every element in Go.
func reluGradBlocks(dx, y, dy []float32) int { return 0 }

// reluAsmEnabled does nothing in this build; for tests.
func reluAsmEnabled(bool) bool { return false }
