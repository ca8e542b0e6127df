package autograd

import (
	"fmt"
	"hash"
	"math"
	"runtime"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/internal/par"
	"tinyq/quant"
)

// lsqGradOp is LSQ's gradient of fakeQuantOp with respect to the scales, from (x, s, y, dy,
// dx): the forward's input and output and the gradients of its output and (the clipped STE's)
// of its input:
//
//	ds_c = g · Σ_{i in channel c} dy_i · ∂x̂_i/∂s
//	∂x̂/∂s = round(x/s) - x/s inside the range; Qn or Qp (the clipped level minus zp) outside
//	g = 1/sqrt(N·Qp), N = elements per scale, Qp = qmax - zp      (LSQ's gradient scale)
//
// ∂x̂/∂s is quant.ScaleGrad. Since x̂ = s·(q - zp), it is x̂/s - x/s inside the range and x̂/s
// outside, and the STE's dx is dy inside and 0 outside, so the sum is two dot products:
//
//	Σ dy_i · ∂x̂_i/∂s = (Σ dy_i·x̂_i - Σ dx_i·x_i) / s_c
//
// the same value up to float rounding (tested against quant.ScaleGrad), at the cost of two
// multiply-adds an element instead of a division, a rounding and two unpredictable branches.
type lsqGradOp struct {
	gradBase
	q   *Quantizer
	out buffer

	// State of the current Do, read by accumulate.
	x, y, dy, dx        []float32
	outer, chans, inner int
	perTensor           bool
	parts               [2][]float64 // per-part, per-channel sums, reused
	job                 func(i int)  // op.accumulate, bound once
}

func (op *lsqGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "tinyq.%s{%s %v}", op.kind, op.name, op.q.Spec)
}
func (op *lsqGradOp) Hashcode() uint32 { return hashOf(op) }
func (op *lsqGradOp) Arity() int       { return 5 }
func (op *lsqGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(a, vecF32, a, a, a, vecF32)
}
func (op *lsqGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[1].(tensor.Shape).Clone(), nil
}

// Do sums per scale in two parts, always the same two (the first and second half of the
// rows, or of the elements of a per-tensor scale), run on two goroutines when the tensor is
// large: the split, and so the float64 rounding of the sums, does not depend on the CPUs
// available.
func (op *lsqGradOp) Do(vs ...G.Value) (G.Value, error) {
	x, dy, err := inputAndGrad(op, vs[0], vs[3])
	if err != nil {
		return nil, err
	}
	y, dx, err := inputAndGrad(op, vs[2], vs[4])
	if err != nil {
		return nil, err
	}
	if len(y) != len(x) {
		return nil, fmt.Errorf("autograd: %v: y has %d elements, x has %d", op, len(y), len(x))
	}
	shape := []int(vs[0].Shape())
	p := op.q.paramsView()
	outer, chans, inner, err := quant.SplitAxis(shape, p.Axis)
	if err != nil {
		return nil, fmt.Errorf("autograd: %v: %w", op, err)
	}
	ds := op.out.get(len(p.Scales))
	dsd := ds.Data().([]float32)
	op.x, op.y, op.dy, op.dx = x, y, dy, dx
	op.outer, op.chans, op.inner, op.perTensor = outer, chans, inner, p.Axis < 0
	for k := range op.parts {
		if cap(op.parts[k]) < len(dsd) {
			op.parts[k] = make([]float64, len(dsd))
		}
		op.parts[k] = op.parts[k][:len(dsd)]
		clear(op.parts[k])
	}
	if op.job == nil {
		op.job = op.accumulate
	}
	if len(x) >= parallelMin && runtime.GOMAXPROCS(0) >= 2 {
		par.Do(2, op.job)
	} else {
		op.accumulate(0)
		op.accumulate(1)
	}
	op.x, op.y, op.dy, op.dx = nil, nil, nil, nil // drop the references to the graph's tensors
	n := outer * inner                            // elements per scale
	for c := range dsd {
		qp := float64(p.QMax - p.ZeroPoints[c])
		sum := (op.parts[0][c] + op.parts[1][c]) / float64(p.Scales[c])
		dsd[c] = float32(sum / math.Sqrt(float64(n)*qp))
	}
	return ds, nil
}

// accumulate adds Σ dy·x̂ - Σ dx·x of part i (0: the first half, 1: the second) to
// op.parts[i], per scale.
func (op *lsqGradOp) accumulate(i int) {
	sums := op.parts[i]
	if op.perTensor { // one scale: split the elements
		n := len(op.x)
		lo, hi := i*(n/2), n
		if i == 0 {
			hi = n / 2
		}
		sums[0] += dotDiff(op.dy[lo:hi], op.y[lo:hi], op.dx[lo:hi], op.x[lo:hi])
		return
	}
	lo, hi := i*(op.outer/2), op.outer
	if i == 0 {
		hi = op.outer / 2
	}
	chans, inner := op.chans, op.inner
	if inner == 1 { // channels along the last axis (a [in, out] weight): walk rows
		sums := sums[:chans]
		for o := lo; o < hi; o++ {
			a, b := o*chans, (o+1)*chans
			rowAccum(sums, op.dy[a:b], op.y[a:b], op.dx[a:b], op.x[a:b])
		}
		return
	}
	for o := lo; o < hi; o++ {
		for c := range chans {
			a, b := (o*chans+c)*inner, (o*chans+c+1)*inner
			sums[c] += dotDiff(op.dy[a:b], op.y[a:b], op.dx[a:b], op.x[a:b])
		}
	}
}

// dotDiff returns Σ dy_i·y_i - Σ dx_i·x_i in float64: dotDiffLanes of the first
// len(dy)&^7 elements (with AVX-512 where available, the same sum bit for bit), then the
// remaining elements in order.
func dotDiff(dy, y, dx, x []float32) float64 {
	n := len(dy)
	y, dx, x = y[:n], dx[:n], x[:n]
	sum, done := dotDiffBlocks(dy, y, dx, x)
	if done == 0 {
		done = n &^ 7
		sum = dotDiffLanes(dy[:done], y[:done], dx[:done], x[:done])
	}
	for i := done; i < n; i++ {
		sum += float64(dy[i]) * float64(y[i])
		sum -= float64(dx[i]) * float64(x[i])
	}
	return sum
}

// dotDiffLanes is the reference of dotDiffAVX512, for len(dy) a multiple of 8: eight float64
// lanes, lane k adding dy_i·y_i and then subtracting dx_i·x_i for i ≡ k (mod 8) in order
// (each product of two float32 values is exact in float64, so every step rounds once), then
// lanes k and k+4 added, then k and k+2, then 0 and 1.
func dotDiffLanes(dy, y, dx, x []float32) float64 {
	var s [8]float64
	for i := 0; i+8 <= len(dy); i += 8 {
		dy, y, dx, x := dy[i:i+8], y[i:i+8], dx[i:i+8], x[i:i+8]
		for k := range s {
			s[k] += float64(dy[k]) * float64(y[k])
			s[k] -= float64(dx[k]) * float64(x[k])
		}
	}
	t := [4]float64{s[0] + s[4], s[1] + s[5], s[2] + s[6], s[3] + s[7]}
	return (t[0] + t[2]) + (t[1] + t[3])
}

// rowAccum adds dy[c]·y[c] and then subtracts dx[c]·x[c] to sums[c] for every column c of a
// row (with AVX-512 for the first len(sums)&^7 columns where available, bit for bit the
// same).
func rowAccum(sums []float64, dy, y, dx, x []float32) {
	n := len(sums)
	dy, y, dx, x = dy[:n], y[:n], dx[:n], x[:n]
	for c := rowAccumBlocks(sums, dy, y, dx, x); c < n; c++ {
		sums[c] += float64(dy[c]) * float64(y[c])
		sums[c] -= float64(dx[c]) * float64(x[c])
	}
}
