//go:build amd64 && gc && !purego

package gemm

import (
	"math"
	"math/rand"
	"testing"
)

// TestTerms checks the AVX-512 list of a row's nonzero terms (nonzeroAVX512) against the Go
// loop exactly: the same values in the same order with the same offsets, with ±0 skipped and
// NaN, ±Inf and subnormals kept, for lengths around the 16-value blocks.
func TestTerms(t *testing.T) {
	if !supports("avx512") {
		t.Skip("no avx512 path here")
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

// TestCols8 checks the assembly column list of a full 8-row tile of op(A) = Aᵀ (cols8AVX,
// through listColumns) against a direct reading: the columns with a value other than ±0 (NaN
// included), in order, their 8 values bit for bit, and -1 past max.
func TestCols8(t *testing.T) {
	if !supports("avx2") {
		t.Skip("no avx2 path here")
	}
	rng := rand.New(rand.NewSource(6))
	for _, k := range []int{1, 7, 128, 300} {
		for _, zeros := range []float64{0.5, 0.97, 1} {
			m := 8 + rng.Intn(9)
			lda := m + rng.Intn(3)
			a := make([]float32, k*lda)
			for i := range a {
				switch x := rng.Float64(); {
				case x < zeros:
					a[i] = float32(math.Copysign(0, float64(rng.Intn(2)*2-1)))
				case x < zeros+0.01:
					a[i] = float32(math.NaN())
				default:
					a[i] = float32(rng.NormFloat64())
				}
			}
			s := &call{tA: true, m: m, k: k, a: a, lda: lda}
			i0 := rng.Intn(m - 7)
			pack, idx, scratch := make([]float32, (k+1)*8), make([]uintptr, k+1), make([]float32, k)
			n := listColumns(pack, idx, scratch, s, i0, 8, 8, k)
			var want []uintptr
			for p := 0; p < k; p++ {
				for r := 0; r < 8; r++ {
					if v := a[p*lda+i0+r]; v != 0 {
						want = append(want, uintptr(p))
						break
					}
				}
			}
			if n != len(want) {
				t.Fatalf("k=%d zeros=%v: %d columns, want %d", k, zeros, n, len(want))
			}
			for c, p := range want {
				if idx[c] != p {
					t.Fatalf("k=%d zeros=%v: column %d is %d, want %d", k, zeros, c, idx[c], p)
				}
				for r := 0; r < 8; r++ {
					if got, v := pack[c*8+r], a[int(p)*lda+i0+r]; math.Float32bits(got) != math.Float32bits(v) {
						t.Fatalf("k=%d zeros=%v: column %d row %d = %v, want %v", k, zeros, p, r, got, v)
					}
				}
			}
			if len(want) > 0 {
				if got := listColumns(pack, idx, scratch, s, i0, 8, 8, len(want)-1); got != -1 {
					t.Fatalf("k=%d zeros=%v: max %d gave %d, want -1", k, zeros, len(want)-1, got)
				}
			}
		}
	}
}
