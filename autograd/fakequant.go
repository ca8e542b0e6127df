package autograd

import (
	"fmt"
	"hash"
	"math"
	"runtime"
	"sync"

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
	// ObserveRows, if > 0, limits observation to the first ObserveRows rows (dimension 0) of
	// the tensor: the real samples of a padded batch, whose padding rows must not widen an
	// activation range. The trainer sets it before every step (qat.Model.TrainConfig).
	ObserveRows int
	// Disabled makes the site the identity (PyTorch's disable_fake_quant).
	Disabled bool
	// LSQ makes the scale learnable (Esser et al. 2019, "Learned Step Size Quantization"):
	// the scale node gets a gradient, scaled by 1/sqrt(N·Qp) (N elements per scale, Qp the
	// largest positive integer level), and should be given to an optimizer.
	LSQ bool
	// RangeOnly promises that Observer's parameters depend only on the per-channel minimum and
	// maximum of each observed tensor, as for quant.MinMaxObserver and
	// quant.MovingAverageObserver. FakeQuant then computes that range itself (on two goroutines
	// for large tensors) and shows the observer a tensor holding only the minima and maxima,
	// which gives the same parameters bit for bit and skips the observer's own pass over x.
	// Leave it false for any other observer (percentile, MSE): they need every value.
	RangeOnly bool

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
func (q *Quantizer) Scales() []float32 {
	if q.Scale.Dtype() == tensor.Float32 {
		return q.Scale.Float32s() // no allocation, unlike Data (see f32s)
	}
	return q.Scale.Data().([]float32)
}

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

// observe updates the observer with x (row-major, with the given shape) and refreshes the
// scales.
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

// parallelMin is the smallest tensor, in elements, that the fake-quant ops split over two
// goroutines. Starting and joining a goroutine costs a few microseconds; fake-quantizing and
// masking 2^14 elements takes about 20 µs on the 2-core benchmark machine, so below this size
// the split gains little.
const parallelMin = 1 << 14

// halves runs a job over rows [0, rows) on two goroutines: [0, rows/2) as part 0 on the
// caller's and [rows/2, rows) as part 1 on a new one. Jobs are method values bound once per op
// and the goroutine's entry point is bound on first use, so a run allocates nothing.
type halves struct {
	wg     sync.WaitGroup
	job    func(part, lo, hi int)
	lo, hi int
	start  func() // h.second
}

func (h *halves) second() {
	defer h.wg.Done()
	h.job(1, h.lo, h.hi)
}

// run calls job(0, 0, rows) alone when the tensor (n elements) is small, has one row, or only
// one CPU is available, and otherwise job(0, 0, mid) and job(1, mid, rows) concurrently. It
// returns the number of parts run.
func (h *halves) run(rows, n int, job func(part, lo, hi int)) int {
	if n < parallelMin || rows < 2 || runtime.GOMAXPROCS(0) < 2 {
		job(0, 0, rows)
		return 1
	}
	if h.start == nil {
		h.start = h.second
	}
	mid := rows / 2
	h.job, h.lo, h.hi = job, mid, rows
	h.wg.Add(1)
	go h.start()
	job(0, 0, mid)
	h.wg.Wait()
	h.job = nil
	return 2
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

	// Range observation (q.RangeOnly): per-part minima and maxima, and the summary the observer
	// is shown.
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
	// tensor's exact range (Observe, ResetEachStep, RangeOnly), so no value was clipped and the
	// mask is all ones by construction (|x|/(max|x|/qmax) rounds to at most qmax); the
	// backward then copies dy. This saves the mask on every weight in every step.
	unclipped bool
	loS, hiS  []float32 // per channel, the outputs of values clipped low and high
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
	op.unclipped = q.Observe && q.Observer != nil && q.ResetEachStep && q.RangeOnly && q.Spec.Scheme == quant.Symmetric
	needMask := op.wantMask && !op.unclipped
	if needMask {
		op.prepareMask()
	}
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

// observe shows the observer x, or with q.RangeOnly a summary of x's per-channel range: a
// tensor whose channel c holds exactly min and max of x's channel c, from which a min/max
// observer computes the same parameters as from x.
func (op *fakeQuantOp) observe() error {
	q := op.q
	axis := -1
	if q.Spec.Granularity == quant.PerChannel {
		axis = q.Spec.Axis
	}
	if n := q.ObserveRows; n > 0 && len(op.shape) > 1 && n < op.shape[0] && axis != 0 {
		// Observe only the real rows; restore the whole tensor for quantizing.
		x, shape, rows := op.x, op.shape, op.rows
		op.x = x[:n*(len(x)/shape[0])]
		op.obsShape = append(append(op.obsShape[:0], n), shape[1:]...)
		op.shape, op.rows = op.obsShape, min(rows, n)
		defer func() { op.x, op.shape, op.rows = x, shape, rows }()
	}
	if !q.RangeOnly || len(op.x) == 0 || axis >= len(op.shape) {
		return q.observe(op.x, op.shape) // the observer reports bad shapes
	}
	_, chans, _ := splitAxis(op.shape, axis)
	for k := range op.mins {
		op.mins[k], op.maxs[k] = resize(op.mins[k], chans), resize(op.maxs[k], chans)
		for c := range chans {
			op.mins[k][c], op.maxs[k][c] = float32(math.Inf(1)), float32(math.Inf(-1))
		}
	}
	if op.rangeJob == nil {
		op.rangeJob = op.rangeRows
	}
	if op.par.run(op.rows, len(op.x), op.rangeJob) == 2 {
		for c := range chans {
			op.mins[0][c] = min(op.mins[0][c], op.mins[1][c])
			op.maxs[0][c] = max(op.maxs[0][c], op.maxs[1][c])
		}
	}
	// Summary: shape [2] per-tensor, or [1, ..., 1, chans, 2] with chans at axis per-channel;
	// channel c holds (min_c, max_c).
	op.summary = resize(op.summary, 2*chans)
	for c := range chans {
		op.summary[2*c], op.summary[2*c+1] = op.mins[0][c], op.maxs[0][c]
	}
	op.summaryShape = op.summaryShape[:0]
	if axis >= 0 {
		for range axis {
			op.summaryShape = append(op.summaryShape, 1)
		}
		op.summaryShape = append(op.summaryShape, chans)
	}
	op.summaryShape = append(op.summaryShape, 2)
	return q.observe(op.summary, op.summaryShape)
}

// rangeRows accumulates the per-channel minima and maxima of rows [lo, hi) into part's
// buffers. The builtin min and max propagate NaN, so a NaN reaches the observer, which
// rejects it.
func (op *fakeQuantOp) rangeRows(part, lo, hi int) {
	a, b, shape := op.chunk(part, lo, hi)
	axis := -1
	if op.q.Spec.Granularity == quant.PerChannel {
		axis = op.q.Spec.Axis
	}
	outer, chans, inner := splitAxis(shape, axis)
	x := op.x[a:b]
	mins, maxs := op.mins[part][:chans], op.maxs[part][:chans]
	if inner == 1 && chans > 1 { // channels along the last axis: walk rows
		// Plain comparisons, not the min/max builtins, which must order NaN and ±0 and cost
		// several instructions per element (the sign of a zero bound does not change a
		// scale). v-v is 0 for finite v and NaN for NaN and ±Inf: such a value is passed on
		// as a NaN bound, which the observer rejects, as with the builtins.
		for o := range outer {
			row := x[o*chans : (o+1)*chans]
			mins, maxs := mins[:len(row)], maxs[:len(row)]
			for c, v := range row {
				if v < mins[c] {
					mins[c] = v
				}
				if v > maxs[c] {
					maxs[c] = v
				}
				if v-v != 0 {
					mins[c] = v - v
				}
			}
		}
		return
	}
	for o := range outer {
		for c := range chans {
			off := (o*chans + c) * inner
			l, h := mins[c], maxs[c]
			bad := false
			for _, v := range x[off : off+inner] { // plain comparisons, as above
				if v < l {
					l = v
				}
				if v > h {
					h = v
				}
				bad = bad || v-v != 0
			}
			if bad {
				l = float32(math.NaN())
			}
			mins[c], maxs[c] = l, h
		}
	}
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
	if err := quant.FakeQuantize(y, x, shape, op.p); err != nil {
		op.errs[part] = err
		return
	}
	if !op.wantMask || op.unclipped {
		return
	}
	m := op.mask[a:b]
	p := op.p
	outer, chans, inner := splitAxis(shape, p.Axis)
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
	dx, err := G.ApplyOp(&fakeQuantGradOp{base: base{name: op.name, kind: "FakeQuantGradX"}, fwd: op}, x, s, output, grad)
	if err != nil {
		return nil, err
	}
	var ds *G.Node
	if op.q.LSQ {
		if ds, err = G.ApplyOp(&lsqGradOp{base: base{name: op.name, kind: "FakeQuantGradScale"}, q: op.q}, x, s, grad); err != nil {
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
	base
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
func (op *fakeQuantGradOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (op *fakeQuantGradOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("autograd: %v: second derivatives are not supported", op)
}

func (op *fakeQuantGradOp) Do(vs ...G.Value) (G.Value, error) {
	x, err := f32s(op, "x", vs[0])
	if err != nil {
		return nil, err
	}
	dy, err := f32s(op, "dy", vs[3])
	if err != nil {
		return nil, err
	}
	if len(dy) != len(x) {
		return nil, fmt.Errorf("autograd: %v: dy has %d elements, x has %d", op, len(dy), len(x))
	}
	shape := []int(vs[0].Shape())
	dx := op.out.get(shape...)
	dxd := dx.Float32s()
	q, fwd := op.fwd.q, op.fwd
	switch {
	case q.Disabled, len(x) > 0 && fwd.maskOf == &x[0] && fwd.unclipped:
		copy(dxd, dy)
	case len(x) > 0 && fwd.maskOf == &x[0] && len(fwd.mask) == len(x):
		op.dx, op.dy, op.mask = dxd, dy, fwd.mask
		if op.job == nil {
			op.job = op.applyMask
		}
		op.par.run(len(x), len(x), op.job)
		op.dx, op.dy, op.mask = nil, nil, nil
	default:
		fwd.wantMask = true
		steFromInput(dxd, x, dy, shape, q.paramsView())
	}
	return dx, nil
}

// applyMask writes dx = dy & mask for elements [lo, hi): dy where the mask is keep, +0 where
// it is 0, exactly.
func (op *fakeQuantGradOp) applyMask(_, lo, hi int) {
	dx, dy, m := op.dx[lo:hi], op.dy[lo:hi], op.mask[lo:hi]
	dy, m = dy[:len(dx)], m[:len(dx)]
	for i := range dx {
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & m[i])
	}
}

// steFromInput is the clipped STE computed from x alone: dx = dy where quant.InRange(x), else 0.
func steFromInput(dx, x, dy []float32, shape []int, p quant.Params) {
	outer, chans, inner := splitAxis(shape, p.Axis)
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
}

// lsqGradOp is LSQ's gradient of fakeQuantOp with respect to the scales, from (x, s, dy):
//
//	ds_c = g · Σ_{i in channel c} dy_i · ∂x̂_i/∂s
//	∂x̂/∂s = round(x/s) - x/s  inside the range; Qn or Qp (the clipped level minus zp) outside
//	g = 1/sqrt(N·Qp), N = elements per scale, Qp = qmax - zp      (LSQ's gradient scale)
type lsqGradOp struct {
	base
	q    *Quantizer
	out  buffer
	sums []float64 // per-channel accumulators, reused
}

func (op *lsqGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "tinyq.%s{%s %v}", op.kind, op.name, op.q.Spec)
}
func (op *lsqGradOp) Hashcode() uint32 { return hashOf(op) }
func (op *lsqGradOp) Arity() int       { return 3 }
func (op *lsqGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(a, vecF32, a, vecF32)
}
func (op *lsqGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[1].(tensor.Shape).Clone(), nil
}
func (op *lsqGradOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (op *lsqGradOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("autograd: %v: second derivatives are not supported", op)
}

func (op *lsqGradOp) Do(vs ...G.Value) (G.Value, error) {
	x, err := f32(op, "x", vs[0])
	if err != nil {
		return nil, err
	}
	dy, err := f32(op, "dy", vs[2])
	if err != nil {
		return nil, err
	}
	if len(dy) != len(x) {
		return nil, fmt.Errorf("autograd: %v: dy has %d elements, x has %d", op, len(dy), len(x))
	}
	shape := []int(vs[0].Shape())
	p := op.q.paramsView()
	outer, chans, inner := splitAxis(shape, p.Axis)
	ds := op.out.get(len(p.Scales))
	dsd := ds.Data().([]float32)
	if cap(op.sums) < len(dsd) {
		op.sums = make([]float64, len(dsd))
	}
	sums := op.sums[:len(dsd)]
	clear(sums)
	// Walk x in memory order (a [in, out] weight with per-channel axis 1 would otherwise be
	// read column by column) and accumulate per channel.
	for o := range outer {
		for c := range chans {
			k := c
			if p.Axis < 0 {
				k = 0
			}
			s, zp := p.Scales[k], p.ZeroPoints[k]
			off := (o*chans + c) * inner
			var sum float64
			for i := off; i < off+inner; i++ {
				sum += float64(dy[i]) * lsqScaleGrad(x[i], s, zp, p.QMin, p.QMax)
			}
			sums[k] += sum
		}
	}
	n := outer * inner // elements per scale
	for c := range dsd {
		qp := float64(p.QMax - p.ZeroPoints[c])
		dsd[c] = float32(sums[c] / math.Sqrt(float64(n)*qp))
	}
	return ds, nil
}

// lsqScaleGrad is ∂x̂/∂s for one element (Esser et al. 2019, eq. 3), with x̂ = s·(q - zp):
// round(x/s) - x/s inside the range, and the clipped level (qmin-zp or qmax-zp) outside.
// It divides once, exactly as quant.QuantizeValue and quant.InRange do (float32 x/s, rounded
// half to even), so "inside" is InRange bit for bit.
func lsqScaleGrad(x, s float32, zp, qmin, qmax int32) float64 {
	t := x / s
	r := math.RoundToEven(float64(t))
	switch q := r + float64(zp); {
	case q < float64(qmin):
		return float64(qmin - zp)
	case q > float64(qmax):
		return float64(qmax - zp)
	}
	return r - float64(t)
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

// f32s is f32 without an allocation: Dense.Data boxes a new slice header through reflect on
// every call, while the promoted Float32s of a float32 *tensor.Dense returns its backing as is.
func f32s(op fmt.Stringer, arg string, v G.Value) ([]float32, error) {
	if d, ok := v.(*tensor.Dense); ok && d.Dtype() == tensor.Float32 && !d.IsScalar() {
		return d.Float32s(), nil
	}
	return f32(op, arg, v)
}

// resize returns s with length n, reusing its memory when it is large enough.
func resize(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// resizeU32 is resize for []uint32.
func resizeU32(s []uint32, n int) []uint32 {
	if cap(s) < n {
		return make([]uint32, n)
	}
	return s[:n]
}
