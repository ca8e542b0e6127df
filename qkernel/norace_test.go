//go:build !race

package qkernel

const raceEnabled = false
