package autograd

import (
	"math"
	"math/rand"
	"runtime"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/arch"
)

// TestConvOpsIndependentOfWorkers runs Conv2D, BatchNorm (training) and MaxPool forward and
// backward on shapes large enough for every parallel split (2^15 outputs) with GOMAXPROCS 1
// and 2, and requires equal results bit for bit.
func TestConvOpsIndependentOfWorkers(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	run := func(procs int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		const n, out = 16, 8
		win := arch.Window{H: 16, W: 16, C: 4, Kernel: 3, Stride: 1, Pad: 1}
		pool := arch.Window{H: 16, W: 16, C: out, Kernel: 2, Stride: 2}
		rng := rand.New(rand.NewSource(11))
		g := G.NewGraph()
		mk := func(name string, v []float32, shape ...int) *G.Node {
			tt := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
			if len(shape) == 1 {
				return G.NewVector(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(tt))
			}
			return G.NewMatrix(g, tensor.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(tt))
		}
		x := mk("x", randF32(rng, n*win.InLen(), 1), n, win.InLen())
		w := mk("w", randF32(rng, win.PatchLen()*out, 0.3), win.PatchLen(), out)
		b := mk("b", randF32(rng, out, 0.3), out)
		gamma, beta := mk("gamma", randF32(rng, out, 1), out), mk("beta", randF32(rng, out, 1), out)
		y := G.Must(Conv2D("conv", x, w, b, win))
		y = G.Must(BatchNorm("bn", y, gamma, beta, NewBatchNormState(out)))
		y = G.Must(MaxPool("pool", y, pool))
		r := mk("r", randF32(rng, n*pool.OutPixels()*out, 1), n, pool.OutPixels()*out)
		loss := G.Must(G.Sum(G.Must(G.HadamardProd(y, r))))
		params := G.Nodes{x, w, b, gamma, beta}
		grads, err := G.Grad(loss, params...)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vals := [][]float32{append([]float32(nil), y.Value().Data().([]float32)...)}
		for _, gr := range grads {
			vals = append(vals, append([]float32(nil), gr.Value().Data().([]float32)...))
		}
		return vals
	}
	one, two := run(1), run(2)
	for i := range one {
		for j := range one[i] {
			if math.Float32bits(one[i][j]) != math.Float32bits(two[i][j]) {
				t.Fatalf("value %d [%d]: %v with 1 worker, %v with 2", i, j, one[i][j], two[i][j])
			}
		}
	}
}

// TestConvOpsAllocateNothing runs Conv2D, MaxPool and BatchNorm forward and backward
// repeatedly (the ops called directly, at steady state): like the other ops of the package
// they reuse their buffers and bind their parallel jobs once, so a training step allocates
// nothing in them.
func TestConvOpsAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes gemm's sync.Pool allocate")
	}
	win := arch.Window{H: 14, W: 14, C: 16, Kernel: 5, Stride: 1, Pad: 2}
	const n, out = 16, 32
	rng := rand.New(rand.NewSource(1))
	mat := func(v []float32, shape ...int) *tensor.Dense {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	x := mat(randF32(rng, n*win.InLen(), 1), n, win.InLen())
	w := mat(randF32(rng, win.PatchLen()*out, 0.1), win.PatchLen(), out)
	b := mat(randF32(rng, out, 0.1), out)
	dy := mat(randF32(rng, n*win.OutPixels()*out, 0.01), n, win.OutPixels()*out)
	conv := &convOp{base: base{name: "c", kind: "Conv2D"}, win: win, keep: true}
	grads := [3]*convGradOp{}
	for i := range grads {
		grads[i] = &convGradOp{gradBase: gradBase{base{name: "c", kind: "g"}}, fwd: conv, wrt: i}
	}
	pw := arch.Window{H: 14, W: 14, C: 16, Kernel: 2, Stride: 2}
	pool := &maxPoolOp{base: base{name: "p", kind: "MaxPool"}, win: pw}
	pg := &maxPoolGradOp{gradBase: gradBase{base{name: "p", kind: "g"}}, fwd: pool}
	pdy := mat(randF32(rng, n*pw.OutPixels()*16, 1), n, pw.OutPixels()*16)
	bn := &bnOp{base: base{name: "bn", kind: "BatchNorm"}, st: NewBatchNormState(16)}
	g16, b16 := mat(randF32(rng, 16, 1), 16), mat(randF32(rng, 16, 1), 16)
	sums := &bnSumsOp{gradBase: gradBase{base{name: "s", kind: "s"}}, fwd: bn}
	gx := &bnGradXOp{gradBase: gradBase{base{name: "x", kind: "x"}}, fwd: bn}
	for name, f := range map[string]func(){
		"conv": func() {
			conv.Do(x, w, b)
			for _, g := range grads {
				g.Do(x, w, dy)
			}
		},
		"pool": func() { pool.Do(x); pg.Do(x, pdy) },
		"bn": func() {
			bn.Do(x, g16, b16)
			s, _ := sums.Do(x, x)
			gx.Do(x, g16, x, s)
		},
	} {
		if a := testing.AllocsPerRun(5, f); a != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, a)
		}
	}
}
