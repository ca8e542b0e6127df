// Package par is tinyq's one worker pool: the float kernels (tinyq/gemm), the integer kernels
// (tinyq/qkernel), the runtime (tinyq/infer) and the training stack (tinyq/autograd,
// tinyq/train) spread their work over the same few goroutines with Do. It trades generality
// for latency: one parallel section runs at a time, on workers that stay awake briefly.
//
// Results never depend on the number of workers: Do only decides which goroutine runs a part,
// and every caller splits its work into parts whose values do not depend on that.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Do calls part(i) for i in [0, parts), on the calling goroutine and on the pool's worker
// goroutines, and returns when all calls have returned.
//
// Why not a goroutine per part: on the benchmark machine (a 2-vCPU virtual machine) a new
// goroutine starts running on the idle CPU only 60-200 µs after the go statement, longer than
// many whole products of tinyq. The workers (one fewer than GOMAXPROCS or the number of
// CPUs, whichever is smaller; started on first use) instead stay awake for spin after each
// part before they sleep, and the caller never waits for a worker to start: it claims parts
// itself until none is left, then waits only for the parts that workers took. One parallel
// section runs at a time; a caller that finds the workers busy runs all its parts itself.
// Do allocates nothing.
//
// A part that calls Do, or more than 65535 parts, run serially (correct, not faster).
func Do(parts int, part func(i int)) {
	procs := min(runtime.GOMAXPROCS(0), runtime.NumCPU())
	if parts <= 1 || parts > 0xffff || procs < 2 || !board.mu.TryLock() {
		for i := 0; i < parts; i++ {
			part(i)
		}
		return
	}
	board.start(procs - 1)
	board.part = part
	board.pending.Store(int64(parts))
	gen := board.state.Load()>>32 + 1
	board.state.Store(gen<<32 | uint64(parts)<<16) // publish: generation, parts, next part 0
	if board.sleeping.Load() > 0 {
		for range board.workers {
			select {
			case board.wake <- struct{}{}:
			default:
			}
		}
	}
	board.claimAll()
	for i := 0; board.pending.Load() > 0; i++ {
		if i > 1<<10 {
			runtime.Gosched() // a worker was descheduled in the middle of a part
		}
	}
	board.part = nil
	board.mu.Unlock()
}

// spin is how long a worker polls for the next parallel section after its last part before
// it sleeps: longer than the gaps between the products of a training step, short enough
// that an idle program goes quiet at once.
const spin = 200 * time.Microsecond

// board is the one parallel section in progress and the workers that help with it.
var board pool

type pool struct {
	mu sync.Mutex // held by the caller of the section in progress
	// state is generation<<32 | parts<<16 | next part to claim: a worker claims a part with
	// one compare-and-swap, which also proves that the section is still the one it saw.
	state    atomic.Uint64
	pending  atomic.Int64 // parts not finished
	part     func(i int)  // the section's work, valid while a part of it is claimed
	workers  int          // workers started (only the caller holding mu changes it)
	sleeping atomic.Int32 // workers waiting on wake
	wake     chan struct{}
}

// start makes sure at least n workers run.
func (b *pool) start(n int) {
	if b.wake == nil {
		b.wake = make(chan struct{}, 64)
	}
	for ; b.workers < min(n, cap(b.wake)); b.workers++ {
		go b.work()
	}
}

// claimAll runs parts of the current section until none is left to claim, and reports
// whether it ran any.
func (b *pool) claimAll() bool {
	ran := false
	for {
		s := b.state.Load()
		parts, next := s>>16&0xffff, s&0xffff
		if next >= parts {
			return ran
		}
		if !b.state.CompareAndSwap(s, s+1) {
			continue
		}
		b.part(int(next))
		b.pending.Add(-1)
		ran = true
	}
}

// work is a worker: it helps with every section it sees, polls for the next for spin, then
// sleeps until a caller wakes it.
func (b *pool) work() {
	for {
		idle := time.Now()
		for i := 0; ; i++ {
			if b.claimAll() {
				idle = time.Now()
			}
			if i%64 == 0 && time.Since(idle) > spin {
				break
			}
		}
		b.sleeping.Add(1)
		if !b.claimAll() { // a section published before sleeping was counted
			<-b.wake
		}
		b.sleeping.Add(-1)
	}
}
