//go:build amd64 && gc && !purego

package gemm

import (
	"math"
	"math/rand"
	"testing"
)

// TestNarrowProducts checks that the avx512 path's products of at most 16 columns, which
// run on the AVX2 tiles (tiledPath.narrow), equal the AVX-512 tiles' results bit for bit
// (signs of zeros included): Sgemm with beta 0, 1 and 0.5, and Affine with and without
// ReLU, on shapes around the tiles' 8 and 6 rows, with zeros, signed zeros and a NaN in A.
func TestNarrowProducts(t *testing.T) {
	if !supports("avx512") || avx512Path.narrow == nil {
		t.Skip("no avx512 path with AVX2 tiles here")
	}
	wide := *avx512Path
	wide.narrow = nil
	rng := rand.New(rand.NewSource(5))
	for _, m := range []int{1, 5, 6, 7, 8, 9, 17, 100} {
		for _, n := range []int{1, 3, 8, 10, 15, 16} {
			for _, k := range []int{1, 7, 25, 64} {
				tB := rng.Intn(2) == 0
				a := make([]float32, m*k)
				for i := range a {
					switch x := rng.Intn(20); {
					case x < 5:
						a[i] = 0
					case x == 5:
						a[i] = float32(math.Copysign(0, -1))
					default:
						a[i] = float32(rng.NormFloat64())
					}
				}
				if m*k > 50 {
					a[rng.Intn(len(a))] = float32(math.NaN())
				}
				b := make([]float32, k*n)
				for i := range b {
					b[i] = float32(rng.NormFloat64())
				}
				ldb := n
				if tB {
					ldb = k
				}
				bias := make([]float32, n)
				for i := range bias {
					bias[i] = float32(rng.NormFloat64())
				}
				c0 := make([]float32, m*n)
				for i := range c0 {
					c0[i] = float32(rng.NormFloat64())
				}
				for _, beta := range []float32{0, 1, 0.5} {
					got, want := append([]float32(nil), c0...), append([]float32(nil), c0...)
					avx512Path.gemm(false, tB, m, n, k, a, k, b, ldb, beta, got, n)
					wide.gemm(false, tB, m, n, k, a, k, b, ldb, beta, want, n)
					sameBits(t, "Sgemm", m, n, k, got, want)
				}
				if tB {
					continue
				}
				for _, relu := range []bool{false, true} {
					got, want := make([]float32, m*n), make([]float32, m*n)
					avx512Path.affine(m, n, k, a, k, b, n, bias, relu, got, n)
					wide.affine(m, n, k, a, k, b, n, bias, relu, want, n)
					sameBits(t, "Affine", m, n, k, got, want)
				}
			}
		}
	}
}

func sameBits(t *testing.T, what string, m, n, k int, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s %dx%dx%d: element %d = %v (%#x), AVX-512 tiles %v (%#x)", what, m, n, k, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}
