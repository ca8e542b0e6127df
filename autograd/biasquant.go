package autograd

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// FakeQuantBias rounds a bias b [out] to the int32 grid the integer runtime uses, scale
// sIn·sW[o] (TFLite's bias spec), and back: b̂[o] = roundHalfEven(b[o]/s)·s with
// s = float64(sIn)·float64(sW[o]), exactly as ptq.Convert computes it. sIn is the layer
// input's scale node [1]; sW the weight's scale node ([out] or [1]). Simulating the bias
// rounding makes QAT's float evaluation agree with the converted integer model. The gradient
// with respect to b is the identity (straight-through); the scales get none from here.
func FakeQuantBias(name string, b, sIn, sW *G.Node) (*G.Node, error) {
	if b.Shape().Dims() != 1 || sIn.Shape().TotalSize() != 1 || (sW.Shape().TotalSize() != 1 && sW.Shape().TotalSize() != b.Shape()[0]) {
		return nil, fmt.Errorf("autograd: bias fake-quant %s: shapes b %v, sIn %v, sW %v", name, b.Shape(), sIn.Shape(), sW.Shape())
	}
	return G.ApplyOp(&biasQuantOp{base: base{name: name, kind: "FakeQuantBias"}}, b, sIn, sW)
}

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
	out := op.out.get(len(b))
	od := out.Data().([]float32)
	for o, v := range b {
		w := sw[0]
		if len(sw) > 1 {
			w = sw[o]
		}
		s := float64(sin[0]) * float64(w)
		q := math.RoundToEven(float64(v) / s)
		q = max(math.MinInt32, min(math.MaxInt32, q))
		od[o] = float32(q * s)
	}
	return out, nil
}
func (op *biasQuantOp) DiffWRT(int) []bool { return []bool{true, false, false} }
func (op *biasQuantOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{grad, nil, nil}, nil
}
