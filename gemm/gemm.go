package gemm

import (
	"fmt"
	"runtime"
	"sync"

	"tinyq/internal/kernel"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major float32 matrices, where op(A)
// is m×k (A itself if tA is false, else Aᵀ with A stored k×m), op(B) is k×n (B, or Bᵀ with B
// stored n×k) and C is m×n. lda, ldb and ldc are the row strides of A, B and C as stored.
// These are the semantics of BLAS sgemm and of gonum's blas.Float32Level3.Sgemm with
// row-major storage.
//
// Every element is computed as described in the package documentation (# Arithmetic), the
// same way whatever m, n, the position of the element or the number of goroutines; with
// beta = 0, C is not read (NaN in C does not propagate). Sgemm panics on bad sizes, like
// gonum's BLAS. The caller's slices are only read, except c.
func Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := check(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err)
	}
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	if alpha != 1 {
		// The paths compute alpha = 1: give them alpha·op(A), rounded, as an m×k matrix.
		buf := buffers.get(m * k)
		as := *buf
		for i := 0; i < m; i++ {
			for p := 0; p < k; p++ {
				if tA {
					as[i*k+p] = float32(alpha * a[p*lda+i])
				} else {
					as[i*k+p] = float32(alpha * a[i*lda+p])
				}
			}
		}
		active.gemm(false, tB, m, n, k, as, k, b, ldb, beta, c, ldc)
		buffers.put(buf)
		return
	}
	active.gemm(tA, tB, m, n, k, a, lda, b, ldb, beta, c, ldc)
}

// Affine computes C = op(A·B + bias), with op ReLU (max(x, 0), NaN kept) if relu is set,
// else the identity: A is m×k, B k×n, bias has n elements added to every row, C is m×n; lda,
// ldb and ldc are row strides. This is a neural network's fully connected layer, with the
// bias and the activation applied inside the kernels instead of in passes over C.
//
// It equals bit for bit, on every path, copying bias into every row of C, then
// Sgemm(false, false, m, n, k, 1, a, lda, b, ldb, 1, c, ldc), then c = max(c, 0) for every
// element if relu: each element starts at its bias and gets the terms in the same order
// (see the package documentation). The one difference: a NaN may have other bits than the
// one Go's max returns. C is only written. Affine panics on bad sizes, like Sgemm.
func Affine(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, relu bool, c []float32, ldc int) {
	if err := check(false, false, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err)
	}
	if len(bias) < n {
		panic(fmt.Errorf("gemm: len(bias)=%d for %d columns", len(bias), n))
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || active.affine == nil {
		for i := 0; i < m; i++ {
			copy(c[i*ldc:i*ldc+n], bias)
		}
		if k > 0 { // the paths compute k > 0 only
			active.gemm(false, false, m, n, k, a, lda, b, ldb, 1, c, ldc)
		}
		if relu {
			for i := 0; i < m; i++ {
				row := c[i*ldc : i*ldc+n]
				for j, v := range row {
					row[j] = max(v, 0)
				}
			}
		}
		return
	}
	active.affine(m, n, k, a, lda, b, ldb, bias, relu, c, ldc)
}

// check returns an error if the sizes are negative or the slices too short for the shapes
// and strides (the last row of a matrix may be shorter than its stride).
func check(tA, tB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("gemm: negative size m=%d n=%d k=%d", m, n, k)
	}
	ar, ac := m, k
	if tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB {
		br, bc = n, k
	}
	for _, x := range []struct {
		name              string
		rows, cols, ld, n int
	}{{"a", ar, ac, lda, la}, {"b", br, bc, ldb, lb}, {"c", m, n, ldc, lc}} {
		if x.ld < max(1, x.cols) {
			return fmt.Errorf("gemm: ld%s=%d for %d columns", x.name, x.ld, x.cols)
		}
		if x.rows > 0 && x.cols > 0 && x.n < (x.rows-1)*x.ld+x.cols {
			return fmt.Errorf("gemm: len(%s)=%d for %dx%d with stride %d", x.name, x.n, x.rows, x.cols, x.ld)
		}
	}
	return nil
}

// scale sets C = beta·C (C = 0 when beta is 0, whatever C held): the result when alpha or k
// is zero.
func scale(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] = float32(beta * row[j])
		}
	}
}

// path is one implementation of Sgemm's core: alpha = 1, k > 0, m, n > 0.
type path struct {
	name string
	gemm func(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// affine is Affine for k > 0, or nil: Affine then copies the bias and calls gemm.
	affine func(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, relu bool, c []float32, ldc int)
}

// genericPath is the pure-Go path: every build and architecture has it.
var genericPath = &path{name: "generic", gemm: genericGemm}

// active is the path in use, chosen once at start by tinyq/internal/kernel (the fastest
// path this CPU supports, or TINYQ_KERNEL's choice); only tests change it afterwards
// (setPath).
var active = func() *path {
	c, _ := kernel.Selected()
	return pathNamed(c.Float)
}()

// Path names one implementation of Sgemm and Affine: "generic", "avx2" or "avx512", as
// TINYQ_KERNEL spells it. tinyq/qkernel's Path is its integer counterpart.
type Path string

// The float paths. Which of them this CPU and build run is decided by tinyq/internal/kernel.
const (
	// Generic is the pure-Go path every CPU and architecture runs.
	Generic Path = "generic"
	// AVX2 uses 256-bit FMA registers.
	AVX2 Path = "avx2"
	// AVX512 uses 512-bit FMA registers.
	AVX512 Path = "avx512"
)

// String returns the path's name as TINYQ_KERNEL spells it, e.g. "avx512".
func (p Path) String() string { return string(p) }

// ActivePath returns the path Sgemm uses in this process (as qkernel.ActivePath does for the
// integer kernels). Paths agree within the tolerance stated in the package documentation;
// each is deterministic on its own.
func ActivePath() Path { return Path(active.name) }

// RequestError reports a TINYQ_KERNEL setting that could not be honoured: an unknown name,
// or a float or integer path this CPU and build do not support (one variable picks both
// tinyq/gemm's and tinyq/qkernel's paths, and qkernel.RequestError returns the same error).
// Sgemm then runs on the fastest supported path. It is nil when the variable is unset or
// honoured.
func RequestError() error {
	_, err := kernel.Selected()
	return err
}

// paths returns the paths this CPU and build can run, fastest last (generic first).
func paths() []*path { return append([]*path{genericPath}, asmPaths()...) }

// pathNamed returns the supported path of that name, or nil.
func pathNamed(name string) *path {
	for _, p := range paths() {
		if p.name == name {
			return p
		}
	}
	return nil
}

// setPath makes the named path active (tests) and returns the previous one; it panics if the
// path is not supported here.
func setPath(name string) *path {
	p := pathNamed(name)
	if p == nil {
		panic("gemm: path " + name + " not supported")
	}
	old := active
	active = p
	return old
}

// parallelMin is the smallest product, in multiply-adds (m·n·k), that Sgemm spreads over
// goroutines. Starting and joining one costs a few microseconds; the fast paths do 2^18
// multiply-adds in about 3 µs on one core of the benchmark machine.
const parallelMin = 1 << 18

// partsFor returns into how many parts to split a product of m·n·k multiply-adds made of
// units independent units: one when it is small, else up to two per CPU, so that the caller
// and the workers of tinyq/internal/par balance the load even when a worker starts late.
func partsFor(m, n, k, units int) int {
	if m*n*k < parallelMin {
		return 1
	}
	return max(1, min(2*runtime.GOMAXPROCS(0), units))
}

// slicePool pools scratch slices of T, reused whatever their length.
type slicePool[T any] struct{ p sync.Pool }

// get returns a pooled slice of n elements; its contents are undefined.
func (q *slicePool[T]) get(n int) *[]T {
	p, _ := q.p.Get().(*[]T)
	if p == nil {
		p = new([]T)
	}
	if cap(*p) < n {
		*p = make([]T, n)
	}
	*p = (*p)[:n]
	return p
}

// put returns p to the pool.
func (q *slicePool[T]) put(p *[]T) { q.p.Put(p) }

// buffers pools float scratch space (packed panels, padded tiles, lists of values).
var buffers slicePool[float32]

// split returns the bounds of part i of n units split into parts nearly equal parts.
func split(n, parts, i int) (lo, hi int) {
	return n * i / parts, n * (i + 1) / parts
}

// call holds the arguments of one Sgemm for the goroutines that share it. Calls are pooled
// and their entry point bound once (work), so a call allocates nothing at steady state.
type call struct {
	tA, tB   bool
	m, n, k  int
	beta     float32
	a, b, c  []float32
	bias     []float32 // Affine: C starts from this row in every row (beta is then 1)
	relu     bool      // Affine: C = max(C, 0) at the end
	lda, ldb int
	ldc      int
	parts    int
	tc       tiledCall   // the assembly path's state
	bt       []float32   // generic: op(B) as a row-major k×n matrix when tB
	tiled    *tiledPath  // the assembly path, or nil for generic
	work     func(i int) // c.run, bound once
}

var calls = sync.Pool{New: func() any {
	c := new(call)
	c.work = c.run
	return c
}}

func newCall(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) *call {
	s := calls.Get().(*call)
	s.tA, s.tB, s.m, s.n, s.k = tA, tB, m, n, k
	s.a, s.lda, s.b, s.ldb, s.beta, s.c, s.ldc = a, lda, b, ldb, beta, c, ldc
	s.bias, s.relu = nil, false
	s.tc = tiledCall{}
	return s
}

// done drops the references to the caller's slices and returns the call to the pool.
func (s *call) done() {
	s.a, s.b, s.c, s.bt, s.bias, s.tiled = nil, nil, nil, nil, nil, nil
	calls.Put(s)
}

func (s *call) run(i int) {
	if s.tiled != nil {
		s.tiled.part(s, i)
		return
	}
	s.genericPart(i)
}
