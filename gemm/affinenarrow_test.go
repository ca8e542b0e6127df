package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAffineNarrow checks AffineNarrow against Affine bit for bit on every path this CPU
// runs (the AVX-512 kernel for n = 16, Affine itself otherwise), for row counts around
// the kernel's groups of 8, short and long k, padded strides, values with zeros of both
// signs, and calls it must hand to Affine (other widths, ReLU, a strided B).
func TestAffineNarrow(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	val := func() float32 {
		switch r.IntN(8) {
		case 0:
			return 0
		case 1:
			return float32(math.Copysign(0, -1))
		}
		return float32(r.NormFloat64())
	}
	for _, name := range PathNamesForTest() {
		restore := SetPathForTest(name)
		for _, tc := range []struct {
			m, n, k, lda, ldb, ldc int
			relu                   bool
		}{
			{8, 16, 25, 25, 16, 16, false}, {2352, 16, 25, 25, 16, 16, false}, {13, 16, 25, 27, 16, 19, false},
			{7, 16, 3, 3, 16, 16, false}, {1, 16, 1, 1, 16, 16, false}, {0, 16, 5, 5, 16, 16, false},
			{33, 16, 40, 41, 16, 16, false}, {24, 16, 25, 25, 16, 16, true}, {24, 16, 25, 25, 17, 16, false},
			{24, 32, 25, 25, 32, 32, false}, {24, 8, 9, 9, 8, 8, false},
		} {
			a := make([]float32, max(0, (tc.m-1)*tc.lda+tc.k))
			b := make([]float32, (tc.k-1)*tc.ldb+tc.n)
			bias := make([]float32, tc.n)
			for _, s := range [][]float32{a, b, bias} {
				for i := range s {
					s[i] = val()
				}
			}
			cs := max(0, (tc.m-1)*tc.ldc+tc.n)
			want, got := make([]float32, cs), make([]float32, cs)
			for i := range got {
				want[i], got[i] = 5, 5 // the padding between rows must survive
			}
			Affine(tc.m, tc.n, tc.k, a, tc.lda, b, tc.ldb, bias, tc.relu, want, tc.ldc)
			AffineNarrow(tc.m, tc.n, tc.k, a, tc.lda, b, tc.ldb, bias, tc.relu, got, tc.ldc)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("path %s, %+v: c[%d] = %v, want %v", name, tc, i, got[i], want[i])
				}
			}
		}
		restore()
	}
}

// BenchmarkAffineNarrow runs the CNN's first convolution's product for 3 images (2352
// patches of 25 values, 16 outputs) with AffineNarrow and Affine.
func BenchmarkAffineNarrow(b *testing.B) {
	const m, n, k = 2352, 16, 25
	r := rand.New(rand.NewPCG(1, 2))
	a, w, bias, c := make([]float32, m*k), make([]float32, k*n), make([]float32, n), make([]float32, m*n)
	for _, s := range [][]float32{a, w, bias} {
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
	}
	b.Run("AffineNarrow", func(b *testing.B) {
		for b.Loop() {
			AffineNarrow(m, n, k, a, k, w, n, bias, false, c, n)
		}
	})
	b.Run("Affine", func(b *testing.B) {
		for b.Loop() {
			Affine(m, n, k, a, k, w, n, bias, false, c, n)
		}
	})
}
