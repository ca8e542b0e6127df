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

// Quantizer is the state of one fake-quant site (one weight or one activation): its spec,
// its current scales and zero points, its observer and its switches. A Quantizer is shared
// by every graph built for a model (training and evaluation), so what training observes or
// learns is what evaluation and conversion use. It is not safe for concurrent use.
type Quantizer struct {
	Name string     // unique within a model, e.g. "fc1.w" or "fc2.in"
	Spec quant.Spec // bits, scheme, granularity (Axis is the channel axis for per-channel)

	// Scale holds the current scales, [channels] (length 1 for per-tensor). It is the value of
	// the scale node in every graph, so a learned scale (LSQ) is updated by the optimizer in
	// place and an observed one is written here by the forward pass.
	Scale *tensor.Dense
	// ZeroPoints are the current zero points, one per scale (0 for symmetric specs).
	ZeroPoints []int32

	// Observer, if set, gathers ranges from the tensors passing through while Observe is on.
	Observer quant.Observer
	// Observe: update Observer from each forward pass and refresh Scale and ZeroPoints from it
	// (PyTorch's enable_observer). Observation happens before quantizing the same batch.
	Observe bool
	// ResetEachStep forgets earlier batches before each observation, so the range is that of
	// the current tensor (used for weights, which change every step).
	ResetEachStep bool
	// Disabled makes the site the identity (PyTorch's disable_fake_quant).
	Disabled bool
	// LSQ makes the scale learnable (Esser et al. 2019, "Learned Step Size Quantization"):
	// the scale node gets a gradient, scaled by 1/sqrt(N·Qp) (N elements per scale, Qp the
	// largest positive integer level), and should be given to an optimizer.
	LSQ bool

	observed bool // at least one observation since the last reset of the scales
}

// NewQuantizer returns a quantizer for spec with channels scales, initialised to 1 and zero
// points 0 (symmetric) or qmin (affine, meaning the range starts at 0).
func NewQuantizer(name string, spec quant.Spec, channels int, obs quant.Observer) (*Quantizer, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("autograd: quantizer %s: %w", name, err)
	}
	if channels < 1 {
		return nil, fmt.Errorf("autograd: quantizer %s: %d channels", name, channels)
	}
	s := make([]float32, channels)
	for i := range s {
		s[i] = 1
	}
	qmin, _ := spec.QRange()
	zp := make([]int32, channels)
	if spec.Scheme == quant.Affine {
		for i := range zp {
			zp[i] = qmin
		}
	}
	return &Quantizer{
		Name: name, Spec: spec,
		Scale:      tensor.New(tensor.WithShape(channels), tensor.WithBacking(s)),
		ZeroPoints: zp,
		Observer:   obs,
		Observe:    obs != nil,
	}, nil
}

// Scales returns the current scales (shared, not a copy).
func (q *Quantizer) Scales() []float32 { return q.Scale.Data().([]float32) }

// Observed reports whether the quantizer has seen data (or had its scales set by SetParams).
func (q *Quantizer) Observed() bool { return q.observed }

// Params returns the current quantization parameters (copies).
func (q *Quantizer) Params() quant.Params {
	qmin, qmax := q.Spec.QRange()
	axis := -1
	if q.Spec.Granularity == quant.PerChannel {
		axis = q.Spec.Axis
	}
	return quant.Params{
		Scales:     append([]float32(nil), q.Scales()...),
		ZeroPoints: append([]int32(nil), q.ZeroPoints...),
		QMin:       qmin, QMax: qmax, Axis: axis,
	}
}

// SetParams sets the scales and zero points (for example from a file or a calibration).
func (q *Quantizer) SetParams(p quant.Params) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("autograd: quantizer %s: %w", q.Name, err)
	}
	if len(p.Scales) != len(q.Scales()) {
		return fmt.Errorf("autograd: quantizer %s: %d scales, want %d", q.Name, len(p.Scales), len(q.Scales()))
	}
	copy(q.Scales(), p.Scales)
	copy(q.ZeroPoints, p.ZeroPoints)
	q.observed = true
	return nil
}

// observe updates the observer with x and refreshes the scales.
func (q *Quantizer) observe(x []float32, shape []int) error {
	if q.ResetEachStep {
		q.Observer.Reset()
	}
	if err := q.Observer.Observe(x, shape); err != nil {
		return err
	}
	p, err := q.Observer.Params()
	if err != nil {
		return err
	}
	copy(q.Scales(), p.Scales)
	copy(q.ZeroPoints, p.ZeroPoints)
	q.observed = true
	return nil
}

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

type fakeQuantOp struct {
	base
	q   *Quantizer
	out buffer
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
	x, err := f32(op, "x", vs[0])
	if err != nil {
		return nil, err
	}
	shape := []int(vs[0].Shape())
	q := op.q
	if q.Observe && q.Observer != nil {
		if err := q.observe(x, shape); err != nil {
			return nil, fmt.Errorf("autograd: fake-quant %s: observe: %w", q.Name, err)
		}
	}
	out := op.out.get(shape...)
	od := out.Data().([]float32)
	if q.Disabled {
		copy(od, x)
		return out, nil
	}
	if err := quant.FakeQuantize(od, x, shape, q.paramsView()); err != nil {
		return nil, fmt.Errorf("autograd: fake-quant %s: %w", q.Name, err)
	}
	return out, nil
}

// paramsView returns the current parameters sharing the quantizer's memory (no allocation
// beyond the struct), for the forward and backward passes.
func (q *Quantizer) paramsView() quant.Params {
	qmin, qmax := q.Spec.QRange()
	axis := -1
	if q.Spec.Granularity == quant.PerChannel {
		axis = q.Spec.Axis
	}
	return quant.Params{Scales: q.Scales(), ZeroPoints: q.ZeroPoints, QMin: qmin, QMax: qmax, Axis: axis}
}

func (op *fakeQuantOp) DiffWRT(int) []bool { return []bool{true, op.q.LSQ} }

func (op *fakeQuantOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	x, s := inputs[0], inputs[1]
	dx, err := G.ApplyOp(&fakeQuantGradOp{base: base{name: op.name, kind: "FakeQuantGradX"}, q: op.q}, x, s, grad)
	if err != nil {
		return nil, err
	}
	var ds *G.Node
	if op.q.LSQ {
		if ds, err = G.ApplyOp(&fakeQuantGradOp{base: base{name: op.name, kind: "FakeQuantGradScale"}, q: op.q, wrtScale: true}, x, s, grad); err != nil {
			return nil, err
		}
	}
	return G.Nodes{dx, ds}, nil
}

// fakeQuantGradOp is the backward of fakeQuantOp from (x, s, dy):
//
//	dx = dy · 1[x not clipped]                                   (clipped STE)
//	ds_c = g · Σ_{i in channel c} dy_i · ∂x̂_i/∂s                 (LSQ, wrtScale)
//	∂x̂/∂s = round(x/s) - x/s  inside the range; Qn or Qp (the clipped level minus zp) outside
//	g = 1/sqrt(N·Qp), N = elements per scale, Qp = qmax - zp      (LSQ's gradient scale)
type fakeQuantGradOp struct {
	base
	q        *Quantizer
	wrtScale bool
	out      buffer
}

func (op *fakeQuantGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "tinyq.%s{%s %v scale=%t}", op.kind, op.name, op.q.Spec, op.wrtScale)
}
func (op *fakeQuantGradOp) Hashcode() uint32 { return hashOf(op) }
func (op *fakeQuantGradOp) Arity() int       { return 3 }
func (op *fakeQuantGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	if op.wrtScale {
		return fnType(a, vecF32, a, vecF32)
	}
	return fnType(a, vecF32, a, a)
}
func (op *fakeQuantGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.wrtScale {
		return in[1].(tensor.Shape).Clone(), nil
	}
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *fakeQuantGradOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (op *fakeQuantGradOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("autograd: %v: second derivatives are not supported", op)
}

func (op *fakeQuantGradOp) Do(vs ...G.Value) (G.Value, error) {
	x, err := f32(op, "x", vs[0])
	if err != nil {
		return nil, err
	}
	dy, err := f32(op, "dy", vs[2])
	if err != nil {
		return nil, err
	}
	shape := []int(vs[0].Shape())
	p := op.q.paramsView()
	outer, chans, inner := splitAxis(shape, p.Axis)
	if op.wrtScale {
		ds := op.out.get(len(p.Scales))
		dsd := ds.Data().([]float32)
		n := outer * inner // elements per scale
		for c := range dsd {
			zp := p.ZeroPoints[c]
			qp := float64(p.QMax - zp)
			var sum float64
			for o := 0; o < outer; o++ {
				off := (o*chans + c) * inner
				for i := off; i < off+inner; i++ {
					sum += float64(dy[i]) * lsqScaleGrad(x[i], p.Scales[c], zp, p.QMin, p.QMax)
				}
			}
			dsd[c] = float32(sum / math.Sqrt(float64(n)*qp))
		}
		return ds, nil
	}
	if op.q.Disabled {
		dx := op.out.get(shape...)
		copy(dx.Data().([]float32), dy)
		return dx, nil
	}
	dx := op.out.get(shape...)
	dxd := dx.Data().([]float32)
	for o := 0; o < outer; o++ {
		for c := 0; c < chans; c++ {
			off := (o*chans + c) * inner
			s, zp := p.Scales[0], p.ZeroPoints[0]
			if p.Axis >= 0 {
				s, zp = p.Scales[c], p.ZeroPoints[c]
			}
			for i := off; i < off+inner; i++ {
				if quant.InRange(x[i], s, zp, p.QMin, p.QMax) {
					dxd[i] = dy[i]
				} else {
					dxd[i] = 0
				}
			}
		}
	}
	return dx, nil
}

// lsqScaleGrad is ∂x̂/∂s for one element (Esser et al. 2019, eq. 3), with x̂ = s·(q - zp):
// round(x/s) - x/s inside the range, and the clipped level (qmin-zp or qmax-zp) outside.
func lsqScaleGrad(x, s float32, zp, qmin, qmax int32) float64 {
	q := quant.QuantizeValue(x, s, zp, qmin, qmax)
	if !quant.InRange(x, s, zp, qmin, qmax) {
		return float64(q - zp)
	}
	return float64(q-zp) - float64(x/s)
}

// splitAxis views a shape as [outer, chans, inner] around axis (axis < 0: one channel).
func splitAxis(shape []int, axis int) (outer, chans, inner int) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if axis < 0 {
		return 1, 1, n
	}
	outer, inner = 1, 1
	for i, d := range shape {
		switch {
		case i < axis:
			outer *= d
		case i > axis:
			inner *= d
		}
	}
	return outer, shape[axis], inner
}
