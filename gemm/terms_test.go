//go:build amd64 && !purego

package gemm

import (
	"math"
	"math/rand"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestTerms checks the AVX-512 list of a row's nonzero terms (nonzeroAVX512) against the Go
// loop exactly: the same values in the same order with the same offsets, with ±0 skipped and
// NaN, ±Inf and subnormals kept, for lengths around the 16-value blocks.
func TestTerms(t *testing.T) {
	if !cpu.X86.HasAVX512F {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewSource(3))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32, -1e-40}
	for _, k := range []int{1, 15, 16, 17, 31, 32, 33, 100, 784} {
		for _, zeros := range []float64{0, 0.5, 0.81, 1} {
			lda, ldb := k+rng.Intn(3), 1+rng.Intn(300)
			m := 3
			a := make([]float32, m*lda)
			for i := range a {
				switch x := rng.Float64(); {
				case x < zeros:
					a[i] = special[rng.Intn(2)]
				case x < zeros+0.05:
					a[i] = special[2+rng.Intn(len(special)-2)]
				default:
					a[i] = float32(rng.NormFloat64())
				}
			}
			s := &call{m: m, k: k, a: a, lda: lda, ldb: ldb}
			generic := *avx512Path
			generic.nonzero = nil
			for i := 0; i < m; i++ {
				vals, offs := make([]float32, k+16), make([]uintptr, k+32)
				wantV, wantO := make([]float32, k+16), make([]uintptr, k+32)
				n := avx512Path.terms(s, i, vals, offs)
				wn := generic.terms(s, i, wantV, wantO)
				if n != wn {
					t.Fatalf("k=%d zeros=%v row %d: %d terms, want %d", k, zeros, i, n, wn)
				}
				for j := 0; j < n; j++ {
					if math.Float32bits(vals[j]) != math.Float32bits(wantV[j]) || offs[j] != wantO[j] {
						t.Fatalf("k=%d zeros=%v row %d: term %d = (%v, %d), want (%v, %d)", k, zeros, i, j, vals[j], offs[j], wantV[j], wantO[j])
					}
				}
			}
		}
	}
}
