package autograd

import (
	"runtime"

	"tinyq/internal/par"
)

// parallelMin is the smallest tensor, in elements, that the fake-quant ops split over two
// goroutines. Handing work to the pool's (tinyq/internal/par) warm worker costs about a microsecond; fake-quantizing
// and masking 2^14 elements takes about 20 µs on the 2-core benchmark machine, so below this
// size the split gains little.
const parallelMin = 1 << 14

// halves runs a job over rows [0, rows) in two parts with par.Do (the calling
// goroutine and the pool's worker goroutine, which is usually awake: a new goroutine would start
// 60-200 µs late on the benchmark machine): [0, rows/2) as part 0 and [rows/2, rows) as
// part 1. Jobs are method values bound once per op and the part function is bound on first
// use, so a run allocates nothing.
type halves struct {
	job  func(part, lo, hi int)
	rows int
	part func(i int) // h.half, bound once
}

func (h *halves) half(i int) {
	mid := h.rows / 2
	if i == 0 {
		h.job(0, 0, mid)
	} else {
		h.job(1, mid, h.rows)
	}
}

// run calls job(0, 0, rows) alone when the tensor (n elements) is small, has one row, or only
// one CPU is available, and otherwise job(0, 0, mid) and job(1, mid, rows), possibly
// concurrently. It returns the number of parts run.
func (h *halves) run(rows, n int, job func(part, lo, hi int)) int {
	if n < parallelMin || rows < 2 || runtime.GOMAXPROCS(0) < 2 {
		job(0, 0, rows)
		return 1
	}
	if h.part == nil {
		h.part = h.half
	}
	h.job, h.rows = job, rows
	par.Do(2, h.part)
	h.job = nil
	return 2
}
