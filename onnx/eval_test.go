package onnx

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"tinyq/infer"
	"tinyq/mnist"
	"tinyq/onnx/onnxpb"
	"tinyq/ptq"
)

// evalGraph runs the graph of m on x ([rows, 784...] as the graph's input [rows, 1, H, W])
// with a direct reading of the ONNX operators' definitions (float32 arithmetic summed in
// order, QuantizeLinear rounding x/s half to even and saturating), for the operators
// Export writes. It is the tests' reference for what an exported file means, independent
// of ONNX Runtime and of tinyq's kernels.
func evalGraph(m *onnxpb.ModelProto, x []float32, rows int) ([]float32, error) {
	g := m.GetGraph()
	vals := map[string]*tensor{}
	for _, t := range g.GetInitializer() {
		d, err := decodeTensor(t)
		if err != nil {
			return nil, err
		}
		vals[t.GetName()] = d
	}
	dims := []int64{int64(rows)}
	for _, d := range g.GetInput()[0].GetType().GetTensorType().GetShape().GetDim()[1:] {
		dims = append(dims, d.GetDimValue())
	}
	vals[g.GetInput()[0].GetName()] = &tensor{dtype: onnxpb.TensorProto_FLOAT, dims: dims, f: x}
	for _, n := range g.GetNode() {
		var in []*tensor
		for _, name := range n.GetInput() {
			in = append(in, vals[name])
		}
		outs, err := evalNode(n, in)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", n.GetName(), n.GetOpType(), err)
		}
		for k, o := range outs {
			vals[n.GetOutput()[k]] = o
		}
	}
	return vals[g.GetOutput()[0].GetName()].f, nil
}

// at returns element k of t as a float64 (a scalar broadcasts).
func at(t *tensor, k int) float64 {
	if t.len() == 1 {
		k = 0
	}
	if t.isFloat() {
		return float64(t.f[k])
	}
	return float64(t.i[k])
}

func attrs(n *onnxpb.NodeProto) map[string]*onnxpb.AttributeProto {
	a := map[string]*onnxpb.AttributeProto{}
	for _, x := range n.GetAttribute() {
		a[x.GetName()] = x
	}
	return a
}

func evalNode(n *onnxpb.NodeProto, in []*tensor) ([]*tensor, error) {
	a := attrs(n)
	x := in[0]
	switch n.GetOpType() {
	case "Flatten":
		k := 1
		for _, d := range x.dims[1:] {
			k *= int(d)
		}
		return []*tensor{{dtype: x.dtype, dims: []int64{x.dims[0], int64(k)}, f: x.f, i: x.i}}, nil
	case "QuantizeLinear":
		s, zp := in[1].f[0], in[2]
		lo, hi := 0.0, 255.0
		if zp.dtype == onnxpb.TensorProto_INT8 {
			lo, hi = -128, 127
		}
		q := make([]int64, len(x.f))
		for k, v := range x.f {
			q[k] = int64(math.Max(lo, math.Min(hi, math.RoundToEven(float64(v/s))+float64(zp.i[0]))))
		}
		return []*tensor{{dtype: zp.dtype, dims: x.dims, i: q}}, nil
	case "Clip":
		q := make([]int64, len(x.i))
		for k, v := range x.i {
			q[k] = max(in[1].i[0], min(in[2].i[0], v))
		}
		return []*tensor{{dtype: x.dtype, dims: x.dims, i: q}}, nil
	case "DequantizeLinear":
		s, zp := in[1], in[2]
		axis := 0
		if v, ok := a["axis"]; ok {
			axis = int(v.GetI())
		}
		inner := 1
		for _, d := range x.dims[axis+1:] {
			inner *= int(d)
		}
		f := make([]float32, len(x.i))
		for k, v := range x.i {
			c := k / inner % int(x.dims[axis])
			f[k] = float32(v-int64(at(zp, c))) * float32(at(s, c))
		}
		return []*tensor{{dtype: onnxpb.TensorProto_FLOAT, dims: x.dims, f: f}}, nil
	case "Gemm":
		w, b := in[1], in[2]
		rows, inner := int(x.dims[0]), int(x.dims[1])
		out := int(w.dims[1])
		trans := a["transB"] != nil && a["transB"].GetI() == 1
		if trans {
			out = int(w.dims[0])
		}
		f := make([]float32, rows*out)
		for r := 0; r < rows; r++ {
			for o := 0; o < out; o++ {
				var s float32
				for k := 0; k < inner; k++ {
					wv := w.f[k*out+o]
					if trans {
						wv = w.f[o*inner+k]
					}
					s += x.f[r*inner+k] * wv
				}
				f[r*out+o] = s + b.f[o]
			}
		}
		return []*tensor{{dtype: onnxpb.TensorProto_FLOAT, dims: []int64{int64(rows), int64(out)}, f: f}}, nil
	case "Conv":
		w, b := in[1], in[2]
		nb, c, h, wd := int(x.dims[0]), int(x.dims[1]), int(x.dims[2]), int(x.dims[3])
		o, k := int(w.dims[0]), int(w.dims[2])
		st, pad := int(a["strides"].GetInts()[0]), int(a["pads"].GetInts()[0])
		oh, ow := (h+2*pad-k)/st+1, (wd+2*pad-k)/st+1
		f := make([]float32, nb*o*oh*ow)
		for s := 0; s < nb; s++ {
			for oc := 0; oc < o; oc++ {
				for y := 0; y < oh; y++ {
					for xx := 0; xx < ow; xx++ {
						var sum float32
						for ic := 0; ic < c; ic++ {
							for ky := 0; ky < k; ky++ {
								for kx := 0; kx < k; kx++ {
									iy, ix := y*st-pad+ky, xx*st-pad+kx
									if iy < 0 || ix < 0 || iy >= h || ix >= wd {
										continue
									}
									sum += x.f[((s*c+ic)*h+iy)*wd+ix] * w.f[((oc*c+ic)*k+ky)*k+kx]
								}
							}
						}
						f[((s*o+oc)*oh+y)*ow+xx] = sum + b.f[oc]
					}
				}
			}
		}
		return []*tensor{{dtype: onnxpb.TensorProto_FLOAT, dims: []int64{int64(nb), int64(o), int64(oh), int64(ow)}, f: f}}, nil
	case "MaxPool":
		nb, c, h, wd := int(x.dims[0]), int(x.dims[1]), int(x.dims[2]), int(x.dims[3])
		k, st := int(a["kernel_shape"].GetInts()[0]), int(a["strides"].GetInts()[0])
		oh, ow := (h-k)/st+1, (wd-k)/st+1
		f := make([]float32, nb*c*oh*ow)
		for p := 0; p < nb*c; p++ {
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					m := float32(math.Inf(-1))
					for ky := 0; ky < k; ky++ {
						for kx := 0; kx < k; kx++ {
							m = max(m, x.f[(p*h+y*st+ky)*wd+xx*st+kx])
						}
					}
					f[(p*oh+y)*ow+xx] = m
				}
			}
		}
		return []*tensor{{dtype: onnxpb.TensorProto_FLOAT, dims: []int64{int64(nb), int64(c), int64(oh), int64(ow)}, f: f}}, nil
	case "Relu":
		f := make([]float32, len(x.f))
		for k, v := range x.f {
			f[k] = max(v, 0)
		}
		return []*tensor{{dtype: x.dtype, dims: x.dims, f: f}}, nil
	case "Cast":
		f := make([]float32, x.len())
		for k := range f {
			f[k] = float32(at(x, k))
		}
		return []*tensor{{dtype: onnxpb.TensorProto_FLOAT, dims: x.dims, f: f}}, nil
	case "DynamicQuantizeLinear":
		lo, hi := float32(0), float32(0)
		for _, v := range x.f {
			lo, hi = min(lo, v), max(hi, v)
		}
		s := (hi - lo) / 255
		zp := math.Max(0, math.Min(255, math.RoundToEven(float64(-lo/s))))
		q := make([]int64, len(x.f))
		for k, v := range x.f {
			q[k] = int64(math.Max(0, math.Min(255, math.RoundToEven(float64(v/s))+zp)))
		}
		return []*tensor{{dtype: onnxpb.TensorProto_UINT8, dims: x.dims, i: q},
			{dtype: onnxpb.TensorProto_FLOAT, f: []float32{s}}, {dtype: onnxpb.TensorProto_UINT8, i: []int64{int64(zp)}}}, nil
	case "MatMulInteger":
		w := in[1]
		rows, inner, out := int(x.dims[0]), int(x.dims[1]), int(w.dims[1])
		acc := make([]int64, rows*out)
		for r := 0; r < rows; r++ {
			for o := 0; o < out; o++ {
				var s int64
				for k := 0; k < inner; k++ {
					s += (x.i[r*inner+k] - in[2].i[0]) * w.i[k*out+o]
				}
				acc[r*out+o] = s
			}
		}
		return []*tensor{{dtype: onnxpb.TensorProto_INT32, dims: []int64{int64(rows), int64(out)}, i: acc}}, nil
	case "Mul", "Add":
		y := in[1]
		if x.len() < y.len() {
			x, y = y, x
		}
		cols := y.len()
		f := make([]float32, x.len())
		for k := range f {
			if n.GetOpType() == "Mul" {
				f[k] = float32(at(x, k)) * float32(at(y, k%cols))
			} else {
				f[k] = float32(at(x, k)) + float32(at(y, k%cols))
			}
		}
		return []*tensor{{dtype: onnxpb.TensorProto_FLOAT, dims: x.dims, f: f}}, nil
	}
	return nil, fmt.Errorf("not in the tests' reference")
}

// TestExportSemantics: every kind of export of the PyTorch MLP and CNN, read by the tests'
// direct reference of the ONNX operators (evalGraph, not ONNX Runtime, not tinyq's
// kernels), predicts what tinyq's runtime predicts on MNIST test images (random inputs
// without MNIST; 60 under -short): all of them for the float models, at least 99.5% for the
// integer ones (a float requantization against tinyq's fixed-point one, and sums in another
// order).
func TestExportSemantics(t *testing.T) {
	rows := 300
	if testing.Short() {
		rows = 60
	}
	var x []float32
	if dir, err := mnist.Locate(""); err == nil {
		_, test, err := mnist.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		x = test.Images[:rows*784]
	}
	for _, fx := range []string{"mlp", "cnn_bn"} {
		fm, err := Load(filepath.Join("testdata", fx+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		if x == nil {
			x = testInputs(t, fm, rows)
		}
		calib := x[:rows/3*784]
		models := []infer.Model{fm, half(t, fm)}
		for _, cfg := range []ptq.Config{ptq.Spec(ptq.Static, 8, 8), ptq.Spec(ptq.Static, 8, 8).PerTensor(), ptq.Spec(ptq.Static, 4, 4), ptq.Spec(ptq.Static, 2, 8), ptq.Spec(ptq.Dynamic, 8, 8)} {
			if cfg.Mode == ptq.Dynamic && fx != "mlp" {
				continue
			}
			c, err := ptq.Choose(fm, cfg, calib, nil)
			if err != nil {
				t.Fatal(err)
			}
			models = append(models, c.Model)
		}
		for _, m := range models {
			p, err := Export(m)
			if err != nil {
				t.Fatal(err)
			}
			batch := rows
			if im, ok := m.(*infer.IntModel); ok && im.Config.Mode == infer.Dynamic {
				batch = 1 // one range per batch in ONNX, per row in tinyq
			}
			var got []float32
			for lo := 0; lo < rows; lo += batch {
				l, err := evalGraph(p, x[lo*784:(lo+batch)*784], batch)
				if err != nil {
					t.Fatalf("%s %s: %v", fx, m.Name(), err)
				}
				got = append(got, l...)
			}
			want, err := ptq.Logits(m, x)
			if err != nil {
				t.Fatal(err)
			}
			same, worst := 0, 0.0
			for r := 0; r < rows; r++ {
				if infer.Argmax(got[r*10:(r+1)*10]) == infer.Argmax(want[r*10:(r+1)*10]) {
					same++
				}
			}
			for k := range want {
				worst = math.Max(worst, math.Abs(float64(got[k]-want[k])))
			}
			t.Logf("%-6s %-28s agrees on %d/%d, logits within %.3g", fx, m.Name(), same, rows, worst)
			need := rows
			if _, ok := m.(*infer.IntModel); ok {
				need = rows * 995 / 1000
			}
			if same < need {
				t.Errorf("%s %s: the reference agrees with tinyq on %d of %d inputs, want at least %d", fx, m.Name(), same, rows, need)
			}
		}
	}
}
