package gemm

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"testing"

	"tinyq/internal/kernel"
)

// forEachPath runs f with every path this CPU and build support made active.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	for _, p := range paths() {
		t.Run(p.name, func(t *testing.T) {
			old := setPath(p.name)
			defer func() { active = old }()
			f(t)
		})
	}
}

// reference computes alpha·op(A)·op(B) + beta·C in float64 and, per element, the error bound
// every path must meet:
//
//	|C - ref| <= γ(k+2) · (|alpha|·Σ_p |a_ip·b_pj| + |beta·c_ij|),  γ(n) = n·u/(1 - n·u), u = 2^-24
//
// This is the standard worst-case bound of recursive summation in float32 (Higham, Accuracy
// and Stability of Numerical Algorithms, §3.1): k roundings in the sum of products (fused or
// not: a product rounded separately is one more rounding, absorbed because the first term is
// exact), one for the product by alpha, one for the final sum with beta·C (the product by beta
// is rounded too but it is bounded by the same term). Paths sum in different ways (FMA or
// separate multiply and add), so they may differ from each other in the last bits, each
// within this bound.
func reference(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (ref, bound []float64) {
	ref, bound = make([]float64, m*n), make([]float64, m*n)
	u := math.Ldexp(1, -24)
	gamma := float64(k+2) * u / (1 - float64(k+2)*u)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				ai, bi := i*lda+p, p*ldb+j
				if tA {
					ai = p*lda + i
				}
				if tB {
					bi = j*ldb + p
				}
				av, bv := a[ai], b[bi]
				s += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			r := float64(alpha) * s
			e := math.Abs(float64(alpha)) * abs
			if beta != 0 {
				r += float64(beta) * float64(c[i*ldc+j])
				e += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			ref[i*n+j], bound[i*n+j] = r, gamma*e
		}
	}
	return ref, bound
}

// operands returns random A, B and C for the shapes with strides at least the widths (plus
// pad), a fraction zeros of A's elements zero (as after a ReLU or on MNIST's background).
func operands(rng *rand.Rand, tA, tB bool, m, n, k, pad int, zeros float64) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ar, ac := m, k
	if tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB {
		br, bc = n, k
	}
	lda, ldb, ldc = ac+rng.Intn(pad+1), bc+rng.Intn(pad+1), n+rng.Intn(pad+1)
	fill := func(rows, ld, cols int, zeros float64) []float32 {
		x := make([]float32, (rows-1)*ld+cols)
		for i := range x {
			if rng.Float64() >= zeros {
				x[i] = float32(rng.NormFloat64())
			}
		}
		return x
	}
	return fill(ar, lda, ac, zeros), lda, fill(br, ldb, bc, 0), ldb, fill(m, ldc, n, 0), ldc
}

type shape struct{ m, n, k int }

// tinyqShapes are the products of the 784-256-128-10 MLP: the forward pass at batch 128 and
// 1000, its backward (dx = dy·Wᵀ, dW = xᵀ·dy), and inference at batch 1 and 7.
var tinyqShapes = []shape{
	{128, 256, 784}, {128, 128, 256}, {128, 10, 128}, {1000, 10, 128},
	{128, 256, 128}, {128, 128, 10}, {784, 256, 128}, {256, 128, 128}, {128, 10, 128},
	{1, 256, 784}, {1, 128, 256}, {1, 10, 128}, {7, 256, 784},
}

// TestSgemm checks every path against the float64 reference within the bound of reference on
// fuzzed shapes (1..300, not multiples of anything), tinyq's shapes, all four transpose
// cases, and alpha, beta in {0, 1, other}.
func TestSgemm(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(1))
		shapes := append([]shape(nil), tinyqShapes...)
		if testing.Short() {
			shapes = shapes[:3]
		}
		for range 40 {
			shapes = append(shapes, shape{1 + rng.Intn(300), 1 + rng.Intn(300), 1 + rng.Intn(300)})
		}
		for range 20 { // small ones: every edge case of the tiles and rows
			shapes = append(shapes, shape{1 + rng.Intn(20), 1 + rng.Intn(200), 1 + rng.Intn(20)})
		}
		scalars := []float32{0, 1, -0.75}
		for si, s := range shapes {
			for tr := range 4 {
				tA, tB := tr&1 != 0, tr&2 != 0
				alpha, beta := scalars[(si+tr)%3], scalars[(si+tr/2)%3]
				if si%5 == 0 {
					alpha = 1
				}
				checkOne(t, rng, tA, tB, s, alpha, beta)
			}
		}
	})
}

func checkOne(t *testing.T, rng *rand.Rand, tA, tB bool, s shape, alpha, beta float32) {
	t.Helper()
	zeros := []float64{0.25, 0.8}[rng.Intn(2)] // dense, or sparse enough for the row kernel
	a, lda, b, ldb, c, ldc := operands(rng, tA, tB, s.m, s.n, s.k, 3, zeros)
	ref, bound := reference(tA, tB, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN()) // must not be read
		}
	}
	Sgemm(tA, tB, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, c, ldc)
	for i := 0; i < s.m; i++ {
		for j := 0; j < s.n; j++ {
			got, want := float64(c[i*ldc+j]), ref[i*s.n+j]
			if !(math.Abs(got-want) <= bound[i*s.n+j]) {
				t.Fatalf("tA=%v tB=%v %+v alpha=%v beta=%v: C[%d,%d] = %v, want %v within %.3g", tA, tB, s, alpha, beta, i, j, got, want, bound[i*s.n+j])
			}
		}
	}
}

// TestDeterministic checks that each path's results do not depend on GOMAXPROCS (bit for
// bit), nor on how C is cut into calls: computing blocks of rows or of columns separately,
// at other offsets than the tiles of the whole, gives the same values; only the sign of a
// zero may differ (the row and list kernels skip zero terms, and whether they run depends on
// the block's shape and rows; see the package doc). C and B here are finite and nonzero, so
// no skipped term could hide an infinity.
func TestDeterministic(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(2))
		for _, s := range []shape{{128, 256, 784}, {203, 150, 97}, {1000, 10, 128}, {784, 256, 128}} {
			for tr := range 4 {
				tA, tB := tr&1 != 0, tr&2 != 0
				a, lda, b, ldb, c0, ldc := operands(rng, tA, tB, s.m, s.n, s.k, 2, []float64{0.25, 0.8}[tr%2])
				run := func(procs int) []float32 {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
					c := append([]float32(nil), c0...)
					Sgemm(tA, tB, s.m, s.n, s.k, 1, a, lda, b, ldb, 1, c, ldc)
					return c
				}
				want := run(1)
				for _, procs := range []int{2, 3, 8} {
					if got := run(procs); !bitsEqual(got, want) {
						t.Fatalf("tA=%v tB=%v %+v: GOMAXPROCS=%d differs from 1", tA, tB, s, procs)
					}
				}
				// Rows in blocks of 1, 5, 13 and 1 (then the rest), at offsets off the tiles.
				c := append([]float32(nil), c0...)
				for i, blk := 0, 0; i < s.m; blk++ {
					h := min([]int{1, 5, 13, 1}[blk%4], s.m-i)
					off := i * lda
					if tA {
						off = i
					}
					ai := a[off:]
					Sgemm(tA, tB, h, s.n, s.k, 1, ai, lda, b, ldb, 1, c[i*ldc:], ldc)
					i += h
				}
				if !valuesEqual(c, want) {
					t.Fatalf("tA=%v tB=%v %+v: computed in blocks of rows, C differs", tA, tB, s)
				}
				// Columns in two blocks split at 37.
				if s.n > 37 {
					c = append(c[:0], c0...)
					for _, j := range []int{0, 37} {
						w := 37
						if j > 0 {
							w = s.n - 37
						}
						off := j
						if tB {
							off = j * ldb
						}
						bj := b[off:]
						Sgemm(tA, tB, s.m, w, s.k, 1, a, lda, bj, ldb, 1, c[j:], ldc)
					}
					if !valuesEqual(c, want) {
						t.Fatalf("tA=%v tB=%v %+v: computed in blocks of columns, C differs", tA, tB, s)
					}
				}
			}
		}
	})
}

func bitsEqual(x, y []float32) bool {
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

func valuesEqual(x, y []float32) bool {
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// TestPathsAgree checks that the paths agree with each other on tinyq's first layer (128
// rows of 784 pixels, a quarter of them zero, times 784x256 weights, plus a bias in C) within
// the tolerance the package documentation derives: every path is within reference's bound
// γ(k+2)·Σ|terms| of the float64 result, so two paths are within twice that bound of each
// other (triangle inequality). It logs how close they are in fact.
func TestPathsAgree(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	s := shape{128, 256, 784}
	a, lda, b, ldb, c0, ldc := operands(rng, false, false, s.m, s.n, s.k, 0, 0.25)
	_, bound := reference(false, false, s.m, s.n, s.k, 1, a, lda, b, ldb, 1, c0, ldc)
	var results [][]float32
	var names []string
	for _, p := range paths() {
		old := setPath(p.name)
		c := append([]float32(nil), c0...)
		Sgemm(false, false, s.m, s.n, s.k, 1, a, lda, b, ldb, 1, c, ldc)
		active = old
		results, names = append(results, c), append(names, p.name)
	}
	if len(results) == 1 {
		t.Skipf("only the %s path runs here", names[0])
	}
	for x := 0; x < len(results); x++ {
		for y := x + 1; y < len(results); y++ {
			var maxRel, maxRatio float64
			same := 0
			for i := 0; i < s.m; i++ {
				for j := 0; j < s.n; j++ {
					v, w := float64(results[y][i*ldc+j]), float64(results[x][i*ldc+j])
					tol := 2 * bound[i*s.n+j]
					if v == w {
						same++
					} else if !(math.Abs(v-w) <= tol) {
						t.Fatalf("%s vs %s: C[%d,%d] = %v and %v, %.3g apart, want within %.3g", names[y], names[x], i, j, v, w, math.Abs(v-w), tol)
					}
					maxRel = max(maxRel, math.Abs(v-w)/math.Abs(w))
					maxRatio = max(maxRatio, math.Abs(v-w)/tol)
				}
			}
			t.Logf("%s vs %s: %d of %d equal, max relative difference %.2g, max difference %.2g of the tolerance", names[y], names[x], same, s.m*s.n, maxRel, maxRatio)
		}
	}
}

// TestSgemmBadSizes checks that bad shapes and short slices panic with a gemm error.
func TestSgemmBadSizes(t *testing.T) {
	x := make([]float32, 12)
	for _, tc := range []struct {
		name             string
		tA, tB           bool
		m, n, k, la, lda int
		lb, ldb, lc, ldc int
	}{
		{"negative m", false, false, -1, 2, 2, 4, 2, 4, 2, 4, 2},
		{"lda too small", false, false, 2, 2, 3, 6, 2, 6, 2, 4, 2},
		{"lda too small for Aᵀ", true, false, 3, 2, 2, 6, 2, 4, 2, 6, 2},
		{"a too short", false, false, 2, 2, 3, 5, 3, 6, 2, 4, 2},
		{"b too short", false, true, 2, 2, 3, 6, 3, 5, 3, 4, 2},
		{"c too short", false, false, 2, 2, 3, 6, 3, 6, 2, 3, 2},
		{"ldc too small", false, false, 2, 3, 2, 4, 2, 6, 3, 6, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Fatal("no panic")
				} else if e, ok := r.(error); !ok || e.Error()[:5] != "gemm:" {
					t.Fatalf("panic %v, want a gemm error", r)
				}
			}()
			Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, 1, x[:tc.la], tc.lda, x[:tc.lb], tc.ldb, 0, x[:tc.lc], tc.ldc)
		})
	}
}

// TestAllocs checks that a call allocates nothing at steady state (the pools are warm).
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(4))
		for _, s := range []shape{{128, 256, 784}, {1, 256, 784}, {784, 256, 128}} {
			for tr := range 4 {
				tA, tB := tr&1 != 0, tr&2 != 0
				a, lda, b, ldb, c, ldc := operands(rng, tA, tB, s.m, s.n, s.k, 0, 0.8)
				n := testing.AllocsPerRun(20, func() {
					Sgemm(tA, tB, s.m, s.n, s.k, 1, a, lda, b, ldb, 1, c, ldc)
				})
				if n >= 1 {
					t.Errorf("tA=%v tB=%v %+v: %v allocations per call", tA, tB, s, n)
				}
				if tr == 0 {
					bias := make([]float32, s.n)
					if n := testing.AllocsPerRun(20, func() {
						Affine(s.m, s.n, s.k, a, lda, b, ldb, bias, true, c, ldc)
					}); n >= 1 {
						t.Errorf("Affine %+v: %v allocations per call", s, n)
					}
				}
			}
		}
	})
}

// pathInfo is one float path's name and whether this CPU and build run it.
type pathInfo struct {
	name      string
	supported bool
}

// pathSupport lists every float path, slowest first, and whether this CPU and build run it,
// and logs the list: tests iterate over it (or over paths) and never infer what is missing
// from how many paths are supported, nor one path from another (AVX-512 does not imply
// AVX-512 VNNI, nor AVX2 FMA).
func pathSupport(t testing.TB) []pathInfo {
	t.Helper()
	var ps []pathInfo
	var log []string
	for _, name := range kernel.Names(kernel.Float) {
		ps = append(ps, pathInfo{name, pathNamed(name) != nil})
		log = append(log, fmt.Sprintf("%s %v", name, ps[len(ps)-1].supported))
	}
	t.Logf("float paths, supported here: %s; in use: %s", strings.Join(log, ", "), ActivePath())
	return ps
}

// supports reports whether the float path of that name runs here.
func supports(name string) bool { return pathNamed(name) != nil }

// TestChoosePath checks how TINYQ_KERNEL chooses a path, on whatever set of paths this CPU
// supports: every supported float path can be chosen by name, every other one is refused
// with an error naming it (issue 18, item 15: unknown and unsupported values were silently
// ignored), and the process runs the path internal/kernel selected (the fastest one when the
// variable is unset). Issue 18, item 1: it iterates over every path and whether it is
// supported.
func TestChoosePath(t *testing.T) {
	host := kernel.Host()
	all := paths()
	if all[0] != genericPath {
		t.Errorf("paths()[0] = %s, want generic", all[0].name)
	}
	for _, p := range pathSupport(t) {
		c, err := kernel.Choose(p.name, host)
		switch {
		case p.supported && (err != nil || c.Float != p.name):
			t.Errorf("%s is supported: chose %s, %v", p.name, c.Float, err)
		case !p.supported && (err == nil || !strings.Contains(err.Error(), p.name)):
			t.Errorf("%s is not supported: chose %s, error %v, want one naming it", p.name, c.Float, err)
		}
	}
	if _, err := kernel.Choose("bogus", host); err == nil {
		t.Error("bogus: no error")
	}
	want := all[len(all)-1].name
	if env := os.Getenv(kernel.Var); env != "" {
		c, _ := kernel.Choose(env, host)
		want = c.Float
	}
	if ActivePath() != Path(want) {
		t.Errorf("%s=%q: ActivePath() = %s, want %s", kernel.Var, os.Getenv(kernel.Var), ActivePath(), want)
	}
	_, err := kernel.Selected()
	if RequestError() != err {
		t.Errorf("RequestError() = %v, want internal/kernel's %v", RequestError(), err)
	}
}

func BenchmarkSgemm(b *testing.B) {
	for _, p := range paths() {
		// zeros: MNIST images have 81% zero pixels (the first layer's forward and dW), a
		// ReLU's output about half.
		for _, c := range []struct {
			name    string
			tA, tB  bool
			m, n, k int
			zeros   float64
		}{
			{"fwd-128x256x784-dense", false, false, 128, 256, 784, 0},
			{"fwd-128x256x784-mnist", false, false, 128, 256, 784, 0.81},
			{"dx-128x256x128", false, true, 128, 256, 128, 0},
			{"dw-784x256x128-mnist", true, false, 784, 256, 128, 0.81},
			{"dw-256x128x128-relu", true, false, 256, 128, 128, 0.5},
			{"fwd-1000x256x784-mnist", false, false, 1000, 256, 784, 0.81},
			{"fwd-1x256x784-mnist", false, false, 1, 256, 784, 0.81},
		} {
			b.Run(fmt.Sprintf("%s/%s", p.name, c.name), func(b *testing.B) {
				old := setPath(p.name)
				defer func() { active = old }()
				rng := rand.New(rand.NewSource(1))
				a, lda, bb, ldb, cc, ldc := operands(rng, c.tA, c.tB, c.m, c.n, c.k, 0, c.zeros)
				b.ReportAllocs()
				for b.Loop() {
					Sgemm(c.tA, c.tB, c.m, c.n, c.k, 1, a, lda, bb, ldb, 0, cc, ldc)
				}
				b.ReportMetric(float64(c.m*c.n*c.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFMA/s")
			})
		}
	}
}

// TestListPartialTile checks op(A) = Aᵀ whose first tile is sparse enough for the list kernel
// and whose last, partial tile is dense: that tile falls back to the tile kernel on its padded
// copy, which the list's column mask once overwrote. Exact: small integers.
func TestListPartialTile(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		for _, m := range []int{12, 15, 17} {
			n, k := 40, 64
			a := make([]float32, k*m) // Aᵀ: A stored k×m
			for p := 0; p < k; p++ {
				for i := 0; i < m; i++ {
					if i >= m/8*8 || p < 10 { // full tiles: 10 nonzero columns of 64
						a[p*m+i] = float32(1 + (p+i)%5)
					}
				}
			}
			b := make([]float32, k*n)
			for i := range b {
				b[i] = float32(1 + i%3)
			}
			c := make([]float32, m*n)
			Sgemm(true, false, m, n, k, 1, a, m, b, n, 0, c, n)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var want float32
					for p := 0; p < k; p++ {
						want += a[p*m+i] * b[p*n+j]
					}
					if c[i*n+j] != want {
						t.Fatalf("m=%d: C[%d,%d] = %v, want %v", m, i, j, c[i*n+j], want)
					}
				}
			}
		}
	})
}
