package autograd

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Distillation weighs knowledge distillation (Hinton et al. 2015, "Distilling the Knowledge
// in a Neural Network") against the labels.
type Distillation struct {
	// Temperature T > 0 softens both the teacher's and the student's softmax.
	Temperature float64
	// Alpha in [0, 1] is the weight of the teacher's soft targets; 1-Alpha that of the labels.
	Alpha float64
}

// Validate reports a temperature that is not finite and positive or an Alpha outside [0, 1].
func (d Distillation) Validate() error {
	if !(d.Temperature > 0) || math.IsInf(d.Temperature, 0) {
		return fmt.Errorf("autograd: distillation temperature %v, want finite and > 0", d.Temperature)
	}
	if !(d.Alpha >= 0 && d.Alpha <= 1) {
		return fmt.Errorf("autograd: distillation alpha %v, want in [0, 1]", d.Alpha)
	}
	return nil
}

// DistillationLoss returns, for logits z, one-hot (or any distribution) targets y and a
// teacher's logits t, all [batch, classes], the scalar
//
//	(1-α)·CE(y, softmax(z)) + α·T²·KL(softmax(t/T) ‖ softmax(z/T))
//
// averaged over the rows whose target is not all zeros (padding rows, as in
// SoftmaxCrossEntropy, add nothing). The T² keeps the soft term's gradient,
// α·T·(softmax(z/T) - softmax(t/T)), on the scale of the hard term's as T changes (Hinton et
// al., section 2). KL rather than cross-entropy makes the soft term 0 when the student
// matches the teacher; the gradients are the same. The teacher gets no gradient.
func DistillationLoss(name string, logits, target, teacher *G.Node, d Distillation) (*G.Node, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if logits.Shape().Dims() != 2 || !logits.Shape().Eq(target.Shape()) || !logits.Shape().Eq(teacher.Shape()) {
		return nil, fmt.Errorf("autograd: distillation loss %s: logits %v, target %v and teacher %v, want equal [batch,classes]", name, logits.Shape(), target.Shape(), teacher.Shape())
	}
	return G.ApplyOp(&distillOp{base: base{name: name, kind: "DistillationLoss"}, d: d}, logits, target, teacher)
}

type distillOp struct {
	base
	d Distillation
}

func (op *distillOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "tinyq.%s{%s %v %v}", op.kind, op.name, op.d.Temperature, op.d.Alpha)
}
func (op *distillOp) Hashcode() uint32 { return hashOf(op) }
func (op *distillOp) Arity() int       { return 3 }
func (op *distillOp) Type() hm.Type    { return fnType(matF32, matF32, matF32, sclF32) }
func (op *distillOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}

// distillArgs reads the three [batch, classes] inputs.
func distillArgs(op fmt.Stringer, vs []G.Value) (b, c int, z, y, t []float32, err error) {
	if b, c, err = dims2(op, "logits", vs[0]); err != nil {
		return
	}
	if z, err = f32(op, "logits", vs[0]); err != nil {
		return
	}
	if y, err = f32(op, "target", vs[1]); err != nil {
		return
	}
	if t, err = f32(op, "teacher", vs[2]); err != nil {
		return
	}
	if len(y) != len(z) || len(t) != len(z) {
		err = fmt.Errorf("autograd: %v: logits %d, target %d and teacher %d values, want equal", op, len(z), len(y), len(t))
	}
	return
}

func (op *distillOp) Do(vs ...G.Value) (G.Value, error) {
	b, c, z, y, t, err := distillArgs(op, vs)
	if err != nil {
		return nil, err
	}
	T, a := op.d.Temperature, op.d.Alpha
	lz, lzT, ltT := make([]float64, c), make([]float64, c), make([]float64, c)
	var loss float64
	n := 0
	for r := range b {
		yr := y[r*c : (r+1)*c]
		if rowMass(yr) == 0 {
			continue // padding row
		}
		n++
		zr, tr := z[r*c:(r+1)*c], t[r*c:(r+1)*c]
		var hard, soft float64
		for i, l := range rowLogSoftmax(lz, zr, 1) {
			hard -= float64(yr[i]) * l
		}
		rowLogSoftmax(lzT, zr, 1/T)
		for i, l := range rowLogSoftmax(ltT, tr, 1/T) {
			soft += math.Exp(l) * (l - lzT[i])
		}
		loss += (1-a)*hard + a*T*T*soft
	}
	if n > 0 {
		loss /= float64(n)
	}
	return G.NewF32(float32(loss)), nil
}

func (op *distillOp) DiffWRT(int) []bool { return []bool{true, false, false} }
func (op *distillOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&distillGradOp{gradBase: gradBase{base{name: op.name, kind: "DistillationLossGrad"}}, d: op.d}, inputs[0], inputs[1], inputs[2], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d, nil, nil}, nil
}

// distillGradOp computes d loss/d logits for each non-padding row r, with n such rows:
//
//	g/n · ((1-α)·(mass_r·softmax(z_r) - y_r) + α·T·(softmax(z_r/T) - softmax(t_r/T)))
//
// mass_r being the row's target sum (1 for a one-hot row).
type distillGradOp struct {
	gradBase
	d   Distillation
	out buffer
}

func (op *distillGradOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "tinyq.%s{%s %v %v}", op.kind, op.name, op.d.Temperature, op.d.Alpha)
}
func (op *distillGradOp) Hashcode() uint32 { return hashOf(op) }
func (op *distillGradOp) Arity() int       { return 4 }
func (op *distillGradOp) Type() hm.Type    { return fnType(matF32, matF32, matF32, sclF32, matF32) }
func (op *distillGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *distillGradOp) Do(vs ...G.Value) (G.Value, error) {
	b, c, z, y, t, err := distillArgs(op, vs[:3])
	if err != nil {
		return nil, err
	}
	g, err := scalarOf(op, "grad", vs[3])
	if err != nil {
		return nil, err
	}
	n := realRows(y, b, c)
	out := op.out.get(b, c)
	d := out.Data().([]float32)
	clear(d)
	if n == 0 {
		return out, nil
	}
	T, a := op.d.Temperature, op.d.Alpha
	lz, lzT, ltT := make([]float64, c), make([]float64, c), make([]float64, c)
	k := float64(g) / float64(n)
	for r := range b {
		yr := y[r*c : (r+1)*c]
		mass := float64(rowMass(yr))
		if mass == 0 {
			continue // padding row
		}
		zr, tr := z[r*c:(r+1)*c], t[r*c:(r+1)*c]
		rowLogSoftmax(lz, zr, 1)
		rowLogSoftmax(lzT, zr, 1/T)
		rowLogSoftmax(ltT, tr, 1/T)
		dr := d[r*c : (r+1)*c]
		for i := range dr {
			hard := mass*math.Exp(lz[i]) - float64(yr[i])
			soft := math.Exp(lzT[i]) - math.Exp(ltT[i])
			dr[i] = float32(k * ((1-a)*hard + a*T*soft))
		}
	}
	return out, nil
}
