package infer_test

import (
	"math/rand"
	"testing"

	"tinyq/nn"
	"tinyq/ptq"
)

// TestForwardAllocations: once warm, an integer or float model's Forward allocates nothing at
// batch 1 (one goroutine) and, at batch 1000, only what starting its goroutines costs, a constant
// independent of the batch (measured: 7 small allocations with 2 workers, on every path).
func TestForwardAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	m, err := nn.NewMLP([]int{784, 64, 32, 10}, rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	fm, err := m.FloatModel()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	x := make([]float32, 1000*784)
	for i := range x {
		if rng.Intn(5) == 0 {
			x[i] = rng.Float32()
		}
	}
	for _, cfg := range []ptq.Config{ptq.Spec(ptq.Static, 8, 8), ptq.Spec(ptq.Static, 4, 4), ptq.Spec(ptq.Dynamic, 8, 8)} {
		var plan ptq.Plan
		if cfg.Mode == ptq.Static {
			if plan.Inputs, err = ptq.Calibrate(fm, cfg, x[:256*784]); err != nil {
				t.Fatal(err)
			}
		}
		im, err := ptq.Convert(fm, cfg, plan)
		if err != nil {
			t.Fatal(err)
		}
		logits := make([]float32, 1000*10)
		for _, c := range []struct {
			rows int
			max  float64
		}{{1, 0}, {1000, 12}} {
			im.Workers = 2
			n := testing.AllocsPerRun(20, func() {
				if err := im.Forward(x[:c.rows*784], c.rows, logits[:c.rows*10]); err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%s batch %d: %v allocations", cfg.Name(), c.rows, n)
			if n > c.max {
				t.Errorf("%s batch %d: %v allocations per Forward, want at most %v", cfg.Name(), c.rows, n, c.max)
			}
		}
	}
	// The float model: the same, through gemm.Affine.
	fm.Workers = 2
	logits := make([]float32, 1000*10)
	for _, c := range []struct {
		rows int
		max  float64
	}{{1, 0}, {1000, 12}} {
		n := testing.AllocsPerRun(20, func() {
			if err := fm.Forward(x[:c.rows*784], c.rows, logits[:c.rows*10]); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("fp32 batch %d: %v allocations", c.rows, n)
		if n > c.max {
			t.Errorf("fp32 batch %d: %v allocations per Forward, want at most %v", c.rows, n, c.max)
		}
	}
}
