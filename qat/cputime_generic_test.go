//go:build !unix

package qat

import "time"

// cpuTime returns 0: this system (js/wasm, wasip1, Windows) has no getrusage, and the
// benchmarks then report wall time only.
func cpuTime() time.Duration { return 0 }
