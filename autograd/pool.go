package autograd

import (
	"fmt"
	"hash"
	"unsafe"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/arch"
	"tinyq/internal/patch"
)

// MaxPool returns the maximum of each channel over each window of x [N, H·W·C] (NHWC images,
// win.H, win.W, win.C; windows outside the image are skipped, as PyTorch's MaxPool2d pads
// with -∞): y [N, OutH·OutW·C]. The gradient goes to the first maximum of each window in
// (ky, kx) order (tinyq/internal/patch's ties rule), the others get 0.
//
// The forward records where each maximum was; the gradient op, which runs after it in the
// same program, reuses that record when its x is the very slice the forward read (always so
// in a TapeMachine run) and otherwise pools x again to find the maxima.
//
// name must be unique within the graph.
func MaxPool(name string, x *G.Node, win arch.Window) (*G.Node, error) {
	if err := win.Check(); err != nil {
		return nil, fmt.Errorf("autograd: maxpool %s: %w", name, err)
	}
	if xs := x.Shape(); len(xs) != 2 || xs[1] != win.InLen() {
		return nil, fmt.Errorf("autograd: maxpool %s: x %v, want [N, %d] (%dx%dx%d images)", name, xs, win.InLen(), win.H, win.W, win.C)
	}
	return G.ApplyOp(&maxPoolOp{base: base{name: name, kind: "MaxPool"}, win: win}, x)
}

// maxPoolOp is the max pooling forward.
type maxPoolOp struct {
	base
	win arch.Window
	out buffer
	par halves

	arg   []int32  // the offset of each output's maximum within its image
	argOf *float32 // the x the last run pooled (its first element), for the gradient
	argN  int      // and its length

	x, y []float32 // the current run's arguments, for job
	job  func(part, lo, hi int)
}

func (op *maxPoolOp) WriteHash(h hash.Hash) { windowHash(h, op.base, op.win) }
func (op *maxPoolOp) Hashcode() uint32      { return hashOf(op) }
func (op *maxPoolOp) Arity() int            { return 1 }
func (op *maxPoolOp) Type() hm.Type         { return fnType(matF32, matF32) }
func (op *maxPoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[0], op.win.OutPixels() * op.win.C}, nil
}

func (op *maxPoolOp) Do(vs ...G.Value) (G.Value, error) {
	x, n, err := images(op, "x", vs[0], op.win.InLen())
	if err != nil {
		return nil, err
	}
	y := op.out.get(n, op.win.OutPixels()*op.win.C)
	op.pool(x, y.Float32s(), n)
	return y, nil
}

// pool pools the n images of x into y and records the maxima.
func (op *maxPoolOp) pool(x, y []float32, n int) {
	op.arg = resizeI32(op.arg, len(y))
	op.argOf, op.argN = unsafe.SliceData(x), len(x)
	op.x, op.y = x, y
	if op.job == nil {
		op.job = op.poolPart
	}
	op.par.run(n, len(x), op.job)
	op.x, op.y = nil, nil
}

// poolPart pools images [lo, hi).
func (op *maxPoolOp) poolPart(_, lo, hi int) {
	in, per := op.win.InLen(), op.win.OutPixels()*op.win.C
	patch.MaxPoolArg(op.y[lo*per:hi*per], op.arg[lo*per:hi*per], op.x[lo*in:hi*in], hi-lo, op.win)
}

func (op *maxPoolOp) DiffWRT(int) []bool { return []bool{true} }
func (op *maxPoolOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&maxPoolGradOp{gradBase: gradBase{base{name: op.name, kind: "MaxPoolGrad"}}, fwd: op}, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// maxPoolGradOp routes dy to the maxima: dx [N, H·W·C] from x and dy [N, OutPixels·C].
type maxPoolGradOp struct {
	gradBase
	fwd     *maxPoolOp
	out     buffer
	scratch []float32 // pooled values when the maxima must be found again
	par     halves

	dx, dy []float32
	job    func(part, lo, hi int)
}

func (op *maxPoolGradOp) WriteHash(h hash.Hash) { windowHash(h, op.base, op.fwd.win) }
func (op *maxPoolGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *maxPoolGradOp) Arity() int            { return 2 }
func (op *maxPoolGradOp) Type() hm.Type         { return fnType(matF32, matF32, matF32) }
func (op *maxPoolGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *maxPoolGradOp) Do(vs ...G.Value) (G.Value, error) {
	win := op.fwd.win
	x, n, err := images(op, "x", vs[0], win.InLen())
	if err != nil {
		return nil, err
	}
	dy, err := f32s(op, "dy", vs[1])
	if err != nil {
		return nil, err
	}
	per := win.OutPixels() * win.C
	if len(dy) != n*per {
		return nil, fmt.Errorf("autograd: %v: dy has %d values, want %d", op, len(dy), n*per)
	}
	if op.fwd.argOf != unsafe.SliceData(x) || op.fwd.argN != len(x) || len(op.fwd.arg) != len(dy) {
		op.scratch = resize(op.scratch, len(dy))
		op.fwd.pool(x, op.scratch, n)
	}
	dx := op.out.get(n, win.InLen())
	op.dx, op.dy = dx.Float32s(), dy
	if op.job == nil {
		op.job = op.route
	}
	op.par.run(n, len(x), op.job)
	op.dx, op.dy = nil, nil
	return dx, nil
}

// route computes the gradient of images [lo, hi).
func (op *maxPoolGradOp) route(_, lo, hi int) {
	win := op.fwd.win
	in, per := win.InLen(), win.OutPixels()*win.C
	patch.MaxPoolGradInto(op.dx[lo*in:hi*in], op.dy[lo*per:hi*per], op.fwd.arg[lo*per:hi*per], hi-lo, win)
}

// resizeI32 is resize for []int32.
func resizeI32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}
