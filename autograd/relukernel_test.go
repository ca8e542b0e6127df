package autograd

import (
	"math"
	"math/rand"
	"testing"
)

// TestReluKernels checks ReLU and its gradient with the assembly loops (where the CPU has
// them) against the Go loops, bit for bit, on lengths around the 16-element blocks and on
// special values (±0, ±Inf, NaNs of both signs, subnormals). A NaN input may give another
// NaN in the forward pass (Go's max returns its own); the gradient is exact everywhere.
func TestReluKernels(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.Float32frombits(0xffc00000), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32}
	rng := rand.New(rand.NewSource(5))
	for _, n := range []int{0, 1, 15, 16, 17, 33, 128 * 256} {
		x, dy := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			if rng.Intn(10) == 0 {
				x[i] = special[rng.Intn(len(special))]
			}
			dy[i] = float32(rng.NormFloat64())
			if rng.Intn(10) == 0 {
				dy[i] = special[rng.Intn(len(special))]
			}
		}
		run := func(asm bool) (y, dx []float32) {
			defer reluAsmEnabled(reluAsmEnabled(asm))
			y, dx = make([]float32, n), make([]float32, n)
			for i := reluBlocks(y, x); i < n; i++ {
				y[i] = max(x[i], 0)
			}
			for i := reluGradBlocks(dx, x, dy); i < n; i++ {
				dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & positiveMask(x[i]))
			}
			return y, dx
		}
		y, dx := run(true)
		wy, wdx := run(false)
		for i := range x {
			if math.Float32bits(y[i]) != math.Float32bits(wy[i]) && !(y[i] != y[i] && wy[i] != wy[i]) {
				t.Fatalf("n=%d: relu(%v = %#08x) = %#08x, want %#08x", n, x[i], math.Float32bits(x[i]), math.Float32bits(y[i]), math.Float32bits(wy[i]))
			}
			if math.Float32bits(dx[i]) != math.Float32bits(wdx[i]) {
				t.Fatalf("n=%d: relu gradient at y=%v, dy=%v: %#08x, want %#08x", n, x[i], dy[i], math.Float32bits(dx[i]), math.Float32bits(wdx[i]))
			}
		}
	}
}
