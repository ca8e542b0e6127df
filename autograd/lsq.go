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
	x, dy, err := inputAndGrad(op, vs[0], vs[2])
	if err != nil {
		return nil, err
	}
	shape := []int(vs[0].Shape())
	p := op.q.paramsView()
	outer, chans, inner, err := quant.SplitAxis(shape, p.Axis)
	if err != nil {
		return nil, fmt.Errorf("autograd: %v: %w", op, err)
	}
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
				sum += float64(dy[i]) * quant.ScaleGrad(x[i], s, zp, p.QMin, p.QMax)
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
