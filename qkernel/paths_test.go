package qkernel

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"tinyq/arch"
	"tinyq/internal/kernel"
	"tinyq/internal/patch"
	"tinyq/quant"
)

// withPath runs f with the kernels switched to path p, then restores the start-up choice.
func withPath(t testing.TB, p Path, f func()) {
	t.Helper()
	saved := active
	active = p
	defer func() { active = saved }()
	f()
}

// TestAccumulatePaths: on every path this CPU supports, Accumulate equals the naive
// computation bit for bit on shapes that are multiples of nothing in particular (In and Out
// around 4, 16, 48 (the widest layers in 16-channel VNNI blocks) and 64, batch 1 to 1000 around the 6-row tile), zero points 0 to 255 (one, or
// one per row), weights at the extremes of int8, int4 and int2, and sparse and dense inputs.
func TestAccumulatePaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	ins := []int{1, 3, 4, 5, 17, 63, 64, 65, 130}
	outs := []int{1, 10, 15, 16, 17, 32, 48, 49, 63, 64, 65, 129}
	batches := []int{1, 2, 5, 6, 7, 13, 37}
	for _, p := range Supported() {
		withPath(t, p, func() {
			for _, bits := range []int{8, 4, 2} {
				qmax := int32(1)<<(bits-1) - 1
				for k := 0; k < 60; k++ {
					in, out, batch := ins[rng.IntN(len(ins))], outs[rng.IntN(len(outs))], batches[rng.IntN(len(batches))]
					if k == 0 {
						in, out, batch = 784, 256, 1000 // the MNIST first layer at batch 1000
					}
					w := make([]int8, out*in)
					for i := range w {
						switch rng.IntN(4) {
						case 0:
							w[i] = int8(qmax)
						case 1:
							w[i] = int8(-qmax)
						default:
							w[i] = int8(rng.Int32N(2*qmax+1) - qmax)
						}
					}
					src := make([]uint8, batch*in)
					density := []int{1, 5, 10}[rng.IntN(3)] // of 10
					for i := range src {
						if rng.IntN(10) < density {
							src[i] = uint8(rng.IntN(256))
						}
					}
					zp := []int32{[]int32{0, 3, 128, 255}[rng.IntN(4)]}
					if rng.IntN(3) == 0 {
						zp = make([]int32, batch)
						for i := range zp {
							zp[i] = rng.Int32N(256)
						}
					}
					pk, err := quant.PackingFor(bits)
					if err != nil {
						t.Fatal(err)
					}
					data := make([]byte, pk.Len(len(w)))
					if err := pk.Pack(data, w); err != nil {
						t.Fatal(err)
					}
					ws, err := NewWeightsPacked(pk, data, out, in)
					if err != nil {
						t.Fatal(err)
					}
					want := naive(w, out, in, src, batch, zp)
					for _, workers := range []int{1, 2, 3} {
						got := make([]int32, batch*out)
						if err := ws.Accumulate(got, src, batch, zp, workers); err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, want) {
							i := 0
							for got[i] == want[i] {
								i++
							}
							t.Fatalf("%v int%d [%d, %d] batch %d zp %v workers %d: element %d is %d, want %d",
								p, bits, out, in, batch, zp[:min(len(zp), 3)], workers, i, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// BenchmarkAccumulatePaths times the MNIST layers on every supported path at batch 1000 and 1.
func BenchmarkAccumulatePaths(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range Supported() {
		for _, sh := range [][2]int{{784, 256}, {256, 128}, {128, 10}} {
			for _, batch := range []int{1000, 1} {
				in, out := sh[0], sh[1]
				w := make([]int8, out*in)
				for i := range w {
					w[i] = int8(rng.IntN(255) - 127)
				}
				src := make([]uint8, batch*in)
				for i := range src {
					if rng.IntN(10) < 2 { // MNIST-like: about 80% zeros
						src[i] = uint8(rng.IntN(256))
					}
				}
				ws, err := NewWeights(w, out, in)
				if err != nil {
					b.Fatal(err)
				}
				dst := make([]int32, batch*out)
				b.Run(fmt.Sprintf("%v/%dx%d/batch%d", p, in, out, batch), func(b *testing.B) {
					withPath(b, p, func() {
						for i := 0; i < b.N; i++ {
							if err := ws.Accumulate(dst, src, batch, []int32{0}, 0); err != nil {
								b.Fatal(err)
							}
						}
						b.ReportMetric(float64(b.N)*float64(batch)/b.Elapsed().Seconds(), "rows/s")
					})
				})
			}
		}
	}
}

// pathInfo is one integer path and whether this CPU and build run it.
type pathInfo struct {
	Path
	Supported bool
}

// pathSupport lists every integer path, slowest first, and whether this CPU and build run
// it, and logs the list. Tests iterate over it (or over Supported) instead of guessing which
// paths are missing from how many are supported: a CPU may have AVX-512 VNNI without
// AVX-VNNI (AMD Zen 4), AVX-VNNI without AVX-512 (Intel Alder Lake), or neither.
func pathSupport(t testing.TB) []pathInfo {
	t.Helper()
	s := Supported()
	var ps []pathInfo
	var log []string
	for _, p := range allPaths {
		ps = append(ps, pathInfo{p, slices.Contains(s, p)})
		log = append(log, fmt.Sprintf("%v %v", p, ps[len(ps)-1].Supported))
	}
	t.Logf("integer paths, supported here: %s", strings.Join(log, ", "))
	return ps
}

// TestChoosePath: TINYQ_KERNEL picks every supported path and refuses every other one (with
// an error naming it), on whatever set of paths this CPU supports; the process uses the
// fastest path when the variable is unset. Issue 18, item 1: the test guessed from the
// number of supported paths that avx512vnni was missing, and failed on AVX-512 VNNI CPUs
// without AVX-VNNI.
func TestChoosePath(t *testing.T) {
	host := kernel.Host()
	s := Supported()
	if s[0] != Generic || !slices.IsSorted(s) {
		t.Errorf("Supported() = %v, want generic first, slowest first", s)
	}
	for _, p := range pathSupport(t) {
		c, err := kernel.Choose(p.String(), host)
		switch {
		case p.Supported && (err != nil || c.Int != p.String()):
			t.Errorf("%v is supported: chose %v, %v", p.Path, c.Int, err)
		case !p.Supported && (err == nil || !strings.Contains(err.Error(), p.String())):
			t.Errorf("%v is not supported: chose %v, error %v, want one naming it", p.Path, c.Int, err)
		}
	}
	if _, err := kernel.Choose("bogus", host); err == nil {
		t.Error("bogus: no error")
	}
	want := s[len(s)-1]
	if env := os.Getenv(kernel.Var); env != "" {
		c, _ := kernel.Choose(env, host)
		want = pathsOf([]string{c.Int})[0]
	}
	if ActivePath() != want {
		t.Errorf("%s=%q: ActivePath() = %v, want %v", kernel.Var, os.Getenv(kernel.Var), ActivePath(), want)
	}
}

// TestAccumulateWorkersAllocs: Accumulate and Conv spread over several workers allocate
// nothing at steady state on every path (the job handed to tinyq/internal/par is pooled,
// not a closure), so that batch 1 can use every core, and give the one-worker result.
func TestAccumulateWorkersAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	win := arch.Window{H: 9, W: 9, C: 4, Kernel: 3, Stride: 1, Pad: 1}
	in, out, n := win.PatchLen(), 33, 2
	wq := make([]int8, out*in)
	for i := range wq {
		wq[i] = int8(rng.IntN(256) - 128)
	}
	w, err := NewWeights(wq, out, in)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]uint8, n*win.InLen())
	for i := range src {
		src[i] = uint8(rng.IntN(256))
	}
	rows := n * win.OutPixels()
	cols := make([]uint8, ConvScratch(win, n))
	patch.Im2col(cols, src, n, win, 7)
	zp := []int32{7}
	for _, p := range Supported() {
		withPath(t, p, func() {
			one, two := make([]int32, rows*out), make([]int32, rows*out)
			if err := w.Accumulate(one, cols, rows, zp, 1); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(20, func() {
				if err := w.Accumulate(two, cols, rows, zp, 2); err != nil {
					t.Fatal(err)
				}
				if err := w.Conv(two, src, n, win, 7, cols, 2); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v: %v allocations per Accumulate and Conv with 2 workers", p, allocs)
			}
			if !slices.Equal(one, two) {
				t.Errorf("%v: 2 workers differ from 1", p)
			}
		})
	}
}
