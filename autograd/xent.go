package autograd

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxCrossEntropy returns the mean cross-entropy between softmax(logits) and target, a
// scalar, for logits and target [batch, classes]. target rows are one-hot (or any distribution);
// a row of all zeros marks padding: it adds nothing to the loss or the gradient and is not
// counted in the mean, so a last partial batch can be padded to the graph's batch size.
//
// Why our own op: tensor's SoftMax/LogSoftMax seed each row's maximum with the first element of
// the whole array (wrong results for large logits), LogSumExp is wrong, and graph stabilization
// rewrites Log(SoftMax(x)) in place (shared/GORGONIA.md). The fused op subtracts each row's own
// maximum, accumulates in float64, and its gradient is the textbook (softmax - target)/n.
func SoftmaxCrossEntropy(name string, logits, target *G.Node) (*G.Node, error) {
	if logits.Shape().Dims() != 2 || !logits.Shape().Eq(target.Shape()) {
		return nil, fmt.Errorf("autograd: cross-entropy %s: logits %v and target %v, want equal [batch,classes]", name, logits.Shape(), target.Shape())
	}
	return G.ApplyOp(&xentOp{base: base{name: name, kind: "SoftmaxCrossEntropy"}}, logits, target)
}

type xentOp struct{ base }

func (op *xentOp) Arity() int    { return 2 }
func (op *xentOp) Type() hm.Type { return fnType(matF32, matF32, sclF32) }
func (op *xentOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}

// rowLogSoftmax writes log softmax(z/T) of one row into dst (float64), given invT = 1/T (1
// for the plain softmax: the product by 1 is exact), and returns it.
func rowLogSoftmax(dst []float64, z []float32, invT float64) []float64 {
	m := z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	var s float64
	for i, v := range z {
		d := float64(v-m) * invT
		dst[i] = d
		s += math.Exp(d)
	}
	ls := math.Log(s)
	for i := range dst[:len(z)] {
		dst[i] -= ls
	}
	return dst[:len(z)]
}

func (op *xentOp) Do(vs ...G.Value) (G.Value, error) {
	b, c, err := dims2(op, "logits", vs[0])
	if err != nil {
		return nil, err
	}
	z, err := f32(op, "logits", vs[0])
	if err != nil {
		return nil, err
	}
	t, err := f32(op, "target", vs[1])
	if err != nil {
		return nil, err
	}
	lp := make([]float64, c)
	var loss float64
	n := 0
	for r := 0; r < b; r++ {
		tr := t[r*c : (r+1)*c]
		if rowMass(tr) == 0 {
			continue // padding row
		}
		n++
		for i, l := range rowLogSoftmax(lp, z[r*c:(r+1)*c], 1) {
			loss -= float64(tr[i]) * l
		}
	}
	if n > 0 {
		loss /= float64(n)
	}
	return G.NewF32(float32(loss)), nil
}

func (op *xentOp) DiffWRT(int) []bool { return []bool{true, false} }
func (op *xentOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&xentGradOp{gradBase: gradBase{base{name: op.name, kind: "SoftmaxCrossEntropyGrad"}}}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d, nil}, nil
}

// xentGradOp computes d loss/d logits = g·(softmax(logits) - target)·mass_r / n for each row r,
// where mass_r is the row's target sum (0 for padding rows) and n the number of non-padding rows.
type xentGradOp struct {
	gradBase
	out buffer
}

func (op *xentGradOp) Arity() int    { return 3 }
func (op *xentGradOp) Type() hm.Type { return fnType(matF32, matF32, sclF32, matF32) }
func (op *xentGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

// scalarOf reads a scalar float32 value.
func scalarOf(op fmt.Stringer, arg string, v G.Value) (float32, error) {
	switch d := v.Data().(type) {
	case float32:
		return d, nil
	case []float32:
		if len(d) == 1 {
			return d[0], nil
		}
	}
	return 0, fmt.Errorf("autograd: %v: %s is %T, want a float32 scalar", op, arg, v.Data())
}

func (op *xentGradOp) Do(vs ...G.Value) (G.Value, error) {
	b, c, err := dims2(op, "logits", vs[0])
	if err != nil {
		return nil, err
	}
	z, err := f32(op, "logits", vs[0])
	if err != nil {
		return nil, err
	}
	t, err := f32(op, "target", vs[1])
	if err != nil {
		return nil, err
	}
	g, err := scalarOf(op, "grad", vs[2])
	if err != nil {
		return nil, err
	}
	n := realRows(t, b, c)
	out := op.out.get(b, c)
	d := out.Data().([]float32)
	clear(d)
	if n == 0 {
		return out, nil
	}
	lp := make([]float64, c)
	k := float64(g) / float64(n)
	for r := 0; r < b; r++ {
		tr := t[r*c : (r+1)*c]
		mass := float64(rowMass(tr))
		if mass == 0 {
			continue // padding row
		}
		dr := d[r*c : (r+1)*c]
		for i, l := range rowLogSoftmax(lp, z[r*c:(r+1)*c], 1) {
			dr[i] = float32(k * (mass*math.Exp(l) - float64(tr[i])))
		}
	}
	return out, nil
}

// realRows counts the rows of the [b, c] targets t that are not padding (rowMass != 0).
func realRows(t []float32, b, c int) int {
	n := 0
	for r := range b {
		if rowMass(t[r*c:(r+1)*c]) != 0 {
			n++
		}
	}
	return n
}

// rowMass is the sum of a target row; 0 marks a padding row.
func rowMass(t []float32) float32 {
	var m float32
	for _, v := range t {
		m += v
	}
	return m
}
