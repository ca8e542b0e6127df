package autograd

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/internal/par"
)

// BatchNormState holds a BatchNorm's running statistics and mode, with PyTorch's semantics
// (torch.nn.BatchNorm2d): in training the running statistics move towards each batch's by
// Momentum (running = (1-Momentum)·running + Momentum·batch), the running variance with the
// unbiased batch variance (n/(n-1) times the biased one) while the normalization uses the
// biased one; in evaluation the running statistics normalize. Eps is added to the variance
// under the square root. NewBatchNormState gives PyTorch's defaults.
//
// Mean and Var have one value per channel. BatchNorm updates them in place, once per forward
// run in training mode; the caller flips Training between training and evaluation runs.
type BatchNormState struct {
	Mean, Var     []float32
	Momentum, Eps float32
	Training      bool
}

// PyTorch's defaults for BatchNorm2d: momentum 0.1, eps 1e-5, running mean 0 and variance 1.
const (
	DefaultBNMomentum = 0.1
	DefaultBNEps      = 1e-5
)

// NewBatchNormState returns the state of a BatchNorm over channels channels with PyTorch's
// defaults: running mean 0, running variance 1, momentum 0.1, eps 1e-5, training mode.
func NewBatchNormState(channels int) *BatchNormState {
	st := &BatchNormState{Mean: make([]float32, channels), Var: make([]float32, channels),
		Momentum: DefaultBNMomentum, Eps: DefaultBNEps, Training: true}
	for i := range st.Var {
		st.Var[i] = 1
	}
	return st
}

// check reports whether the state fits c channels.
func (st *BatchNormState) check(c int) error {
	if st == nil {
		return fmt.Errorf("no state")
	}
	if len(st.Mean) != c || len(st.Var) != c {
		return fmt.Errorf("state has %d means and %d variances, want %d (one per channel)", len(st.Mean), len(st.Var), c)
	}
	if !(st.Eps > 0) || math.IsInf(float64(st.Eps), 0) {
		return fmt.Errorf("eps %v: want a finite value > 0", st.Eps)
	}
	if !(st.Momentum >= 0 && st.Momentum <= 1) {
		return fmt.Errorf("momentum %v: want [0, 1]", st.Momentum)
	}
	return nil
}

// BatchNorm returns y = gamma·(x-mean)/sqrt(var+eps) + beta for x [N, H·W·C]: each row holds
// H·W pixels of C channels (NHWC; C = len(gamma), the innermost values), and every channel is
// normalized over the N·H·W pixels of the batch. In training mode (st.Training) mean and var
// are the batch's (the biased variance) and st's running statistics are updated once per
// forward run; otherwise st's running statistics normalize and st is left alone. gamma and
// beta are [C]. A dense layer's BatchNorm (BatchNorm1d) is the case H = W = 1.
//
// The gradient is the textbook one for the mode of the last forward run: through the batch
// statistics in training, through the affine map alone in evaluation. Statistics and
// gradient sums are accumulated in float64 over fixed blocks of rows, so results do not
// depend on the number of goroutines.
//
// name must be unique within the graph.
func BatchNorm(name string, x, gamma, beta *G.Node, st *BatchNormState) (*G.Node, error) {
	xs, gs, bs := x.Shape(), gamma.Shape(), beta.Shape()
	if len(xs) != 2 || len(gs) != 1 || len(bs) != 1 || gs[0] != bs[0] || gs[0] < 1 || xs[1]%gs[0] != 0 {
		return nil, fmt.Errorf("autograd: batchnorm %s: shapes x %v, gamma %v, beta %v; want [N, H·W·C], [C], [C]", name, xs, gs, bs)
	}
	if err := st.check(gs[0]); err != nil {
		return nil, fmt.Errorf("autograd: batchnorm %s: %w", name, err)
	}
	return G.ApplyOp(&bnOp{base: base{name: name, kind: "BatchNorm"}, st: st}, x, gamma, beta)
}

// bnOp is the BatchNorm forward. It keeps the statistics it normalized with (mean and
// 1/sqrt(var+eps) per channel) for its gradient ops, which run after it in the same program.
type bnOp struct {
	base
	st  *BatchNormState
	out buffer
	par halves

	// Saved by Do for the gradient: the mode and statistics of the last run.
	trained      bool
	mean, invStd []float32 // [C]
	scale        []float32 // [C] gamma·invStd
	sums         reduction

	// Arguments of the current run, for the parallel job (bound once).
	x, y, beta []float32
	c          int
	job        func(part, lo, hi int)
}

// WriteHash writes the op's identity: its name, its state and the state's parameters.
func (op *bnOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "tinyq.%s{%s,%p,%v,%v}", op.kind, op.name, op.st, op.st.Momentum, op.st.Eps)
}
func (op *bnOp) Hashcode() uint32 { return hashOf(op) }
func (op *bnOp) Arity() int       { return 3 }
func (op *bnOp) Type() hm.Type    { return fnType(matF32, vecF32, vecF32, matF32) }
func (op *bnOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

// bnArgs reads x [N, H·W·C] and gamma [C] and returns them with rows = N·H·W.
func bnArgs(op fmt.Stringer, vx, vg G.Value) (x, gamma []float32, rows, c int, err error) {
	if _, _, err = dims2(op, "x", vx); err != nil {
		return
	}
	if x, err = f32s(op, "x", vx); err != nil {
		return
	}
	if gamma, err = f32s(op, "gamma", vg); err != nil {
		return
	}
	c = len(gamma)
	if c == 0 || len(x)%c != 0 {
		err = fmt.Errorf("autograd: %v: x has %d values, not a multiple of %d channels", op, len(x), c)
		return
	}
	return x, gamma, len(x) / c, c, nil
}

func (op *bnOp) Do(vs ...G.Value) (G.Value, error) {
	x, gamma, rows, c, err := bnArgs(op, vs[0], vs[1])
	if err != nil {
		return nil, err
	}
	beta, err := f32s(op, "beta", vs[2])
	if err != nil {
		return nil, err
	}
	st := op.st
	if len(beta) != c {
		return nil, fmt.Errorf("autograd: %v: beta has %d values, gamma %d", op, len(beta), c)
	}
	if err := st.check(c); err != nil {
		return nil, fmt.Errorf("autograd: %v: %w", op, err)
	}
	op.mean, op.invStd, op.scale = resize(op.mean, c), resize(op.invStd, c), resize(op.scale, c)
	op.trained = st.Training
	if st.Training {
		if rows < 2 {
			// PyTorch refuses too: the unbiased variance of one value is undefined.
			return nil, fmt.Errorf("autograd: %v: training needs more than 1 value per channel, got %d", op, rows)
		}
		// One pass of float64 sums of d = x - shift and d², shift the first row's value of
		// each channel: with a shift within the data's spread, the variance
		// Σd²/n - (Σd/n)² cancels no more digits than around the exact mean, however
		// large the mean (two passes cost a third more).
		shift := x[:c]
		s := op.sums.run(x, nil, shift, nil, rows, c)
		n, m := float64(rows), float64(st.Momentum)
		for j := range c {
			d := s[0][j] / n
			mean := float64(shift[j]) + d
			v := max(s[1][j]/n-d*d, 0) // biased
			op.mean[j] = float32(mean)
			op.invStd[j] = float32(1 / math.Sqrt(v+float64(st.Eps)))
			st.Mean[j] = float32((1-m)*float64(st.Mean[j]) + m*mean)
			st.Var[j] = float32((1-m)*float64(st.Var[j]) + m*v*n/(n-1))
		}
	} else {
		for j := range c {
			op.mean[j] = st.Mean[j]
			op.invStd[j] = float32(1 / math.Sqrt(float64(st.Var[j])+float64(st.Eps)))
		}
	}
	for j := range c {
		op.scale[j] = gamma[j] * op.invStd[j]
	}
	y := op.out.get(vs[0].Shape()...)
	op.x, op.y, op.beta, op.c = x, y.Float32s(), beta, c
	if op.job == nil {
		op.job = op.normalize
	}
	op.par.run(rows, len(x), op.job)
	op.x, op.y, op.beta = nil, nil, nil
	return y, nil
}

// normalize writes y = (x-mean)·scale + beta for rows [lo, hi).
func (op *bnOp) normalize(_, lo, hi int) {
	c := op.c
	mean, scale, beta := op.mean[:c], op.scale[:c], op.beta[:c]
	for r := lo; r < hi; r++ {
		x, y := op.x[r*c:(r+1)*c], op.y[r*c:(r+1)*c]
		for j, v := range x {
			y[j] = (v-mean[j])*scale[j] + beta[j]
		}
	}
}

func (op *bnOp) DiffWRT(int) []bool { return []bool{true, true, true} }

// SymDiff builds the backward: one op of per-channel sums Σdy and Σdy·x̂ (x̂ the normalized
// x), shared by the three gradients: dbeta = Σdy, dgamma = Σdy·x̂, and dx.
func (op *bnOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	x, gamma := inputs[0], inputs[1]
	gb := func(kind string) gradBase { return gradBase{base{name: op.name, kind: kind}} }
	sums, err := G.ApplyOp(&bnSumsOp{gradBase: gb("BatchNormSums"), fwd: op}, x, grad)
	if err != nil {
		return nil, err
	}
	dgamma, err := G.ApplyOp(&bnPickOp{gradBase: gb("BatchNormGradGamma"), row: 1}, sums)
	if err != nil {
		return nil, err
	}
	dbeta, err := G.ApplyOp(&bnPickOp{gradBase: gb("BatchNormGradBeta"), row: 0}, sums)
	if err != nil {
		return nil, err
	}
	dx, err := G.ApplyOp(&bnGradXOp{gradBase: gb("BatchNormGradX"), fwd: op}, x, gamma, grad, sums)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dgamma, dbeta}, nil
}

// savedStats returns the forward's statistics for c channels, or an error if it has not run.
func (op *bnOp) savedStats(by fmt.Stringer, c int) (mean, invStd []float32, err error) {
	if len(op.mean) != c || len(op.invStd) != c {
		return nil, nil, fmt.Errorf("autograd: %v: the forward %v has not run with %d channels", by, op, c)
	}
	return op.mean, op.invStd, nil
}

// bnSumsOp computes, from x and dy, the per-channel sums [2, C]: row 0 Σdy, row 1 Σdy·x̂ with
// x̂ = (x-mean)·invStd from the forward's statistics.
type bnSumsOp struct {
	gradBase
	fwd  *bnOp
	out  buffer
	sums reduction
}

func (op *bnSumsOp) Arity() int    { return 2 }
func (op *bnSumsOp) Type() hm.Type { return fnType(matF32, matF32, matF32) }
func (op *bnSumsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{2, op.fwd.st.channels()}, nil
}
func (op *bnSumsOp) Do(vs ...G.Value) (G.Value, error) {
	x, dy, err := inputAndGrad(op, vs[0], vs[1])
	if err != nil {
		return nil, err
	}
	c := len(op.fwd.st.Mean)
	if c == 0 || len(x)%c != 0 {
		return nil, fmt.Errorf("autograd: %v: x has %d values, not a multiple of %d channels", op, len(x), c)
	}
	mean, invStd, err := op.fwd.savedStats(op, c)
	if err != nil {
		return nil, err
	}
	s := op.sums.run(x, dy, mean, invStd, len(x)/c, c)
	out := op.out.get(2, c)
	o := out.Float32s()
	for j := range c {
		o[j] = float32(s[0][j])
		o[c+j] = float32(s[1][j])
	}
	return out, nil
}

// channels returns the number of channels of the state.
func (st *BatchNormState) channels() int { return len(st.Mean) }

// bnPickOp returns one row of a [2, C] matrix as a vector [C].
type bnPickOp struct {
	gradBase
	row int
	out buffer
}

func (op *bnPickOp) Arity() int    { return 1 }
func (op *bnPickOp) Type() hm.Type { return fnType(matF32, vecF32) }
func (op *bnPickOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[1]}, nil
}
func (op *bnPickOp) Do(vs ...G.Value) (G.Value, error) {
	_, c, err := dims2(op, "sums", vs[0])
	if err != nil {
		return nil, err
	}
	s, err := f32s(op, "sums", vs[0])
	if err != nil {
		return nil, err
	}
	out := op.out.get(c)
	copy(out.Float32s(), s[op.row*c:(op.row+1)*c])
	return out, nil
}

// bnGradXOp computes dx from x, gamma, dy and the sums [2, C] (Σdy, Σdy·x̂), with M = N·H·W
// the values per channel:
//
//	training:   dx = gamma·invStd·(dy - Σdy/M - x̂·Σdy·x̂/M)
//	evaluation: dx = gamma·invStd·dy
type bnGradXOp struct {
	gradBase
	fwd *bnOp
	out buffer
	par halves

	// Per-channel coefficients of the current run: dx = k·dy + a·(x-mean) + b.
	k, a, b, mean []float32
	x, dy         []float32
	dx            []float32
	c             int
	job           func(part, lo, hi int)
}

func (op *bnGradXOp) Arity() int    { return 4 }
func (op *bnGradXOp) Type() hm.Type { return fnType(matF32, vecF32, matF32, matF32, matF32) }
func (op *bnGradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *bnGradXOp) Do(vs ...G.Value) (G.Value, error) {
	x, gamma, rows, c, err := bnArgs(op, vs[0], vs[1])
	if err != nil {
		return nil, err
	}
	_, dy, err := inputAndGrad(op, vs[0], vs[2])
	if err != nil {
		return nil, err
	}
	s, err := f32s(op, "sums", vs[3])
	if err != nil {
		return nil, err
	}
	if len(s) != 2*c {
		return nil, fmt.Errorf("autograd: %v: sums have %d values, want %d", op, len(s), 2*c)
	}
	mean, invStd, err := op.fwd.savedStats(op, c)
	if err != nil {
		return nil, err
	}
	// dx = g·dy - g·Σdy/M - g·invStd·Σdyx̂/M·(x-mean) with g = gamma·invStd: per channel
	// k·dy + a·(x-mean) + b, the coefficients computed in float64 and rounded once.
	op.k, op.a, op.b = resize(op.k, c), resize(op.a, c), resize(op.b, c)
	m := float64(rows)
	for j := range c {
		g := float64(gamma[j]) * float64(invStd[j])
		op.k[j], op.a[j], op.b[j] = float32(g), 0, 0
		if op.fwd.trained {
			op.a[j] = float32(-g * float64(invStd[j]) * float64(s[c+j]) / m)
			op.b[j] = float32(-g * float64(s[j]) / m)
		}
	}
	op.mean = mean
	dx := op.out.get(vs[0].Shape()...)
	op.x, op.dy, op.dx, op.c = x, dy, dx.Float32s(), c
	if op.job == nil {
		op.job = op.gradX
	}
	op.par.run(rows, len(x), op.job)
	op.x, op.dy, op.dx = nil, nil, nil
	return dx, nil
}

// gradX writes dx = k·dy + a·(x-mean) + b for rows [lo, hi).
func (op *bnGradXOp) gradX(_, lo, hi int) {
	c := op.c
	k, a, b, mean := op.k[:c], op.a[:c], op.b[:c], op.mean[:c]
	for r := lo; r < hi; r++ {
		x, dy, dx := op.x[r*c:(r+1)*c], op.dy[r*c:(r+1)*c], op.dx[r*c:(r+1)*c]
		for j, v := range x {
			dx[j] = k[j]*dy[j] + a[j]*(v-mean[j]) + b[j]
		}
	}
}

// reduction computes per-channel sums over rows of C values in float64, over fixed blocks of
// rows (reduceBlock values each) summed in order, so the result does not depend on how many
// goroutines ran the blocks. It owns its buffers.
type reduction struct {
	parts      [][2][]float64 // per block: the two sums
	total      [2][]float64
	x, dy      []float32
	mean, inv  []float32
	rows, c, n int
	job        func(i int)
}

// reduceBlock is the number of values a block of a reduction covers, about 2^14 (rounded to
// whole rows): a block costs about 10 µs, large against the microsecond of handing it to a
// worker, and small enough for a few blocks per goroutine on the batches of training.
const reduceBlock = 1 << 14

// run returns the per-channel sums over rows rows of c values:
//
//	dy == nil, mean == nil: [0] Σx
//	dy == nil, mean != nil: [0] Σ(x-mean), [1] Σ(x-mean)²
//	dy != nil:              [0] Σdy, [1] Σdy·(x-mean)·inv
//
// The returned slices are valid until the next run.
func (r *reduction) run(x, dy, mean, inv []float32, rows, c int) [2][]float64 {
	blockRows := max(1, reduceBlock/c)
	r.n = (rows + blockRows - 1) / blockRows
	if len(r.parts) < r.n {
		r.parts = append(r.parts, make([][2][]float64, r.n-len(r.parts))...)
	}
	for i := range r.parts[:r.n] {
		for k := range 2 {
			r.parts[i][k] = resize64(r.parts[i][k], c)
		}
	}
	r.x, r.dy, r.mean, r.inv, r.rows, r.c = x, dy, mean, inv, rows, c
	if r.job == nil {
		r.job = r.block
	}
	par.Do(r.n, r.job)
	for k := range 2 {
		r.total[k] = resize64(r.total[k], c)
		clear(r.total[k])
		for i := range r.n {
			for j, v := range r.parts[i][k] {
				r.total[k][j] += v
			}
		}
	}
	r.x, r.dy, r.mean, r.inv = nil, nil, nil, nil
	return r.total
}

// block sums block i.
func (r *reduction) block(i int) {
	c := r.c
	lo, hi := split(r.rows, r.n, i)
	s0, s1 := r.parts[i][0][:c], r.parts[i][1][:c]
	clear(s0)
	clear(s1)
	switch {
	case r.dy != nil:
		mean, inv := r.mean[:c], r.inv[:c]
		done := bnSumsBlocks(s0, s1, r.x[lo*c:hi*c], r.dy[lo*c:hi*c], mean, inv, hi-lo, c)
		for row := lo; row < hi; row++ {
			x, dy := r.x[row*c:(row+1)*c], r.dy[row*c:(row+1)*c]
			for j := done; j < c; j++ {
				d := float64(dy[j])
				s0[j] += d
				s1[j] += float64(d * float64((x[j]-mean[j])*inv[j])) // rounded before the sum: no fused multiply-add, as the assembly
			}
		}
	case r.mean != nil:
		mean := r.mean[:c]
		done := bnSumsBlocks(s0, s1, r.x[lo*c:hi*c], nil, mean, nil, hi-lo, c)
		for row := lo; row < hi; row++ {
			x := r.x[row*c : (row+1)*c]
			for j := done; j < c; j++ {
				d := float64(x[j]) - float64(mean[j])
				s0[j] += d
				s1[j] += float64(d * d) // rounded before the sum: no fused multiply-add, as the assembly
			}
		}
	default:
		x := r.x[lo*c : hi*c]
		done := sumColsBlocks(s0, x, hi-lo, c)
		if done == c {
			return
		}
		for row := range hi - lo {
			xr := x[row*c : (row+1)*c]
			for j := done; j < c; j++ {
				s0[j] += float64(xr[j])
			}
		}
	}
}

// split returns the bounds of part i of n units split into parts nearly equal parts.
func split(n, parts, i int) (lo, hi int) {
	return n * i / parts, n * (i + 1) / parts
}

// resize64 is resize for []float64.
func resize64(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
