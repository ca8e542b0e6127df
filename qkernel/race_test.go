//go:build race

package qkernel

// raceEnabled: the race detector makes sync.Pool drop items at random, so allocation
// counts of pooled scratch are not checked under it.
const raceEnabled = true
