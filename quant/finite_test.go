package quant

import (
	"math"
	"math/rand"
	"testing"
)

// TestFirstNonFinite checks FirstNonFinite and AllFinite against a plain scan: lengths
// around the 4-value words and 64-value blocks, one or two NaN or ±Inf at any position, and
// finite extremes (±MaxFloat32, subnormals, ±0) that must not be taken for them.
func TestFirstNonFinite(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	finite := []float32{0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1}
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0xffc00001)}
	for _, n := range []int{0, 1, 3, 4, 5, 63, 64, 65, 127, 200} {
		for trial := range 20 {
			x := make([]float32, n)
			for i := range x {
				x[i] = finite[rng.Intn(len(finite))]
			}
			for range trial % 3 { // 0, 1 or 2 bad values
				if n > 0 {
					x[rng.Intn(n)] = bad[rng.Intn(len(bad))]
				}
			}
			want := -1
			for i, v := range x {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					want = i
					break
				}
			}
			if got := FirstNonFinite(x); got != want {
				t.Fatalf("n=%d %v: FirstNonFinite = %d, want %d", n, x, got, want)
			}
			if got := AllFinite(x); got != (want < 0) {
				t.Fatalf("n=%d %v: AllFinite = %v", n, x, got)
			}
		}
	}
}
