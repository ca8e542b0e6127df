package gemm

import (
	"math"
	"math/rand"
	"testing"
)

// TestAffine checks, on every path, that Affine equals bit for bit copying the bias into
// every row of C, Sgemm with beta = 1, then max(c, 0): on tinyq's shapes and fuzzed ones
// (every edge of the tiles and rows), dense and sparse A (the tile and row kernels), with
// and without ReLU, and with ±Inf and NaN in A so that some results are NaN or infinite.
func TestAffine(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(4))
		shapes := []shape{{128, 256, 784}, {1000, 128, 256}, {1, 256, 784}, {7, 256, 784}, {128, 10, 128}, {3, 130, 5},
			{1, 128, 0}, {9, 40, 0}} // k = 0: C is the bias (then ReLU)
		for range 30 {
			shapes = append(shapes, shape{1 + rng.Intn(150), 1 + rng.Intn(300), 1 + rng.Intn(200)})
		}
		for si, s := range shapes {
			for v := range 4 {
				relu, zeros := v&1 != 0, []float64{0.25, 0.81}[v>>1]
				var a, b, c []float32
				var lda, ldb, ldc int
				if s.k > 0 {
					a, lda, b, ldb, c, ldc = operands(rng, false, false, s.m, s.n, s.k, 2, zeros)
				} else {
					a, lda, ldb, c, ldc = make([]float32, s.m), 1, s.n, make([]float32, s.m*s.n), s.n
				}
				if si%3 == 0 && s.k > 0 {
					special := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
					for range 4 {
						a[rng.Intn(len(a))] = special[rng.Intn(3)]
					}
				}
				bias := make([]float32, s.n+rng.Intn(3))
				for j := range bias {
					bias[j] = float32(rng.NormFloat64())
					if j%7 == 0 { // with an A row of zeros, a -0 result: ReLU makes it +0
						bias[j] = float32(math.Copysign(0, -1))
					}
				}
				clear(a[:s.k]) // row 0 (A is not read when k = 0)
				want := append([]float32(nil), c...)
				for i := 0; i < s.m; i++ {
					copy(want[i*ldc:i*ldc+s.n], bias)
				}
				Sgemm(false, false, s.m, s.n, s.k, 1, a, lda, b, ldb, 1, want, ldc)
				if relu {
					for i := 0; i < s.m; i++ {
						for j := i * ldc; j < i*ldc+s.n; j++ {
							want[j] = max(want[j], 0)
						}
					}
				}
				for i := range c {
					c[i] = float32(math.NaN()) // C is not read
				}
				for i := 0; i < s.m; i++ { // but left as is past n
					copy(c[i*ldc+s.n:min(len(c), (i+1)*ldc)], want[i*ldc+s.n:])
				}
				Affine(s.m, s.n, s.k, a, lda, b, ldb, bias, relu, c, ldc)
				for i := range c {
					// Bit for bit, except that a NaN may be another NaN (Go's max returns its
					// own; the kernels keep the sum's).
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) && !(c[i] != c[i] && want[i] != want[i]) {
						t.Fatalf("%+v relu=%v zeros=%v: C[%d,%d] = %v (%#x), want %v (%#x)", s, relu, zeros, i/ldc, i%ldc, c[i], math.Float32bits(c[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	})
}

// TestAffineBadSizes checks that a short bias panics with a "gemm:" message.
func TestAffineBadSizes(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !startsWith(r, "gemm: len(bias)") {
			t.Fatalf("recovered %v, want a gemm: len(bias) panic", r)
		}
	}()
	Affine(2, 3, 4, make([]float32, 8), 4, make([]float32, 12), 3, make([]float32, 2), false, make([]float32, 6), 3)
}

func startsWith(r any, prefix string) bool {
	err, ok := r.(error)
	return ok && len(err.Error()) >= len(prefix) && err.Error()[:len(prefix)] == prefix
}
