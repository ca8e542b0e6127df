package autograd

import (
	"fmt"
	"math"

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
	// If it implements quant.RangeState (quant's MinMaxObserver and MovingAverageObserver),
	// its parameters depend only on each tensor's per-channel minimum and maximum: FakeQuant
	// then computes that range itself (on two goroutines for large tensors) and shows the
	// observer a tensor holding only the minima and maxima, which gives the same parameters
	// bit for bit and skips the observer's own pass over x. Any other observer (percentile,
	// MSE) is shown the whole tensor.
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
	// largest positive integer level), and should be given to an optimizer. The observer then
	// gives only the initial scale: the first observation switches Observe off.
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
	if q.LSQ {
		// A learned scale takes its initial value from the first observation and is the
		// optimizer's from then on: a later observation would overwrite every update.
		q.Observe = false
	}
	return nil
}

// rangeOnly reports whether the observer's parameters depend only on the per-channel range
// of each observed tensor: the promise of quant.RangeState.
func (q *Quantizer) rangeOnly() bool {
	_, ok := q.Observer.(quant.RangeState)
	return ok
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

// Observation by the forward pass. fakeQuantOp.Do calls observe before quantizing the same
// batch, while Quantizer.Observe is on.

// observe shows the observer x or, when the observer promises to need only ranges
// (q.rangeOnly), a summary of x's per-channel range: a tensor whose channel c holds exactly
// min and max of x's channel c, from which such an observer computes the same parameters as
// from x.
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
	if !q.rangeOnly() || len(op.x) == 0 || axis >= len(op.shape) {
		return q.observe(op.x, op.shape) // the observer reports bad shapes
	}
	_, chans, _, err := quant.SplitAxis(op.shape, axis)
	if err != nil {
		return q.observe(op.x, op.shape)
	}
	for k := range op.mins {
		op.mins[k], op.maxs[k] = resize(op.mins[k], chans), resize(op.maxs[k], chans)
		for c := range chans {
			op.mins[k][c], op.maxs[k][c] = float32(math.Inf(1)), float32(math.Inf(-1))
		}
	}
	if op.rangeJob == nil {
		op.rangeJob = op.rangeRows
	}
	op.errs = [2]error{}
	parts := op.par.run(op.rows, len(op.x), op.rangeJob)
	for _, err := range op.errs {
		if err != nil {
			return err
		}
	}
	if parts == 2 {
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
// buffers. A NaN or ±Inf in x becomes a non-finite bound, which the observer rejects (the
// builtin min and max that merge the two parts propagate NaN).
func (op *fakeQuantOp) rangeRows(part, lo, hi int) {
	a, b, shape := op.chunk(part, lo, hi)
	axis := -1
	if op.q.Spec.Granularity == quant.PerChannel {
		axis = op.q.Spec.Axis
	}
	outer, chans, inner, err := quant.SplitAxis(shape, axis)
	if err != nil {
		op.errs[part] = err
		return
	}
	x := op.x[a:b]
	mins, maxs := op.mins[part][:chans], op.maxs[part][:chans]
	if inner == 1 && chans > 1 { // channels along the last axis: walk rows
		// Element c of a row is in channel c, so there is no slice of one channel for
		// quant.RangeOf; this loop makes the same plain comparisons. Not the min/max builtins, which must order NaN and ±0 and cost
		// several instructions per element (the sign of a zero bound does not change a
		// scale). v-v is 0 for finite v and NaN for NaN and ±Inf: such a value is passed on
		// as a NaN bound, which the observer rejects, as with the builtins.
		// The first columns, 16 at a time, with AVX-512 where available (the same
		// comparisons in the same order, so the same bounds bit for bit).
		done := rangeBlocks(x, outer, chans, mins, maxs)
		for o := range outer {
			row := x[o*chans+done : (o+1)*chans]
			mins, maxs := mins[done:done+len(row)], maxs[done:done+len(row)]
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
			l, h := rangeOf(x[off : off+inner])
			// The same strict comparisons as one pass over the channel would make; a NaN
			// bound (l != l) is kept so that the observer sees it.
			if l < mins[c] || l != l {
				mins[c] = l
			}
			if h > maxs[c] || h != h {
				maxs[c] = h
			}
		}
	}
}
