package autograd

import (
	"math"
	"math/rand"
	"testing"
)

// TestLSQKernelsMatchReference: dotDiff and rowAccum give bit for bit the sums of their Go
// references (dotDiffLanes plus the tail in order; the per-column loop) on lengths that are
// not multiples of anything, with the AVX-512 loops where the CPU has them and the Go loops
// (as in a purego build) alike.
func TestLSQKernelsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 257, 1031} {
		dy, y, dx, x := randF32(rng, n, 1), randF32(rng, n, 2), randF32(rng, n, 1), randF32(rng, n, 3)
		done := n &^ 7
		want := dotDiffLanes(dy[:done], y[:done], dx[:done], x[:done])
		for i := done; i < n; i++ {
			want += float64(dy[i]) * float64(y[i])
			want -= float64(dx[i]) * float64(x[i])
		}
		wantRow := randF64(rng, n)
		sums := append([]float64(nil), wantRow...)
		for c := range wantRow {
			wantRow[c] += float64(dy[c]) * float64(y[c])
			wantRow[c] -= float64(dx[c]) * float64(x[c])
		}
		for _, asm := range []bool{true, false} {
			saved := lsqAsmEnabled(asm)
			if got := dotDiff(dy, y, dx, x); math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("n %d asm %t: dotDiff %v, reference %v", n, asm, got, want)
			}
			s := append([]float64(nil), sums...)
			rowAccum(s, dy, y, dx, x)
			for c := range s {
				if math.Float64bits(s[c]) != math.Float64bits(wantRow[c]) {
					t.Errorf("n %d asm %t: rowAccum column %d %v, reference %v", n, asm, c, s[c], wantRow[c])
				}
			}
			lsqAsmEnabled(saved)
		}
	}
}

func randF64(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}
