package autograd

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/quant"
)

// FakeQuantBias rounds a bias b [out] to the int32 grid the integer runtime uses, scale
// sIn·sW[o] (TFLite's bias spec), and back, with quant.FakeQuantizeBias:
// b̂[o] = roundHalfEven(b[o]/s)·s with s = float64(sIn)·float64(sW[o]), the rule by which
// quant.QuantizeBias gives the converted model its int32 biases. sIn is the layer input's
// scale node [1]; sW the weight's scale node ([out] or [1]). Simulating the bias rounding
// makes QAT's float evaluation agree with the converted integer model. A bias that does not
// fit in int32 at that scale (or a NaN) is an error of the forward pass, as it would be at
// conversion. The gradient with respect to b is the identity (straight-through); the scales
// get none from here.
func FakeQuantBias(name string, b, sIn, sW *G.Node) (*G.Node, error) {
	if b.Shape().Dims() != 1 || sIn.Shape().TotalSize() != 1 || (sW.Shape().TotalSize() != 1 && sW.Shape().TotalSize() != b.Shape()[0]) {
		return nil, fmt.Errorf("autograd: bias fake-quant %s: shapes b %v, sIn %v, sW %v", name, b.Shape(), sIn.Shape(), sW.Shape())
	}
	return G.ApplyOp(&biasQuantOp{base: base{name: name, kind: "FakeQuantBias"}}, b, sIn, sW)
}

// biasQuantOp is FakeQuantBias's op: the forward pass is quant.FakeQuantizeBias, the
// backward pass the identity for b.
type biasQuantOp struct {
	base
	out buffer
}

func (op *biasQuantOp) Arity() int    { return 3 }
func (op *biasQuantOp) Type() hm.Type { return fnType(vecF32, vecF32, vecF32, vecF32) }
func (op *biasQuantOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *biasQuantOp) Do(vs ...G.Value) (G.Value, error) {
	b, err := f32(op, "b", vs[0])
	if err != nil {
		return nil, err
	}
	sin, err := f32(op, "sIn", vs[1])
	if err != nil {
		return nil, err
	}
	sw, err := f32(op, "sW", vs[2])
	if err != nil {
		return nil, err
	}
	if len(sin) != 1 {
		return nil, fmt.Errorf("autograd: %v: sIn has %d values, want 1", op, len(sin))
	}
	out := op.out.get(len(b))
	if err := quant.FakeQuantizeBias(out.Data().([]float32), b, sin[0], sw); err != nil {
		return nil, fmt.Errorf("autograd: %v: %w", op, err)
	}
	return out, nil
}
func (op *biasQuantOp) DiffWRT(int) []bool { return []bool{true, false, false} }
func (op *biasQuantOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{grad, nil, nil}, nil
}
