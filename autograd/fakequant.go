package autograd

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/quant"
)

// FakeQuant returns quantize-then-dequantize of x with q's parameters, computed bit for bit
// as quant.FakeQuantize. The forward pass may first update q's observer (q.Observe). The
// gradient with respect to x is the clipped straight-through estimator: dy where x is inside
// the quantizer's range (quant.InRange), 0 where it is clipped. With q.LSQ the scale gets
// LSQ's gradient as well.
func FakeQuant(x *G.Node, q *Quantizer) (*G.Node, error) {
	g := x.Graph()
	shape := x.Shape()
	c := len(q.Scales())
	if q.Spec.Granularity == quant.PerChannel {
		if q.Spec.Axis >= shape.Dims() || shape[q.Spec.Axis] != c {
			return nil, fmt.Errorf("autograd: fake-quant %s: %d scales along axis %d of shape %v", q.Name, c, q.Spec.Axis, shape)
		}
	} else if c != 1 {
		return nil, fmt.Errorf("autograd: fake-quant %s: per-tensor with %d scales", q.Name, c)
	}
	s := G.NewVector(g, tensor.Float32, G.WithShape(c), G.WithName(q.Name+".scale"), G.WithValue(q.Scale))
	return G.ApplyOp(&fakeQuantOp{base: base{name: q.Name, kind: "FakeQuant"}, q: q}, x, s)
}

// ScaleNode returns the scale node FakeQuant created for q in graph g, or nil.
func ScaleNode(g *G.ExprGraph, q *Quantizer) *G.Node {
	for _, n := range g.ByName(q.Name + ".scale") {
		return n
	}
	return nil
}

// keep is the STE mask word of an element that is not clipped: dx = dy & keep = dy.
const keep = ^uint32(0)

// fakeQuantOp is FakeQuant's forward: y = quant.FakeQuantize(x) with the quantizer's current
// parameters, after an optional observation. It also records the clipped-STE mask for
// fakeQuantGradOp, so the backward pass does not divide again.
//
// Large tensors are processed in two chunks of whole rows (dimension 0) on two goroutines;
// quant.FakeQuantize is called on each chunk, which is exact because the channel of an element
// does not depend on its row unless the channel axis is 0 (then nothing is split).
type fakeQuantOp struct {
	base
	q   *Quantizer
	out buffer

	// State of the current Do, read by the jobs.
	x, y      []float32 // input and output, row-major with shape
	shape     []int
	rows      int // rows the work is split along (1: not splittable)
	rowLen    int // elements per row
	p         quant.Params
	errs      [2]error // per part
	partShape [2][]int // shape of each part's chunk
	par       halves
	rangeJob  func(part, lo, hi int) // op.rangeRows, bound once
	quantJob  func(part, lo, hi int) // op.quantRows, bound once

	// Range observation (Quantizer.rangeOnly): per-part minima and maxima, and the summary the
	// observer is shown.
	mins, maxs   [2][]float32
	summary      []float32
	summaryShape []int
	obsShape     []int // the shape of the observed rows, when ObserveRows limits them

	// The clipped-STE mask of the last forward pass: keep where x was not clipped, 0 where it
	// was. maskOf is &x[0] of that pass, nil when there is no valid mask. The mask is computed
	// only once a backward pass has asked for it (wantMask): a graph often never runs the
	// gradient with respect to x (the network input, or an evaluation graph).
	wantMask bool
	mask     []uint32
	maskOf   *float32
	// unclipped: the last forward pass's symmetric scales were computed from that same
	// tensor's exact range (Observe, ResetEachStep, rangeOnly), so no value was clipped and the
	// mask is all ones by construction (|x|/(max|x|/qmax) rounds to at most qmax); the
	// backward then copies dy. This saves the mask on every weight in every step.
	unclipped bool
	loS, hiS  []float32 // per channel, the outputs of values clipped low and high

	// The fast path (fqfast.go), decided per pass by prepareFast.
	fast, fastPerChannel bool
	fqLo, fqHi           []float32 // per channel, qmin-zp and qmax-zp
}

// WriteHash includes the site name and everything that changes the computation.
func (op *fakeQuantOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "tinyq.FakeQuant{%s %v lsq=%t}", op.name, op.q.Spec, op.q.LSQ)
}
func (op *fakeQuantOp) Hashcode() uint32 { return hashOf(op) }
func (op *fakeQuantOp) Arity() int       { return 2 }
func (op *fakeQuantOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(a, vecF32, a)
}
func (op *fakeQuantOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *fakeQuantOp) Do(vs ...G.Value) (G.Value, error) {
	x, err := f32s(op, "x", vs[0])
	if err != nil {
		return nil, err
	}
	q := op.q
	op.maskOf = nil
	op.setInput(x, vs[0].Shape())
	if q.Observe && q.Observer != nil {
		if err := op.observe(); err != nil {
			return nil, fmt.Errorf("autograd: fake-quant %s: observe: %w", q.Name, err)
		}
	}
	out := op.out.get(op.shape...)
	od := out.Float32s()
	if q.Disabled {
		copy(od, x)
		return out, nil
	}
	op.y, op.p = od, q.paramsView()
	op.unclipped = q.Observe && q.Observer != nil && q.ResetEachStep && q.rangeOnly() && q.Spec.Scheme == quant.Symmetric
	needMask := op.wantMask && !op.unclipped
	if needMask {
		op.prepareMask()
	}
	op.prepareFast()
	op.errs = [2]error{}
	if op.quantJob == nil {
		op.quantJob = op.quantRows
	}
	op.par.run(op.rows, len(x), op.quantJob)
	for _, err := range op.errs {
		if err != nil {
			return nil, fmt.Errorf("autograd: fake-quant %s: %w", q.Name, err)
		}
	}
	if op.wantMask && len(x) > 0 {
		op.maskOf = &x[0]
	}
	return out, nil
}

// setInput records x and decides how it is split: along dimension 0, unless the channel axis
// is 0 or there is a single row.
func (op *fakeQuantOp) setInput(x []float32, shape tensor.Shape) {
	op.x, op.shape = x, []int(shape)
	op.rows, op.rowLen = 1, len(x)
	perChannel0 := op.q.Spec.Granularity == quant.PerChannel && op.q.Spec.Axis == 0
	if len(shape) > 1 && shape[0] > 1 && len(x) > 0 && !perChannel0 {
		op.rows, op.rowLen = shape[0], len(x)/shape[0]
	}
}

// chunk returns the elements [a, b) and the shape of rows [lo, hi) for part.
func (op *fakeQuantOp) chunk(part, lo, hi int) (a, b int, shape []int) {
	if op.rows == 1 {
		return 0, len(op.x), op.shape
	}
	s := append(op.partShape[part][:0], hi-lo)
	s = append(s, op.shape[1:]...)
	op.partShape[part] = s
	return lo * op.rowLen, hi * op.rowLen, s
}

// prepareMask sizes the mask and computes, per channel, the outputs of clipped values:
// FakeQuantizeValue of a value clipped to qmin is DequantizeValue(qmin, ...), bit for bit.
func (op *fakeQuantOp) prepareMask() {
	p := op.p
	op.mask = resizeU32(op.mask, len(op.x))
	op.loS, op.hiS = resize(op.loS, len(p.Scales)), resize(op.hiS, len(p.Scales))
	for c, s := range p.Scales {
		op.loS[c] = quant.DequantizeValue(p.QMin, s, p.ZeroPoints[c])
		op.hiS[c] = quant.DequantizeValue(p.QMax, s, p.ZeroPoints[c])
	}
}

// quantRows fake-quantizes rows [lo, hi) with quant.FakeQuantize and records their STE mask.
//
// The mask is quant.InRange by definition, computed cheaply: a clipped value comes out as
// exactly loS or hiS of its channel, so an output different from both is not clipped. Only
// outputs equal to one of them (at the ends of the range, or 0 after a ReLU) are decided by
// InRange itself.
func (op *fakeQuantOp) quantRows(part, lo, hi int) {
	a, b, shape := op.chunk(part, lo, hi)
	x, y := op.x[a:b], op.y[a:b]
	if op.quantFast(x, y, a, b) {
		return
	}
	if err := quant.FakeQuantize(y, x, shape, op.p); err != nil {
		op.errs[part] = err
		return
	}
	if !op.wantMask || op.unclipped {
		return
	}
	m := op.mask[a:b]
	p := op.p
	outer, chans, inner, err := quant.SplitAxis(shape, p.Axis)
	if err != nil {
		op.errs[part] = err
		return
	}
	if inner == 1 && chans > 1 { // channels along the last axis: walk rows
		for o := range outer {
			off := o * chans
			maskRow(m[off:off+chans], y[off:off+chans], x[off:off+chans], op.loS, op.hiS, p)
		}
		return
	}
	for o := range outer {
		for c := range chans {
			off := (o*chans + c) * inner
			maskSlice(m[off:off+inner], y[off:off+inner], x[off:off+inner], op.loS[c], op.hiS[c], p.Scales[c], p.ZeroPoints[c], p.QMin, p.QMax)
		}
	}
}

// maskSlice writes the STE mask of elements of one channel: x the input, y its fake-quant,
// lo and hi the outputs of clipped values.
func maskSlice(m []uint32, y, x []float32, lo, hi, s float32, zp, qmin, qmax int32) {
	m, y = m[:len(x)], y[:len(x)]
	for i, v := range y {
		if (v != lo && v != hi) || quant.InRange(x[i], s, zp, qmin, qmax) {
			m[i] = keep
		} else {
			m[i] = 0
		}
	}
}

// maskRow is maskSlice for a row whose element c is in channel c.
func maskRow(m []uint32, y, x, lo, hi []float32, p quant.Params) {
	n := len(x)
	m, y, lo, hi = m[:n], y[:n], lo[:n], hi[:n]
	scales, zps := p.Scales[:n], p.ZeroPoints[:n]
	for c, v := range y {
		if (v != lo[c] && v != hi[c]) || quant.InRange(x[c], scales[c], zps[c], p.QMin, p.QMax) {
			m[c] = keep
		} else {
			m[c] = 0
		}
	}
}

func (op *fakeQuantOp) DiffWRT(int) []bool { return []bool{true, op.q.LSQ} }

func (op *fakeQuantOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	x, s := inputs[0], inputs[1]
	dx, err := G.ApplyOp(&fakeQuantGradOp{gradBase: gradBase{base{name: op.name, kind: "FakeQuantGradX"}}, fwd: op}, x, s, output, grad)
	if err != nil {
		return nil, err
	}
	var ds *G.Node
	if op.q.LSQ {
		if ds, err = G.ApplyOp(&lsqGradOp{gradBase: gradBase{base{name: op.name, kind: "FakeQuantGradScale"}}, q: op.q}, x, s, output, grad, dx); err != nil {
			return nil, err
		}
	}
	return G.Nodes{dx, ds}, nil
}

// fakeQuantGradOp is the clipped straight-through estimator, the backward of fakeQuantOp
// with respect to x, from (x, s, y, dy):
//
//	dx = dy · 1[x not clipped]     (1[...] is quant.InRange)
//
// It applies the mask its forward op recorded for the same x. The forward output y is an
// argument only so that the tape runs this op after the forward (dy need not depend on y,
// for example when the cost is linear in y); its value is not read. Without a recorded mask
// (the first run, which asks the forward op to record masks from then on, or x is not the
// forward's input) it computes the mask from x with quant.InRange.
type fakeQuantGradOp struct {
	gradBase
	fwd *fakeQuantOp
	out buffer

	par    halves
	job    func(part, lo, hi int) // op.maskRange, bound once
	dx, dy []float32
	mask   []uint32
}

func (op *fakeQuantGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "tinyq.%s{%s %v}", op.kind, op.name, op.fwd.q.Spec)
}
func (op *fakeQuantGradOp) Hashcode() uint32 { return hashOf(op) }
func (op *fakeQuantGradOp) Arity() int       { return 4 }
func (op *fakeQuantGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(a, vecF32, a, a, a)
}
func (op *fakeQuantGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *fakeQuantGradOp) Do(vs ...G.Value) (G.Value, error) {
	x, dy, err := inputAndGrad(op, vs[0], vs[3])
	if err != nil {
		return nil, err
	}
	shape := []int(vs[0].Shape())
	q, fwd := op.fwd.q, op.fwd
	if q.Disabled || len(x) > 0 && fwd.maskOf == &x[0] && fwd.unclipped {
		// dx = dy: the incoming gradient itself, not a copy (70 µs a step for the first
		// layer's weights). Safe because the tape machine binds values by reference and
		// neither value is written again before the next run: the op that made dy writes
		// its buffer only then, and what reads dx (the solver, LSQ's scale gradient) only
		// reads.
		if d, ok := vs[3].(*tensor.Dense); ok && d.Shape().Eq(vs[0].Shape()) {
			return d, nil
		}
		dx := op.out.get(shape...)
		copy(dx.Float32s(), dy)
		return dx, nil
	}
	dx := op.out.get(shape...)
	dxd := dx.Float32s()
	switch {
	case len(x) > 0 && fwd.maskOf == &x[0] && len(fwd.mask) == len(x):
		op.dx, op.dy, op.mask = dxd, dy, fwd.mask
		if op.job == nil {
			op.job = op.applyMask
		}
		op.par.run(len(x), len(x), op.job)
		op.dx, op.dy, op.mask = nil, nil, nil
	default:
		fwd.wantMask = true
		if err := steFromInput(dxd, x, dy, shape, q.paramsView()); err != nil {
			return nil, fmt.Errorf("autograd: %v: %w", op, err)
		}
	}
	return dx, nil
}

// applyMask writes dx = dy & mask for elements [lo, hi): dy where the mask is keep, +0 where
// it is 0, exactly (16 at a time with AVX-512).
func (op *fakeQuantGradOp) applyMask(_, lo, hi int) {
	dx, dy, m := op.dx[lo:hi], op.dy[lo:hi], op.mask[lo:hi]
	dy, m = dy[:len(dx)], m[:len(dx)]
	for i := maskBlocks(dx, dy, m); i < len(dx); i++ {
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & m[i])
	}
}

// steFromInput is the clipped STE computed from x alone: dx = dy where quant.InRange(x), else 0.
func steFromInput(dx, x, dy []float32, shape []int, p quant.Params) error {
	outer, chans, inner, err := quant.SplitAxis(shape, p.Axis)
	if err != nil {
		return err
	}
	for o := range outer {
		for c := range chans {
			off := (o*chans + c) * inner
			s, zp := p.Scales[c], p.ZeroPoints[c]
			for i := off; i < off+inner; i++ {
				if quant.InRange(x[i], s, zp, p.QMin, p.QMax) {
					dx[i] = dy[i]
				} else {
					dx[i] = 0
				}
			}
		}
	}
	return nil
}
