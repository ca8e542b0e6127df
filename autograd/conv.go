package autograd

import (
	"fmt"
	"hash"

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
// It is two ops: Im2col lays the windows out as a patch matrix cols [N·OutH·OutW,
// PatchLen] (tinyq/internal/patch), and a product op computes y = cols·w + b with
// gemm.Affine (the kernels and arguments of the runtime's float convolution), viewing y as
// [N·OutH·OutW, out]. The backward: dw = colsᵀ·dy, db = column sums of dy, dcols = dy·wᵀ,
// then dx = col2im(dcols). Each gradient is its own op, so a program compiled for the
// weights' gradients only (the first layer's) never computes dcols or dx. Every op owns its
// output and scratch buffers, reused on every run.
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
	cols, err := G.ApplyOp(&im2colOp{base: base{name: name, kind: "Im2col"}, win: win}, x)
	if err != nil {
		return nil, err
	}
	return G.ApplyOp(&convOp{base: base{name: name, kind: "Conv2D"}, win: win}, cols, w, b)
}

// windowHash writes an op's kind, name and window.
func windowHash(h hash.Hash, b base, w arch.Window) {
	fmt.Fprintf(h, "tinyq.%s{%s,%d,%d,%d,%d,%d,%d}", b.kind, b.name, w.H, w.W, w.C, w.Kernel, w.Stride, w.Pad)
}

// im2colOp lays the windows of x [N, H·W·C] out as cols [N·OutPixels, PatchLen].
type im2colOp struct {
	base
	win arch.Window
	out buffer
	par halves

	x, cols []float32 // the current run's arguments, for job
	job     func(part, lo, hi int)
}

func (op *im2colOp) WriteHash(h hash.Hash) { windowHash(h, op.base, op.win) }
func (op *im2colOp) Hashcode() uint32      { return hashOf(op) }
func (op *im2colOp) Arity() int            { return 1 }
func (op *im2colOp) Type() hm.Type         { return fnType(matF32, matF32) }
func (op *im2colOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[0] * op.win.OutPixels(), op.win.PatchLen()}, nil
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

func (op *im2colOp) Do(vs ...G.Value) (G.Value, error) {
	x, n, err := images(op, "x", vs[0], op.win.InLen())
	if err != nil {
		return nil, err
	}
	cols := op.out.get(n*op.win.OutPixels(), op.win.PatchLen())
	op.x, op.cols = x, cols.Float32s()
	if op.job == nil {
		op.job = op.im2col
	}
	op.par.run(n, len(op.cols), op.job)
	op.x, op.cols = nil, nil
	return cols, nil
}

// im2col lays out images [lo, hi).
func (op *im2colOp) im2col(_, lo, hi int) {
	in, rows := op.win.InLen(), op.win.OutPixels()*op.win.PatchLen()
	patch.Im2col(op.cols[lo*rows:hi*rows], op.x[lo*in:hi*in], hi-lo, op.win, 0)
}

func (op *im2colOp) DiffWRT(int) []bool { return []bool{true} }
func (op *im2colOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&col2imOp{gradBase: gradBase{base{name: op.name, kind: "Col2im"}}, win: op.win}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// col2imOp is im2colOp's backward: dx [N, H·W·C] = col2im(dcols), each element of dcols
// added to the input pixel it was copied from.
type col2imOp struct {
	gradBase
	win arch.Window
	out buffer
	par halves

	dcols, dx []float32
	job       func(part, lo, hi int)
}

func (op *col2imOp) WriteHash(h hash.Hash) { windowHash(h, op.base, op.win) }
func (op *col2imOp) Hashcode() uint32      { return hashOf(op) }
func (op *col2imOp) Arity() int            { return 1 }
func (op *col2imOp) Type() hm.Type         { return fnType(matF32, matF32) }
func (op *col2imOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[0] / op.win.OutPixels(), op.win.InLen()}, nil
}
func (op *col2imOp) Do(vs ...G.Value) (G.Value, error) {
	dcols, n, err := images(op, "dcols", vs[0], op.win.OutPixels()*op.win.PatchLen())
	if err != nil {
		return nil, err
	}
	dx := op.out.get(n, op.win.InLen())
	op.dcols, op.dx = dcols, dx.Float32s()
	if op.job == nil {
		op.job = op.col2im
	}
	op.par.run(n, len(dcols), op.job)
	op.dcols, op.dx = nil, nil
	return dx, nil
}

// col2im computes the gradient of images [lo, hi).
func (op *col2imOp) col2im(_, lo, hi int) {
	in, rows := op.win.InLen(), op.win.OutPixels()*op.win.PatchLen()
	dx := op.dx[lo*in : hi*in]
	clear(dx)
	patch.Col2im(dx, op.dcols[lo*rows:hi*rows], hi-lo, op.win)
}

// convOp computes y [N, OutPixels·out] = cols·w + b with cols [N·OutPixels, PatchLen],
// w [PatchLen, out], b [out]: the product of a convolution.
type convOp struct {
	base
	win arch.Window
	out buffer
}

func (op *convOp) WriteHash(h hash.Hash) { windowHash(h, op.base, op.win) }
func (op *convOp) Hashcode() uint32      { return hashOf(op) }
func (op *convOp) Arity() int            { return 3 }
func (op *convOp) Type() hm.Type         { return fnType(matF32, matF32, vecF32, matF32) }
func (op *convOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	cs, ws := in[0].(tensor.Shape), in[1].(tensor.Shape)
	return tensor.Shape{cs[0] / op.win.OutPixels(), op.win.OutPixels() * ws[1]}, nil
}

// convArgs reads the arguments shared by convOp and its gradients: cols [rows, PatchLen],
// w [PatchLen, out] and a third argument named third (b [out], or dy [N, OutPixels·out]).
func convArgs(op fmt.Stringer, win arch.Window, vs []G.Value, third string) (rows, out int, cols, w, z []float32, err error) {
	var k int
	if rows, k, err = dims2(op, "cols", vs[0]); err != nil {
		return
	}
	if _, out, err = dims2(op, "w", vs[1]); err != nil {
		return
	}
	if k != win.PatchLen() || rows%win.OutPixels() != 0 {
		err = fmt.Errorf("autograd: %v: cols %v, want [N·%d, %d]", op, vs[0].Shape(), win.OutPixels(), win.PatchLen())
		return
	}
	if cols, err = f32s(op, "cols", vs[0]); err != nil {
		return
	}
	if w, err = f32s(op, "w", vs[1]); err != nil {
		return
	}
	if len(w) != k*out {
		err = fmt.Errorf("autograd: %v: w %v, want [%d, out]", op, vs[1].Shape(), k)
		return
	}
	if z, err = f32s(op, third, vs[2]); err != nil {
		return
	}
	want := rows * out
	if third == "b" {
		want = out
	}
	if len(z) != want {
		err = fmt.Errorf("autograd: %v: %s has %d values, want %d", op, third, len(z), want)
	}
	return
}

func (op *convOp) Do(vs ...G.Value) (G.Value, error) {
	rows, out, cols, w, b, err := convArgs(op, op.win, vs, "b")
	if err != nil {
		return nil, err
	}
	k := op.win.PatchLen()
	y := op.out.get(rows/op.win.OutPixels(), op.win.OutPixels()*out)
	gemm.Affine(rows, out, k, cols, k, w, out, b, false, y.Float32s(), out)
	return y, nil
}

func (op *convOp) DiffWRT(int) []bool { return []bool{true, true, true} }
func (op *convOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	var ds G.Nodes
	for wrt, kind := range []string{"Conv2DGradCols", "Conv2DGradW", "Conv2DGradB"} {
		d, err := G.ApplyOp(&convGradOp{gradBase: gradBase{base{name: op.name, kind: kind}}, win: op.win, wrt: wrt}, inputs[0], inputs[1], grad)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// convGradOp is the backward of convOp with respect to one input (wrt 0: cols, 1: w, 2: b),
// from cols, w and dy viewed as [rows, out]:
//
//	dcols = dy·wᵀ          [rows, PatchLen]
//	dw    = colsᵀ·dy       [PatchLen, out]
//	db    = Σ_rows dy      [out]
type convGradOp struct {
	gradBase
	win  arch.Window
	wrt  int
	out  buffer
	sums reduction

	// The weight gradient's groups: partial products and the current run's arguments.
	partial            []float32
	cols, dy           []float32
	rows, k, n, groups int
	job                func(g int)
}

func (op *convGradOp) WriteHash(h hash.Hash) { windowHash(h, op.base, op.win) }
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
	rows, out, cols, w, dy, err := convArgs(op, op.win, vs, "dy")
	if err != nil {
		return nil, err
	}
	k := op.win.PatchLen()
	switch op.wrt {
	case 0:
		dcols := op.out.get(rows, k)
		gemm.Sgemm(false, true, rows, k, out, 1, dy, out, w, out, 0, dcols.Float32s(), k)
		return dcols, nil
	case 1:
		dw := op.out.get(k, out)
		op.dw(rows, k, out, cols, dy, dw.Float32s())
		return dw, nil
	default:
		db := op.out.get(out)
		s := op.sums.run(dy, nil, nil, nil, rows, out)
		for j, v := range s[0] {
			db.Float32s()[j] = float32(v)
		}
		return db, nil
	}
}

// The weight gradient dw = colsᵀ·dy sums over all N·OutPixels rows (50,176 for the CNN's
// first convolution at batch 64): one product that long rereads dy and the packed columns
// of cols from memory for every tile of dw. Instead, dwGroups fixed groups of rows each
// accumulate a partial product over blocks of dwRows rows (a block's dy and cols stay in
// cache), in parallel, and the partials are added in group order. Measured on the CNN's
// convolutions at batch 64 (BenchmarkConv2D's shapes, best of 150, a busy 2-core machine):
// one product 1.9 and 3.5 ms; one product in blocks of 512 rows 1.4 and 2.6 ms; 8 groups of
// blocks of 256 rows 0.8 and 2.1 ms (2, 8 groups, 128 to 1,024 rows: within the noise).
const (
	dwGroups = 8
	dwRows   = 256
)

// dw computes dw = colsᵀ·dy: each of dwGroups fixed groups of rows accumulates its own
// partial product block by block (dwRows rows, gemm with beta 1), the groups run in parallel
// (tinyq/internal/par), and the partials are added in group order, so the result does not
// depend on the number of goroutines.
func (op *convGradOp) dw(rows, k, out int, cols, dy, dw []float32) {
	groups := min(dwGroups, max(1, rows/dwRows))
	op.partial = resize(op.partial, groups*k*out)
	op.rows, op.k, op.n, op.groups = rows, k, out, groups
	op.cols, op.dy = cols, dy
	if op.job == nil {
		op.job = op.dwGroup
	}
	par.Do(groups, op.job)
	copy(dw, op.partial[:k*out])
	for g := 1; g < groups; g++ {
		for i, v := range op.partial[g*k*out : (g+1)*k*out] {
			dw[i] += v
		}
	}
	op.cols, op.dy = nil, nil
}

// dwGroup computes group g's partial weight gradient.
func (op *convGradOp) dwGroup(g int) {
	k, out := op.k, op.n
	lo, hi := split(op.rows, op.groups, g)
	p := op.partial[g*k*out : (g+1)*k*out]
	for r0 := lo; r0 < hi; r0 += dwRows {
		r1 := min(hi, r0+dwRows)
		beta := float32(1)
		if r0 == lo {
			beta = 0
		}
		gemm.Sgemm(true, false, k, out, r1-r0, 1, op.cols[r0*k:r1*k], k, op.dy[r0*out:r1*out], out, beta, p, out)
	}
}
