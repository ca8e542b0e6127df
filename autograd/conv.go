package autograd

import (
	"fmt"
	"hash"
	"unsafe"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/arch"
	"tinyq/gemm"
	"tinyq/internal/par"
	"tinyq/internal/patch"
)

// Conv2D returns the convolution of x [N, H·W·C] (NHWC images, win.H, win.W, win.C) with
// w [win.PatchLen(), out] (training layout [KH, KW, C, Out], patch order ky, kx, c) plus
// b [out]: y [N, OutH·OutW·out], NHWC, with zero padding. y flattens H, W, C in that order,
// so Linear applies to it unchanged.
//
// The forward is the runtime's float convolution, gemm.Conv, a few images at a time (on the
// AVX-512 path a direct convolution, with no patch matrix), unless it keeps the patches for
// the weight gradient (below): then it lays the windows out as rows of a patch matrix
// (im2col, tinyq/internal/patch) and multiplies them by w with gemm.AffineNarrow. The
// backward: dw = colsᵀ·dy, db = column sums of dy, and dx = col2im(dy·wᵀ), a few images at a
// time; where dy is mostly zeros (below a max pooling and ReLU), dw and dx are
// gemm.ConvGrad's, which adds only the terms of dy's nonzero values. Each gradient is its
// own op, so a program compiled for the weights' gradients only (the first layer's) never
// computes dx.
//
// Memory: in a graph whose gradient is built (gorgonia.Grad), the forward keeps the whole
// patch matrix, N·OutH·OutW·PatchLen values, for the weight gradient if it is small
// (keepValues) and the weight gradient's last run needed patches (it was not all
// gemm.ConvGrad's: with BatchNorm after the convolution, dy is dense); otherwise, and in
// evaluation graphs, it needs only a few images' worth, however large N, and a dense weight
// gradient lays the patches out again. Work runs in convGroups fixed
// groups of images on tinyq/internal/par; results do not depend on the number of goroutines.
//
// name must be unique within the graph.
func Conv2D(name string, x, w, b *G.Node, win arch.Window) (*G.Node, error) {
	if err := win.Check(); err != nil {
		return nil, fmt.Errorf("autograd: conv2d %s: %w", name, err)
	}
	xs, ws, bs := x.Shape(), w.Shape(), b.Shape()
	if len(xs) != 2 || len(ws) != 2 || len(bs) != 1 || xs[1] != win.InLen() || ws[0] != win.PatchLen() || bs[0] != ws[1] {
		return nil, fmt.Errorf("autograd: conv2d %s: shapes x %v, w %v, b %v; want [N, %d] (%dx%dx%d images), [%d, out] (%dx%dx%d patches), [out]",
			name, xs, ws, bs, win.InLen(), win.H, win.W, win.C, win.PatchLen(), win.Kernel, win.Kernel, win.C)
	}
	return G.ApplyOp(&convOp{base: base{name: name, kind: "Conv2D"}, win: win}, x, w, b)
}

// Work division of the convolution ops. Images are split into convGroups fixed groups
// (parts for tinyq/internal/par: enough for two goroutines to balance when one starts late),
// and each group works through its images a chunk at a time, a chunk being as many whole
// images as fit in chunkValues patch values (at least one): 2^16 floats, 256 KB, stay in the
// L2 cache between im2col and the product that reads them (the CNN's second convolution has
// 196·400 = 78,400 patch values per image, its first 784·25 = 19,600).
//
// The weight gradient sums over all N·OutPixels rows; as one product (50,176 rows for the
// CNN's first convolution at batch 64) it rereads dy and the packed columns of cols from
// memory for every tile of dw. Each group instead accumulates its own partial product chunk
// by chunk (gemm with beta 1: the same terms in the same order as one product over the
// group's rows), and the partials are added in group order. Measured on the CNN's
// convolutions at batch 64 (BenchmarkConv2D's shapes, best of 150 on a busy 2-core
// machine): one product 1.9 and 3.5 ms; one product in blocks of 512 rows 1.4 and 2.6 ms;
// 8 groups of 256-row blocks 0.8 and 2.1 ms (2 or 8 groups, 128 to 1,024 rows: within the
// noise).
const (
	convGroups  = 8
	chunkValues = 1 << 16
	dwRows      = 256 // rows per block of the weight gradient from kept patches

	// keepValues is the largest patch matrix a training forward keeps for the weight
	// gradient, 2^22 floats (16 MB); larger ones are laid out again chunk by chunk by the
	// gradient, where they stay in cache. Measured on the CNN's training step at batch 128
	// (BenchmarkCNNEpoch, CPU time of 250 steps, alternating runs on a busy machine; patch
	// matrices of 2.5M and 10M values): keeping both 12.5 s, neither 12.1 s (and 50 MB
	// less), only the first convolution's (whose im2col costs more per value) 10.7 s against
	// 11.2 s for neither.
	keepValues = 1 << 22
)

// convPlan is the division of n images of window win into groups and chunks.
type convPlan struct {
	n, groups, chunk int // images, groups, images per chunk
}

func planConv(win arch.Window, n int) convPlan {
	return convPlan{n: n, groups: max(1, min(convGroups, n)), chunk: max(1, chunkValues/(win.OutPixels()*win.PatchLen()))}
}

// each calls f(g, lo, hi) for every chunk [lo, hi) of group g's images, in order.
func (p convPlan) each(g int, f func(lo, hi int)) {
	lo, hi := split(p.n, p.groups, g)
	for c := lo; c < hi; c += p.chunk {
		f(c, min(hi, c+p.chunk))
	}
}

// windowHash writes an op's kind, name and window.
func windowHash(h hash.Hash, b base, w arch.Window) {
	fmt.Fprintf(h, "tinyq.%s{%s,%d,%d,%d,%d,%d,%d}", b.kind, b.name, w.H, w.W, w.C, w.Kernel, w.Stride, w.Pad)
}

// images returns the number of images of a value of per values each.
func images(op fmt.Stringer, arg string, v G.Value, per int) ([]float32, int, error) {
	d, err := f32s(op, arg, v)
	if err != nil {
		return nil, 0, err
	}
	if per == 0 || len(d)%per != 0 {
		return nil, 0, fmt.Errorf("autograd: %v: %s has %d values, not a whole number of %d", op, arg, len(d), per)
	}
	return d, len(d) / per, nil
}

// convArgs reads the arguments shared by convOp and its gradients: x [N, InLen],
// w [PatchLen, out] and a third argument named third (b [out], or dy [N, OutPixels·out]).
func convArgs(op fmt.Stringer, win arch.Window, vs []G.Value, third string) (n, out int, x, w, z []float32, err error) {
	if x, n, err = images(op, "x", vs[0], win.InLen()); err != nil {
		return
	}
	var k int
	if k, out, err = dims2(op, "w", vs[1]); err != nil {
		return
	}
	if k != win.PatchLen() {
		err = fmt.Errorf("autograd: %v: w %v, want [%d, out]", op, vs[1].Shape(), win.PatchLen())
		return
	}
	if w, err = f32s(op, "w", vs[1]); err != nil {
		return
	}
	if z, err = f32s(op, third, vs[2]); err != nil {
		return
	}
	want := n * win.OutPixels() * out
	if third == "b" {
		want = out
	}
	if len(z) != want {
		err = fmt.Errorf("autograd: %v: %s has %d values, want %d", op, third, len(z), want)
	}
	return
}

// convOp is the convolution's forward, y = im2col(x)·w + b.
type convOp struct {
	base
	win arch.Window
	out buffer

	// keep is set when the gradient is built: the forward then keeps the whole patch matrix
	// in cols for the weight gradient if it has at most keepValues values (kept), recording
	// which x it came from (colsOf, colsN).
	keep    bool
	kept    bool
	sparseW bool // the weight gradient's last run was all gemm.ConvGrad's: it needs no patches
	cols    []float32
	colsOf  *float32
	colsN   int
	scratch [convGroups][]float32 // each group's chunk of patches when not kept

	// The current run, for the parallel job (bound once).
	plan      convPlan
	x, w, b   []float32
	y         []float32
	outCh     int
	job       func(g int)
	chunkJobs [convGroups]func(lo, hi int)
}

func (op *convOp) WriteHash(h hash.Hash) { windowHash(h, op.base, op.win) }
func (op *convOp) Hashcode() uint32      { return hashOf(op) }
func (op *convOp) Arity() int            { return 3 }
func (op *convOp) Type() hm.Type         { return fnType(matF32, matF32, vecF32, matF32) }
func (op *convOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, ws := in[0].(tensor.Shape), in[1].(tensor.Shape)
	return tensor.Shape{xs[0], op.win.OutPixels() * ws[1]}, nil
}

func (op *convOp) Do(vs ...G.Value) (G.Value, error) {
	n, out, x, w, b, err := convArgs(op, op.win, vs, "b")
	if err != nil {
		return nil, err
	}
	y := op.out.get(n, op.win.OutPixels()*out)
	rows, k := n*op.win.OutPixels(), op.win.PatchLen()
	op.kept = op.keep && !op.sparseW && rows*k <= keepValues
	op.colsOf, op.colsN = nil, 0
	if op.kept {
		op.cols = resize(op.cols, rows*k)
		op.colsOf, op.colsN = unsafe.SliceData(x), len(x)
	}
	op.plan, op.x, op.w, op.b, op.y, op.outCh = planConv(op.win, n), x, w, b, y.Float32s(), out
	if op.job == nil {
		op.job = op.group
	}
	par.Do(op.plan.groups, op.job)
	op.x, op.w, op.b, op.y = nil, nil, nil, nil
	return y, nil
}

// group computes the output of group g's images.
func (op *convOp) group(g int) {
	if op.chunkJobs[g] == nil {
		op.chunkJobs[g] = func(lo, hi int) { op.chunk(g, lo, hi) }
	}
	op.plan.each(g, op.chunkJobs[g])
}

// chunk computes the output of images [lo, hi) with group g's scratch.
func (op *convOp) chunk(g, lo, hi int) {
	win, out := op.win, op.outCh
	p, k, in := win.OutPixels(), win.PatchLen(), win.InLen()
	if !op.kept {
		// gemm.Conv: on the AVX-512 path a direct convolution, with no patch matrix.
		op.scratch[g] = resize(op.scratch[g], gemm.ConvScratch(win, hi-lo))
		gemm.Conv(hi-lo, win, out, op.x[lo*in:hi*in], op.w, op.b, false, op.y[lo*p*out:hi*p*out], op.scratch[g])
		return
	}
	cols := op.cols[lo*p*k : hi*p*k]
	patch.Im2col(cols, op.x[lo*in:hi*in], hi-lo, win, 0)
	gemm.AffineNarrow((hi-lo)*p, out, k, cols, k, op.w, out, op.b, false, op.y[lo*p*out:hi*p*out], out)
}

// patches returns the forward's patch matrix of x if the forward kept it for this very x
// (in a program the forward runs before its gradients, on the same x), else nil.
func (op *convOp) patches(x []float32) []float32 {
	if op.kept && op.colsOf == unsafe.SliceData(x) && op.colsN == len(x) && len(op.cols) == len(x)/op.win.InLen()*op.win.OutPixels()*op.win.PatchLen() {
		return op.cols
	}
	return nil
}

func (op *convOp) DiffWRT(int) []bool { return []bool{true, true, true} }
func (op *convOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	op.keep = true
	var ds G.Nodes
	for wrt, kind := range []string{"Conv2DGradX", "Conv2DGradW", "Conv2DGradB"} {
		d, err := G.ApplyOp(&convGradOp{gradBase: gradBase{base{name: op.name, kind: kind}}, fwd: op, wrt: wrt}, inputs[0], inputs[1], grad)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// convGradOp is the backward of convOp with respect to one input (wrt 0: x, 1: w, 2: b),
// from x, w and dy [N, OutPixels·out] viewed as [N·OutPixels, out]:
//
//	dx = col2im(dy·wᵀ)   [N, InLen]
//	dw = colsᵀ·dy        [PatchLen, out]  (cols = im2col(x), the forward's if it kept them)
//	db = Σ_rows dy       [out]
type convGradOp struct {
	gradBase
	fwd  *convOp
	wrt  int
	out  buffer
	sums reduction

	scratch [convGroups][]float32     // each group's chunk of patches (dx: of dcols)
	sparse  [convGroups]gemm.ConvGrad // each group's sparse gradients (dy mostly zeros)
	dense   [convGroups]bool          // dw: whether a chunk of the group's ran the dense product
	partial []float32                 // dw: each group's partial product
	wt      []float32                 // dx: wᵀ [out, PatchLen]

	// The current run, for the parallel job (bound once).
	plan      convPlan
	x, w, dy  []float32
	cols, res []float32
	outCh     int
	job       func(g int)
	chunkJobs [convGroups]func(lo, hi int)
}

func (op *convGradOp) WriteHash(h hash.Hash) { windowHash(h, op.base, op.fwd.win) }
func (op *convGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *convGradOp) Arity() int            { return 3 }
func (op *convGradOp) Type() hm.Type {
	if op.wrt == 2 {
		return fnType(matF32, matF32, matF32, vecF32)
	}
	return fnType(matF32, matF32, matF32, matF32)
}
func (op *convGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	switch op.wrt {
	case 0:
		return in[0].(tensor.Shape).Clone(), nil
	case 1:
		return in[1].(tensor.Shape).Clone(), nil
	default:
		return tensor.Shape{in[1].(tensor.Shape)[1]}, nil
	}
}

func (op *convGradOp) Do(vs ...G.Value) (G.Value, error) {
	win := op.fwd.win
	n, out, x, w, dy, err := convArgs(op, win, vs, "dy")
	if err != nil {
		return nil, err
	}
	k := win.PatchLen()
	if op.wrt == 2 {
		db := op.out.get(out)
		s := op.sums.run(dy, nil, nil, nil, n*win.OutPixels(), out)
		for j, v := range s[0] {
			db.Float32s()[j] = float32(v)
		}
		return db, nil
	}
	op.plan, op.x, op.w, op.dy, op.outCh = planConv(win, n), x, w, dy, out
	if n == 0 {
		if op.wrt == 0 {
			return op.out.get(0, win.InLen()), nil
		}
		res := op.out.get(k, out)
		clear(res.Float32s())
		return res, nil
	}
	var res *tensor.Dense
	if op.wrt == 0 {
		res = op.out.get(n, win.InLen())
		op.res = res.Float32s()
		// wᵀ once per run, so that every chunk's dy·wᵀ reads B in place: gemm with op(B) =
		// Bᵀ packs it again for every call, which made dx 2x slower (2.6-2.9 ms against
		// 5.8-6.9 ms for the CNN's second convolution at batch 64, alternating runs, best
		// of 100 each). The product's terms are the same either way.
		op.wt = resize(op.wt, k*out)
		for i := range k {
			for j := range out {
				op.wt[j*k+i] = w[i*out+j]
			}
		}
	} else {
		res = op.out.get(k, out)
		op.cols = op.fwd.patches(x)
		op.partial = resize(op.partial, op.plan.groups*k*out)
		op.dense = [convGroups]bool{}
	}
	if op.job == nil {
		op.job = op.group
	}
	par.Do(op.plan.groups, op.job)
	if op.wrt == 1 {
		op.fwd.sparseW = op.dense == [convGroups]bool{}
		// dw = the sum of the groups' partial dwᵀ [out, PatchLen], in group order, transposed.
		dw := res.Float32s()
		for j := range out {
			for i := range k {
				v := op.partial[j*k+i]
				for g := 1; g < op.plan.groups; g++ {
					v += op.partial[g*k*out+j*k+i]
				}
				dw[i*out+j] = v
			}
		}
	}
	op.x, op.w, op.dy, op.cols, op.res = nil, nil, nil, nil, nil
	return res, nil
}

// group computes group g's share: its images' dx, or its partial dw.
func (op *convGradOp) group(g int) {
	if op.chunkJobs[g] == nil {
		op.chunkJobs[g] = func(lo, hi int) { op.chunk(g, lo, hi) }
	}
	op.plan.each(g, op.chunkJobs[g])
}

// chunk computes images [lo, hi) of group g: dx = col2im(dy·wᵀ) for them, or their terms of
// group g's partial dw (the group's first chunk starts it with beta 0).
func (op *convGradOp) chunk(g, lo, hi int) {
	win, out := op.fwd.win, op.outCh
	p, k, in := win.OutPixels(), win.PatchLen(), win.InLen()
	dy := op.dy[lo*p*out : hi*p*out]
	if op.wrt == 0 {
		dx := op.res[lo*in : hi*in]
		if op.sparse[g].Input(hi-lo, win, out, op.wt, dy, dx) {
			return
		}
		op.scratch[g] = resize(op.scratch[g], (hi-lo)*p*k)
		dcols := op.scratch[g]
		gemm.Sgemm(false, false, (hi-lo)*p, k, out, 1, dy, out, op.wt, k, 0, dcols, k)
		clear(dx)
		patch.Col2im(dx, dcols, hi-lo, win)
		return
	}
	// The weight gradient is computed transposed, dwᵀ = dyᵀ·cols [out, PatchLen]: the same
	// terms in the same order as colsᵀ·dy, but the product's rows are the few output
	// channels and its columns the many patch values, which suits the kernels: the packed
	// tiles of op(A) = dyᵀ (8 channels) are reused across all of cols' column panels rather
	// than repacked for each, and a narrow out (16) leaves no half-empty tiles. Measured on
	// the CNN's training step at batch 128 (BenchmarkCNNEpoch): see the commit.
	first, _ := split(op.plan.n, op.plan.groups, g)
	partial := op.partial[g*k*out : (g+1)*k*out]
	if lo == first {
		clear(partial)
	}
	if op.sparse[g].Weights(hi-lo, win, out, op.x[lo*in:hi*in], dy, partial) {
		return
	}
	op.dense[g] = true
	if op.cols != nil {
		// The kept patches: blocks of dwRows rows.
		for r0 := lo * p; r0 < hi*p; r0 += dwRows {
			r1 := min(hi*p, r0+dwRows)
			gemm.Sgemm(true, false, out, k, r1-r0, 1, op.dy[r0*out:r1*out], out, op.cols[r0*k:r1*k], k, 1, partial, k)
		}
		return
	}
	op.scratch[g] = resize(op.scratch[g], (hi-lo)*p*k)
	cols := op.scratch[g]
	patch.Im2col(cols, op.x[lo*in:hi*in], hi-lo, win, 0)
	gemm.Sgemm(true, false, out, k, (hi-lo)*p, 1, dy, out, cols, k, 1, partial, k)
}
