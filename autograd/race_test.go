//go:build race

package autograd

// raceEnabled: the race detector makes sync.Pool (gemm's scratch) drop items at random,
// so the allocation tests of the convolution ops are skipped.
const raceEnabled = true
