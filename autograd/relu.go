package autograd

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ReLU returns max(x, 0) elementwise for a matrix x, in a buffer the op owns (see buffer for why).
// Its gradient passes dy where the output is positive and is 0 elsewhere (also at x == 0).
// Both run 16 elements at a time with AVX-512 where the CPU has it (relukernel_amd64.s),
// bit for bit as the Go loops, except that a NaN input may give another NaN.
func ReLU(name string, x *G.Node) (*G.Node, error) {
	if x.Shape().Dims() != 2 {
		return nil, fmt.Errorf("autograd: relu %s: shape %v, want a matrix", name, x.Shape())
	}
	return G.ApplyOp(&reluOp{base: base{name: name, kind: "ReLU"}}, x)
}

type reluOp struct {
	base
	out buffer
}

func (op *reluOp) Arity() int    { return 1 }
func (op *reluOp) Type() hm.Type { return fnType(matF32, matF32) }
func (op *reluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *reluOp) Do(vs ...G.Value) (G.Value, error) {
	r, c, err := dims2(op, "x", vs[0])
	if err != nil {
		return nil, err
	}
	x, err := f32(op, "x", vs[0])
	if err != nil {
		return nil, err
	}
	y := op.out.get(r, c)
	yd := y.Data().([]float32)[:len(x)]
	for i := reluBlocks(yd, x); i < len(x); i++ {
		yd[i] = max(x[i], 0)
	}
	return y, nil
}
func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }
func (op *reluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&reluGradOp{gradBase: gradBase{base{name: op.name, kind: "ReLUGrad"}}}, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// reluGradOp computes dx = dy where y > 0, else 0, from the forward output y and dy.
type reluGradOp struct {
	gradBase
	out buffer
}

func (op *reluGradOp) Arity() int    { return 2 }
func (op *reluGradOp) Type() hm.Type { return fnType(matF32, matF32, matF32) }
func (op *reluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *reluGradOp) Do(vs ...G.Value) (G.Value, error) {
	r, c, err := dims2(op, "y", vs[0])
	if err != nil {
		return nil, err
	}
	y, err := f32(op, "y", vs[0])
	if err != nil {
		return nil, err
	}
	dy, err := f32(op, "dy", vs[1])
	if err != nil {
		return nil, err
	}
	dx := op.out.get(r, c)
	dxd := dx.Data().([]float32)[:len(y)]
	dy = dy[:len(y)]
	for i := reluGradBlocks(dxd, y, dy); i < len(y); i++ {
		dxd[i] = math.Float32frombits(math.Float32bits(dy[i]) & positiveMask(y[i]))
	}
	return dx, nil
}

// positiveMask returns all ones if v > 0 (NaN is not), else 0, without a branch: ReLU's
// outputs are zero about half the time in no predictable order, and a branch (which the
// compiler emitted for the plain comparison) mispredicted often enough to make the gradient
// 4x slower. With x the bits of v as an int32, v > 0 exactly when x > 0 (sign clear, not
// +0) and x <= 0x7f800000 (not a NaN): the sign bit of -x & ^x & (x - 0x7f800001).
func positiveMask(v float32) uint32 {
	x := int32(math.Float32bits(v))
	return uint32((-x & ^x & (x - 0x7f800001)) >> 31)
}
