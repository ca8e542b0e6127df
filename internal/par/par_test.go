package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestDo checks that Do runs every part exactly once, also for concurrent callers (one of
// which then runs its parts alone). Moved from tinyq/gemm (TestParallel) with the pool.
func TestDo(t *testing.T) {
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, parts := range []int{0, 1, 2, 3, 7, 64} {
				counts := make([]atomic.Int32, parts)
				Do(parts, func(i int) { counts[i].Add(1) })
				for i := range counts {
					if n := counts[i].Load(); n != 1 {
						t.Errorf("caller %d, %d parts: part %d ran %d times", c, parts, i, n)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestDoNested checks that a part calling Do (which then runs serially) and more parts than
// the board can count (65536, run serially) still run every part exactly once.
func TestDoNested(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Log("one CPU: every section runs serially")
	}
	const outer, inner = 4, 5
	var counts [outer * inner]atomic.Int32
	Do(outer, func(i int) {
		Do(inner, func(j int) { counts[i*inner+j].Add(1) })
	})
	for i := range counts {
		if n := counts[i].Load(); n != 1 {
			t.Errorf("nested part %d ran %d times", i, n)
		}
	}
	big := make([]atomic.Int32, 1<<16)
	Do(len(big), func(i int) { big[i].Add(1) })
	for i := range big {
		if n := big[i].Load(); n != 1 {
			t.Fatalf("part %d of %d ran %d times", i, len(big), n)
		}
	}
}

// TestDoAllocs checks that Do allocates nothing once its workers run. (testing.AllocsPerRun
// would set GOMAXPROCS to 1, where Do runs serially, so the heap's counter is read instead.)
func TestDoAllocs(t *testing.T) {
	var sum atomic.Int64
	part := func(i int) { sum.Add(int64(i)) }
	Do(4, part)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		Do(4, part)
	}
	runtime.ReadMemStats(&after)
	// Per call, as testing.AllocsPerRun counts: the counter is the whole process's, and a
	// worker that parks on its channel on a loaded machine may take a sudog from the heap
	// (the runtime's allocation, not Do's; it failed CI once that way).
	if n := (after.Mallocs - before.Mallocs) / 100; n != 0 {
		t.Errorf("100 calls of Do allocated %d times per call, want 0", n)
	}
}
