//go:build race

package infer_test

// raceEnabled: the race detector makes sync.Pool drop items at random, so the
// allocation counts (scratch is pooled, in gemm and here) are not checked under it.
const raceEnabled = true
