package autograd

import (
	"runtime"
	"sync"
)

// parallelMin is the smallest tensor, in elements, that the fake-quant ops split over two
// goroutines. Starting and joining a goroutine costs a few microseconds; fake-quantizing and
// masking 2^14 elements takes about 20 µs on the 2-core benchmark machine, so below this size
// the split gains little.
const parallelMin = 1 << 14

// halves runs a job over rows [0, rows) on two goroutines: [0, rows/2) as part 0 on the
// caller's and [rows/2, rows) as part 1 on a new one. Jobs are method values bound once per op
// and the goroutine's entry point is bound on first use, so a run allocates nothing.
type halves struct {
	wg     sync.WaitGroup
	job    func(part, lo, hi int)
	lo, hi int
	start  func() // h.second
}

func (h *halves) second() {
	defer h.wg.Done()
	h.job(1, h.lo, h.hi)
}

// run calls job(0, 0, rows) alone when the tensor (n elements) is small, has one row, or only
// one CPU is available, and otherwise job(0, 0, mid) and job(1, mid, rows) concurrently. It
// returns the number of parts run.
func (h *halves) run(rows, n int, job func(part, lo, hi int)) int {
	if n < parallelMin || rows < 2 || runtime.GOMAXPROCS(0) < 2 {
		job(0, 0, rows)
		return 1
	}
	if h.start == nil {
		h.start = h.second
	}
	mid := rows / 2
	h.job, h.lo, h.hi = job, mid, rows
	h.wg.Add(1)
	go h.start()
	job(0, 0, mid)
	h.wg.Wait()
	h.job = nil
	return 2
}
