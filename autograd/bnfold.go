package autograd

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BNScale multiplies (or, with divide, divides) x channel by channel by a BatchNorm's folding
// factor f = gamma / sqrt(running var + eps): the two per-channel scalings of PyTorch's QAT
// ConvBn modules (torch.ao.nn.intrinsic.qat._ConvBnNd._forward), which fake-quantize the
// folded weight w·f, convolve, divide the result by f again and apply the BatchNorm itself:
//
//	y = BatchNorm(conv(x, fakequant(BNScale(w))) / f + b)
//
// so that the weights quantized during training are the folded ones the integer model holds
// (Jacob et al. 2018, section 3.2), while the BatchNorm still sees its input on the scale of
// the unfolded layer (its running statistics stay those of the float model, ready to fold).
//
// x is a vector [C] or a matrix whose rows hold whole groups of C values with the channel
// innermost (a [In, Out] weight with C = Out, a bias [Out], NHWC activations [N, H·W·C]).
// Multiplying, f is computed in float64 and each product rounded to float32 once, as
// infer.FoldBatchNorm computes a folded weight, so BNScale of a weight equals the folded
// weight bit for bit. Dividing (the layer's output, the large tensor), each value is
// multiplied by 1/f rounded to float32, split over two goroutines. The running variance is read from st when the op runs (before a
// BatchNorm later in the same forward run updates it) and is a constant of the gradient, as
// in PyTorch (a buffer); gamma gets the gradient through f. A channel whose f is 0 cannot be
// divided by: the forward refuses it.
//
// name must be unique within the graph.
func BNScale(name string, x, gamma *G.Node, st *BatchNormState, divide bool) (*G.Node, error) {
	xs, gs := x.Shape(), gamma.Shape()
	if len(xs) < 1 || len(xs) > 2 || len(gs) != 1 || gs[0] < 1 || xs[len(xs)-1]%gs[0] != 0 {
		return nil, fmt.Errorf("autograd: bnscale %s: shapes x %v, gamma %v; want [C] or [N, K·C], and [C]", name, xs, gs)
	}
	if err := st.check(gs[0]); err != nil {
		return nil, fmt.Errorf("autograd: bnscale %s: %w", name, err)
	}
	kind := "BNScale"
	if divide {
		kind = "BNUnscale"
	}
	return G.ApplyOp(&bnScaleOp{base: base{name: name, kind: kind}, st: st, divide: divide, dims: len(xs)}, x, gamma)
}

// bnScaleOp is BNScale's forward. It keeps the factors of its last run for its gradient.
type bnScaleOp struct {
	base
	st     *BatchNormState
	divide bool
	dims   int // x's dimensions, 1 or 2
	out    buffer

	f, std []float64 // [C] gamma/sqrt(var+eps) and sqrt(var+eps) of the last run
	inv    []float32 // [C] float32(1/f), dividing
	par    halves
	// Arguments of the current scaling, for the parallel job (bound once).
	x, y []float32
	job  func(part, lo, hi int)
}

// WriteHash writes the op's identity: name, mode and state.
func (op *bnScaleOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "tinyq.%s{%s,%p,%v}", op.kind, op.name, op.st, op.st.Eps)
}
func (op *bnScaleOp) Hashcode() uint32 { return hashOf(op) }
func (op *bnScaleOp) Arity() int       { return 2 }
func (op *bnScaleOp) tt() hm.Type      { return G.TensorType{Dims: op.dims, Of: tensor.Float32} }
func (op *bnScaleOp) Type() hm.Type    { return fnType(op.tt(), vecF32, op.tt()) }
func (op *bnScaleOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *bnScaleOp) DiffWRT(int) []bool { return []bool{true, true} }

// factors computes f and sqrt(var+eps) from gamma and the running variance.
func (op *bnScaleOp) factors(gamma []float32) error {
	c := len(gamma)
	if err := op.st.check(c); err != nil {
		return fmt.Errorf("autograd: %v: %w", op, err)
	}
	op.f, op.std, op.inv = resize64(op.f, c), resize64(op.std, c), resize(op.inv, c)
	for j, g := range gamma {
		v := float64(op.st.Var[j]) + float64(op.st.Eps)
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("autograd: %v: channel %d: running var + eps = %g, want finite and > 0", op, j, v)
		}
		op.std[j] = math.Sqrt(v)
		op.f[j] = float64(g) / op.std[j]
		if op.divide && op.f[j] == 0 {
			return fmt.Errorf("autograd: %v: channel %d: gamma is 0, the folded layer cannot be divided by it", op, j)
		}
		op.inv[j] = float32(1 / op.f[j])
	}
	return nil
}

func (op *bnScaleOp) Do(vs ...G.Value) (G.Value, error) {
	x, err := f32s(op, "x", vs[0])
	if err != nil {
		return nil, err
	}
	gamma, err := f32s(op, "gamma", vs[1])
	if err != nil {
		return nil, err
	}
	c := len(gamma)
	if c == 0 || len(x)%c != 0 {
		return nil, fmt.Errorf("autograd: %v: x has %d values, not a multiple of %d channels", op, len(x), c)
	}
	if err := op.factors(gamma); err != nil {
		return nil, err
	}
	y := op.out.get(vs[0].Shape()...)
	op.scale(y.Float32s(), x)
	return y, nil
}

// scale writes y = x·f per channel (x/f dividing) with the factors of the last run: the
// float64 product rounded once, or dividing, x times float32(1/f), in two parts.
func (op *bnScaleOp) scale(y, x []float32) {
	c := len(op.f)
	if !op.divide {
		for r := 0; r < len(x); r += c {
			for j, v := range x[r : r+c] {
				y[r+j] = float32(float64(v) * op.f[j])
			}
		}
		return
	}
	op.x, op.y = x, y
	if op.job == nil {
		op.job = op.unscale
	}
	op.par.run(len(x)/c, len(x), op.job)
	op.x, op.y = nil, nil
}

// unscale writes y = x·(1/f) for rows [lo, hi) of c values.
func (op *bnScaleOp) unscale(_, lo, hi int) {
	c := len(op.inv)
	inv := op.inv[:c]
	for r := lo; r < hi; r++ {
		x, y := op.x[r*c:(r+1)*c], op.y[r*c:(r+1)*c]
		for j, v := range x {
			y[j] = v * inv[j]
		}
	}
}

// SymDiff returns dx = dy·f (dy/f dividing) and dgamma = Σ dy·x/sqrt(var+eps) (dividing:
// -Σ dy·x·sqrt(var+eps)/gamma²), the sums over the rows.
func (op *bnScaleOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	gb := func(kind string) gradBase { return gradBase{base{name: op.name, kind: kind}} }
	dx, err := G.ApplyOp(&bnScaleGradXOp{gradBase: gb(op.kind + "GradX"), fwd: op}, grad)
	if err != nil {
		return nil, err
	}
	dgamma, err := G.ApplyOp(&bnScaleGradGammaOp{gradBase: gb(op.kind + "GradGamma"), fwd: op}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dgamma}, nil
}

// saved returns the forward's factors for c channels, or an error if it has not run.
func (op *bnScaleOp) saved(by fmt.Stringer, c int) ([]float64, error) {
	if len(op.f) != c || c == 0 {
		return nil, fmt.Errorf("autograd: %v: the forward %v has not run with %d channels", by, op, c)
	}
	return op.f, nil
}

// bnScaleGradXOp computes dx = dy·f (dy/f dividing) with the forward's factors.
type bnScaleGradXOp struct {
	gradBase
	fwd *bnScaleOp
	out buffer
}

func (op *bnScaleGradXOp) Arity() int { return 1 }
func (op *bnScaleGradXOp) Type() hm.Type {
	return fnType(op.fwd.tt(), op.fwd.tt())
}
func (op *bnScaleGradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *bnScaleGradXOp) Do(vs ...G.Value) (G.Value, error) {
	dy, err := f32s(op, "dy", vs[0])
	if err != nil {
		return nil, err
	}
	f := op.fwd.f
	if len(f) == 0 {
		return nil, fmt.Errorf("autograd: %v: the forward %v has not run", op, op.fwd)
	}
	if len(dy)%len(f) != 0 {
		return nil, fmt.Errorf("autograd: %v: dy has %d values, not a multiple of %d channels", op, len(dy), len(f))
	}
	dx := op.out.get(vs[0].Shape()...)
	op.fwd.scale(dx.Float32s(), dy)
	return dx, nil
}

// bnScaleGradGammaOp computes dgamma [C] from x, gamma and dy: per channel Σ dy·x, times
// 1/sqrt(var+eps) (multiplying) or -sqrt(var+eps)/gamma² (dividing), summed in
// float64 over fixed blocks of rows (reduction), so the result does not depend on the
// number of goroutines.
type bnScaleGradGammaOp struct {
	gradBase
	fwd       *bnScaleOp
	out       buffer
	sums      reduction
	zero, one []float32
}

func (op *bnScaleGradGammaOp) Arity() int { return 3 }
func (op *bnScaleGradGammaOp) Type() hm.Type {
	return fnType(op.fwd.tt(), vecF32, op.fwd.tt(), vecF32)
}
func (op *bnScaleGradGammaOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[1].(tensor.Shape).Clone(), nil
}
func (op *bnScaleGradGammaOp) Do(vs ...G.Value) (G.Value, error) {
	x, dy, err := inputAndGrad(op, vs[0], vs[2])
	if err != nil {
		return nil, err
	}
	gamma, err := f32s(op, "gamma", vs[1])
	if err != nil {
		return nil, err
	}
	c := len(gamma)
	if _, err := op.fwd.saved(op, c); err != nil {
		return nil, err
	}
	if len(x)%c != 0 {
		return nil, fmt.Errorf("autograd: %v: x has %d values, not a multiple of %d channels", op, len(x), c)
	}
	if len(op.zero) != c {
		op.zero, op.one = make([]float32, c), make([]float32, c)
		for j := range op.one {
			op.one[j] = 1
		}
	}
	s := op.sums.run(x, dy, op.zero, op.one, len(x)/c, c)[1] // Σ dy·x
	out := op.out.get(c)
	o := out.Float32s()
	for j := range c {
		std := op.fwd.std[j]
		if op.fwd.divide {
			// y = x·std/gamma: dy/dgamma = -x·std/gamma².
			g := float64(gamma[j])
			o[j] = float32(-s[j] * std / (g * g))
		} else {
			o[j] = float32(s[j] / std)
		}
	}
	return out, nil
}
