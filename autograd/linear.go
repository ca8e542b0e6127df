package autograd

import (
	"fmt"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Linear returns y = x·w + b for x [batch, in], w [in, out], b [out]: one fused op instead of
// gorgonia's Mul and BroadcastAdd.
//
// Why not the stock ops: they allocate new outputs on every batch, and the gradient of Mul with
// respect to its first argument is built even where nothing reads it. This op owns its output
// buffer (see buffer), and its gradient ops are created one per differentiated input, so a
// program compiled for the needed outputs only (gorgonia.CompileFunction) never computes the
// gradient with respect to the input images. The matrix products go through gorgonia's BLAS
// (gorgonia.WhichBLAS), so a build that switches gorgonia to another BLAS switches these too.
//
// name must be unique within the graph (for example "fc1").
func Linear(name string, x, w, b *G.Node) (*G.Node, error) {
	if err := checkLinearShapes(name, x.Shape(), w.Shape(), b.Shape()); err != nil {
		return nil, err
	}
	return G.ApplyOp(&linearOp{base: base{name: name, kind: "Linear"}}, x, w, b)
}

func checkLinearShapes(name string, xs, ws, bs tensor.Shape) error {
	if len(xs) != 2 || len(ws) != 2 || len(bs) != 1 || xs[1] != ws[0] || bs[0] != ws[1] {
		return fmt.Errorf("autograd: linear %s: shapes x %v, w %v, b %v; want [batch,in], [in,out], [out]", name, xs, ws, bs)
	}
	return nil
}

type linearOp struct {
	base
	out buffer
}

func (op *linearOp) Arity() int { return 3 }
func (op *linearOp) Type() hm.Type {
	return fnType(matF32, matF32, vecF32, matF32)
}
func (op *linearOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, ws := in[0].(tensor.Shape), in[1].(tensor.Shape)
	return tensor.Shape{xs[0], ws[1]}, nil
}

// linearArgs reads the arguments shared by the linear op and its gradients: x [batch, in],
// w [in, out], and a third float32 argument (b or dy) named third.
func linearArgs(op fmt.Stringer, vs []G.Value, third string) (batch, in, out int, x, w, z []float32, err error) {
	if batch, in, err = dims2(op, "x", vs[0]); err != nil {
		return
	}
	if _, out, err = dims2(op, "w", vs[1]); err != nil {
		return
	}
	if x, err = f32(op, "x", vs[0]); err != nil {
		return
	}
	if w, err = f32(op, "w", vs[1]); err != nil {
		return
	}
	z, err = f32(op, third, vs[2])
	return
}

func (op *linearOp) Do(vs ...G.Value) (G.Value, error) {
	batch, in, out, x, w, b, err := linearArgs(op, vs, "b")
	if err != nil {
		return nil, err
	}
	y := op.out.get(batch, out)
	yd := y.Data().([]float32) // [batch, out]
	for r := 0; r < batch; r++ {
		copy(yd[r*out:(r+1)*out], b)
	}
	// y = 1·x·w + 1·y
	G.WhichBLAS().Sgemm(blas.NoTrans, blas.NoTrans, batch, out, in, 1, x, in, w, out, 1, yd, out)
	return y, nil
}

func (op *linearOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *linearOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	x, w, b := inputs[0], inputs[1], inputs[2]
	dx, err := G.ApplyOp(&linearGradOp{gradBase: gradBase{base{name: op.name, kind: "LinearGradX"}}, wrt: 0}, x, w, grad)
	if err != nil {
		return nil, err
	}
	dw, err := G.ApplyOp(&linearGradOp{gradBase: gradBase{base{name: op.name, kind: "LinearGradW"}}, wrt: 1}, x, w, grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(&linearGradOp{gradBase: gradBase{base{name: op.name, kind: "LinearGradB"}}, wrt: 2}, x, w, grad)
	if err != nil {
		return nil, err
	}
	_ = b
	return G.Nodes{dx, dw, db}, nil
}

// linearGradOp is the backward of linearOp with respect to one input (wrt 0: x, 1: w, 2: b),
// from the inputs x, w and the incoming gradient dy [batch, out]:
//
//	dx = dy·wᵀ   [batch, in]
//	dw = xᵀ·dy   [in, out]
//	db = Σ_rows dy [out]
type linearGradOp struct {
	gradBase
	wrt int
	out buffer
}

func (op *linearGradOp) Arity() int { return 3 }
func (op *linearGradOp) Type() hm.Type {
	if op.wrt == 2 {
		return fnType(matF32, matF32, matF32, vecF32)
	}
	return fnType(matF32, matF32, matF32, matF32)
}
func (op *linearGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	switch op.wrt {
	case 0:
		return in[0].(tensor.Shape).Clone(), nil
	case 1:
		return in[1].(tensor.Shape).Clone(), nil
	default:
		return tensor.Shape{in[1].(tensor.Shape)[1]}, nil
	}
}

func (op *linearGradOp) Do(vs ...G.Value) (G.Value, error) {
	batch, in, out, x, w, dy, err := linearArgs(op, vs, "dy")
	if err != nil {
		return nil, err
	}
	impl := G.WhichBLAS()
	switch op.wrt {
	case 0:
		dx := op.out.get(batch, in)
		impl.Sgemm(blas.NoTrans, blas.Trans, batch, in, out, 1, dy, out, w, out, 0, dx.Data().([]float32), in)
		return dx, nil
	case 1:
		dw := op.out.get(in, out)
		impl.Sgemm(blas.Trans, blas.NoTrans, in, out, batch, 1, x, in, dy, out, 0, dw.Data().([]float32), out)
		return dw, nil
	default:
		db := op.out.get(out)
		dbd := db.Data().([]float32)
		clear(dbd)
		for r := 0; r < batch; r++ {
			row := dy[r*out : (r+1)*out]
			for j, v := range row {
				dbd[j] += v
			}
		}
		return db, nil
	}
}
