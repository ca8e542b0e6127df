package onnx

import (
	"encoding/json"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/onnx/onnxpb"
)

// ExportOpset is the default-domain opset Export writes: 13, the first with per-channel
// (axis) QuantizeLinear and DequantizeLinear; every operator Export uses has its meaning
// there (DynamicQuantizeLinear and MatMulInteger since 10 and 11).
const ExportOpset = 13

// exportIR is the IR version of opset 13 (ONNX 1.8).
const exportIR = 7

// MetaModel is the metadata_props key under which Export records the model's name
// (infer.Model.Name, e.g. "int w8a8-static").
const MetaModel = "tinyq.model"

// Save exports m (Export) and writes it to path atomically.
func Save(path string, m infer.Model) error {
	p, err := Export(m)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return Write(path, p)
}

// Export writes any model the runtime runs as an ONNX model of opset ExportOpset (see the
// package documentation for the graph of each kind). The graph's input "image" is FLOAT
// [batch, 1, H, W] (the model's input record: pixels already divided as it says, which the
// metadata MetaInput records), its output "logits" FLOAT [batch, classes].
func Export(m infer.Model) (*onnxpb.ModelProto, error) {
	b := &builder{g: &onnxpb.GraphProto{Name: proto.String("tinyq")}}
	in := m.Input()
	n, classes := m.Shape()
	b.g.Input = []*onnxpb.ValueInfoProto{valueInfo("image", in.Height, in.Width)}
	b.g.Output = []*onnxpb.ValueInfoProto{valueInfo("logits", classes)}
	x := "image"
	var err error
	switch m := m.(type) {
	case *infer.FloatModel:
		err = b.floatModel(m, x)
	case *infer.IntModel:
		if m.Config.Mode == infer.Static {
			err = b.staticModel(m, x)
		} else {
			err = b.dynamicModel(m, x)
		}
	default:
		err = fmt.Errorf("model %s (%T): not a model tinyq exports", m.Name(), m)
	}
	if err != nil {
		return nil, fmt.Errorf("onnx: export %s: %w", m.Name(), err)
	}
	rec, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("onnx: export: input record: %w", err)
	}
	doc := fmt.Sprintf("tinyq %s model: %d inputs (%dx%d pixels, x = pixel/%v) to %d logits.", m.Name(), n, in.Width, in.Height, in.PixelDivisor, classes)
	return &onnxpb.ModelProto{
		IrVersion:    proto.Int64(exportIR),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(ExportOpset)}},
		ProducerName: proto.String("tinyq"),
		DocString:    proto.String(doc),
		Graph:        b.g,
		MetadataProps: []*onnxpb.StringStringEntryProto{
			{Key: proto.String(MetaInput), Value: proto.String(string(rec))},
			{Key: proto.String(MetaModel), Value: proto.String(m.Name())},
		},
	}, nil
}

// valueInfo is a FLOAT tensor [batch, dims...] named name.
func valueInfo(name string, dims ...int) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}}}
	if len(dims) == 2 { // an image: one channel, NCHW as PyTorch has it (and NHWC alike)
		dims = append([]int{1}, dims...)
	}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape},
	}}}
}

// builder appends nodes and initializers to a graph.
type builder struct {
	g *onnxpb.GraphProto
}

// node appends a node named name with one output (named name) and returns the output.
func (b *builder) node(name, op string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	b.nodeN(name, op, inputs, []string{name}, attrs...)
	return name
}

// nodeN appends a node with the given outputs.
func (b *builder) nodeN(name, op string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) {
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: inputs, Output: outputs, Attribute: attrs})
}

// init adds an initializer and returns its name.
func (b *builder) init(t *onnxpb.TensorProto) string {
	b.g.Initializer = append(b.g.Initializer, t)
	return t.GetName()
}

func intAttr1(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// output names layer i's output: "logits" for the last layer.
func output(name string, i, layers int, what string) string {
	if i == layers-1 {
		return "logits"
	}
	return name + "/" + what
}

// floatModel writes fp32 and fp16 models as Conv or Gemm (then Relu and MaxPool) per layer,
// and a QAT simulation as QDQ.
func (b *builder) floatModel(m *infer.FloatModel, x string) error {
	for i := range m.Layers {
		l := &m.Layers[i]
		var prev *arch.Unit
		if i > 0 {
			u := m.Layers[i-1].Unit()
			prev = &u
		}
		x = b.flatten(l.Name, x, l.Conv, prev)
		if m.Sim != nil && !m.Sim.Float(i) {
			var err error
			if x, err = b.simLayer(m, i, x, prev); err != nil {
				return err
			}
			continue
		}
		wv, dims := l.W, []int{l.In, l.Out}
		if l.Conv != (arch.Window{}) {
			wv, dims = oihw(l.W, l.Conv, l.Out, false), []int{l.Out, l.Conv.C, l.Conv.Kernel, l.Conv.Kernel}
		} else if prev != nil {
			wv = chwRows(l.W, prev.Out, l.Out)
		}
		var w, bias string
		if m.Precision == infer.F16 && m.Sim == nil {
			// Stored in half precision, computed in float32 as tinyq's runtime does.
			toFloat := intAttr1("to", int64(onnxpb.TensorProto_FLOAT))
			w = b.node(l.Name+".weight/cast", "Cast", []string{b.init(halfTensor(l.Name+".weight.f16", dims, wv))}, toFloat)
			bias = b.node(l.Name+".bias/cast", "Cast", []string{b.init(halfTensor(l.Name+".bias.f16", []int{l.Out}, l.B))}, toFloat)
		} else {
			w = b.init(floatTensor(l.Name+".weight", dims, wv))
			bias = b.init(floatTensor(l.Name+".bias", []int{l.Out}, l.B))
		}
		x = b.layer(l.Name, i, len(m.Layers), x, w, bias, false, l.ReLU, l.Conv, l.Pool)
	}
	return nil
}

// flatten appends a Flatten before a dense layer whose input is an image (the graph's input,
// or a convolution's output: prev) and returns the flattened tensor.
func (b *builder) flatten(name, x string, conv arch.Window, prev *arch.Unit) string {
	if conv != (arch.Window{}) || (prev != nil && prev.Kind != arch.Conv2D) {
		return x
	}
	return b.node(name+"/flatten", "Flatten", []string{x}, intAttr1("axis", 1))
}

// oihw reorders convolution weights to ONNX's [Out, C, K, K]: from tinyq's float layout
// [K, K, C, Out] (outFirst false) or its integer layout [Out, K, K, C] (outFirst true).
func oihw[T any](w []T, win arch.Window, out int, outFirst bool) []T {
	k, c := win.Kernel, win.C
	r := make([]T, len(w))
	for o := 0; o < out; o++ {
		for ci := 0; ci < c; ci++ {
			for y := 0; y < k; y++ {
				for x := 0; x < k; x++ {
					p := (y*k+x)*c + ci // the patch index
					from := p*out + o
					if outFirst {
						from = o*k*k*c + p
					}
					r[((o*c+ci)*k+y)*k+x] = w[from]
				}
			}
		}
	}
	return r
}

// chwRows reorders the rows of dense weights [In, Out] (In = H·W·C of the image s in
// tinyq's (y, x, c) order) to the order ONNX's Flatten gives an NCHW image, (c, y, x).
// Nothing moves for one channel or one pixel.
func chwRows[T any](w []T, s arch.Shape, out int) []T {
	if s.C == 1 || s.H*s.W == 1 {
		return w
	}
	r := make([]T, len(w))
	for c := 0; c < s.C; c++ {
		for y := 0; y < s.H; y++ {
			for x := 0; x < s.W; x++ {
				to, from := (c*s.H+y)*s.W+x, (y*s.W+x)*s.C+c
				copy(r[to*out:(to+1)*out], w[from*out:(from+1)*out])
			}
		}
	}
	return r
}

// transpose returns the [cols, rows] transpose of m [rows, cols].
func transpose[T any](m []T, rows, cols int) []T {
	t := make([]T, len(m))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t[c*rows+r] = m[r*cols+c]
		}
	}
	return t
}

// layer appends layer i: Conv (with conv's window) or Gemm, then Relu, then MaxPool (with
// pool's window); it returns the layer's output ("logits" for the last layer).
func (b *builder) layer(name string, i, layers int, x, w, bias string, transB, relu bool, conv, pool arch.Window) string {
	steps := []string{"gemm"}
	if relu {
		steps = append(steps, "relu")
	}
	if pool != (arch.Window{}) {
		steps = append(steps, "maxpool")
	}
	out := func(step string) string {
		if step == steps[len(steps)-1] {
			return output(name, i, layers, step)
		}
		return name + "/" + step
	}
	if conv != (arch.Window{}) {
		k, p, s := int64(conv.Kernel), int64(conv.Pad), int64(conv.Stride)
		b.nodeN(name+"/conv", "Conv", []string{x, w, bias}, []string{out("gemm")},
			intsAttr1("kernel_shape", k, k), intsAttr1("strides", s, s), intsAttr1("pads", p, p, p, p))
	} else {
		var attrs []*onnxpb.AttributeProto
		if transB {
			attrs = append(attrs, intAttr1("transB", 1))
		}
		b.nodeN(name+"/gemm", "Gemm", []string{x, w, bias}, []string{out("gemm")}, attrs...)
	}
	x = out("gemm")
	if relu {
		b.nodeN(name+"/relu", "Relu", []string{x}, []string{out("relu")})
		x = out("relu")
	}
	if pool != (arch.Window{}) {
		k, s := int64(pool.Kernel), int64(pool.Stride)
		b.nodeN(name+"/maxpool", "MaxPool", []string{x}, []string{out("maxpool")}, intsAttr1("kernel_shape", k, k), intsAttr1("strides", s, s))
		x = out("maxpool")
	}
	return x
}

func intsAttr1(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// qdqInput appends QuantizeLinear (then a Clip to [qmin, qmax] in uint8 when the range is
// narrower than uint8's) and DequantizeLinear of x with per-tensor parameters; it returns
// the dequantized tensor.
func (b *builder) qdqInput(name, x string, s float32, zp, qmin, qmax int32) (string, error) {
	if qmin < 0 || qmax > 255 || zp < qmin || zp > qmax {
		return "", fmt.Errorf("layer %s: input range [%d, %d] with zero point %d is not in uint8", name, qmin, qmax, zp)
	}
	scale := b.init(floatTensor(name+".in.scale", nil, []float32{s}))
	zero := b.init(uint8Tensor(name+".in.zero_point", nil, []uint8{uint8(zp)}))
	q := b.node(name+"/in/quantize", "QuantizeLinear", []string{x, scale, zero})
	if qmin > 0 || qmax < 255 {
		lo := b.init(uint8Tensor(name+".in.qmin", nil, []uint8{uint8(qmin)}))
		hi := b.init(uint8Tensor(name+".in.qmax", nil, []uint8{uint8(qmax)}))
		q = b.node(name+"/in/clip", "Clip", []string{q, lo, hi})
	}
	return b.node(name+"/in/dequantize", "DequantizeLinear", []string{q, scale, zero}), nil
}

// dqWeights appends the INT8 weights w (shape dims) and their DequantizeLinear with scales
// along axis (per channel) or one scale; it returns the dequantized weights.
func (b *builder) dqWeights(name string, w []int8, dims []int, scales []float32, axis int) string {
	q := b.init(int8Tensor(name+".weight.int8", dims, w))
	if len(scales) == 1 {
		s := b.init(floatTensor(name+".weight.scale", nil, scales))
		z := b.init(int8Tensor(name+".weight.zero_point", nil, []int8{0}))
		return b.node(name+"/weight/dequantize", "DequantizeLinear", []string{q, s, z})
	}
	s := b.init(floatTensor(name+".weight.scale", []int{len(scales)}, scales))
	z := b.init(int8Tensor(name+".weight.zero_point", []int{len(scales)}, make([]int8, len(scales))))
	return b.node(name+"/weight/dequantize", "DequantizeLinear", []string{q, s, z}, intAttr1("axis", int64(axis)))
}

// dqBias appends the INT32 bias and its DequantizeLinear at scales (one per output).
func (b *builder) dqBias(name string, bias []int32, scales []float32) string {
	q := b.init(int32Tensor(name+".bias.int32", []int{len(bias)}, bias))
	s := b.init(floatTensor(name+".bias.scale", []int{len(scales)}, scales))
	z := b.init(int32Tensor(name+".bias.zero_point", []int{len(scales)}, make([]int32, len(scales))))
	return b.node(name+"/bias/dequantize", "DequantizeLinear", []string{q, s, z}, intAttr1("axis", 0))
}

// staticModel writes a static integer model as QDQ: per layer, its uint8 input
// quantized and dequantized, its INT8 weights [Out, In] and INT32 bias dequantized into a
// Gemm (transB 1), then Relu. The next layer's QuantizeLinear is the requantization.
func (b *builder) staticModel(m *infer.IntModel, x string) error {
	for i, l := range m.Layers {
		var prev *arch.Unit
		if i > 0 {
			u := m.Layers[i-1].Unit()
			prev = &u
		}
		x = b.flatten(l.Name, x, l.Conv, prev)
		var err error
		if x, err = b.qdqInput(l.Name, x, l.InScale, l.InZP, l.InQMin, l.InQMax); err != nil {
			return err
		}
		wq, err := l.Unpacked(m.Config.Spec.Layer(i).Weight.Bits)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.Name, err)
		}
		dims := []int{l.Out, l.In}
		if l.Conv != (arch.Window{}) {
			wq, dims = oihw(wq, l.Conv, l.Out, true), []int{l.Out, l.Conv.C, l.Conv.Kernel, l.Conv.Kernel}
		} else if prev != nil {
			// The columns of [Out, In] are the rows of [In, Out].
			wq = transpose(chwRows(transpose(wq, l.Out, l.In), prev.Out, l.Out), l.In, l.Out)
		}
		w := b.dqWeights(l.Name, wq, dims, l.WeightScales, 0)
		// The bias scale s_in·s_w[o] in float32, as the runtime's logit scale
		// (infer.IntLayer.LogitScale) has it.
		bs := make([]float32, l.Out)
		for o := range bs {
			bs[o] = l.InScale * l.WeightScale(o)
		}
		bias := b.dqBias(l.Name, l.Bias, bs)
		x = b.layer(l.Name, i, len(m.Layers), x, w, bias, l.Conv == (arch.Window{}), l.ReLU, l.Conv, l.Pool)
	}
	return nil
}

// simLayer writes layer i of a QAT simulation as QDQ: its input fake-quantized with the
// simulation's parameters, its weights (already on their grid, [In, Out]) as INT8 with
// scales along axis 1, its bias (on the int32 grid at s_in·s_w) as INT32.
func (b *builder) simLayer(m *infer.FloatModel, i int, x string, prev *arch.Unit) (string, error) {
	l := m.Layers[i]
	ip, wp := m.Sim.Inputs[i], m.Sim.Weights[i]
	x, err := b.qdqInput(l.Name, x, ip.Scales[0], ip.ZeroPoints[0], ip.QMin, ip.QMax)
	if err != nil {
		return "", err
	}
	if wp.QMin < -128 || wp.QMax > 127 {
		return "", fmt.Errorf("layer %s: weight range [%d, %d] is not in int8", l.Name, wp.QMin, wp.QMax)
	}
	for _, z := range wp.ZeroPoints {
		if z != 0 {
			return "", fmt.Errorf("layer %s: weight zero point %d, want symmetric weights (0)", l.Name, z)
		}
	}
	scale := func(o int) float32 {
		if len(wp.Scales) == 1 {
			return wp.Scales[0]
		}
		return wp.Scales[o]
	}
	wq := make([]int8, len(l.W)) // [In, Out]
	for k, v := range l.W {
		// Exact: the weight is float32(q)·s, so v/s is within 2^-23 of q.
		q := math.RoundToEven(float64(v / scale(k%l.Out)))
		wq[k] = int8(max(float64(wp.QMin), min(float64(wp.QMax), q)))
	}
	var w string
	switch {
	case l.Conv != (arch.Window{}):
		w = b.dqWeights(l.Name, oihw(wq, l.Conv, l.Out, false), []int{l.Out, l.Conv.C, l.Conv.Kernel, l.Conv.Kernel}, wp.Scales, 0)
	case prev != nil:
		w = b.dqWeights(l.Name, chwRows(wq, prev.Out, l.Out), []int{l.In, l.Out}, wp.Scales, 1)
	default:
		w = b.dqWeights(l.Name, wq, []int{l.In, l.Out}, wp.Scales, 1)
	}
	bq, bs := make([]int32, l.Out), make([]float32, l.Out)
	for o := range bq {
		s := float64(ip.Scales[0]) * float64(scale(o))
		bq[o] = int32(math.RoundToEven(float64(l.B[o]) / s)) // the bias is float32(q·s): exact
		bs[o] = float32(s)
	}
	bias := b.dqBias(l.Name, bq, bs)
	return b.layer(l.Name, i, len(m.Layers), x, w, bias, false, l.ReLU, l.Conv, l.Pool), nil
}

// dynamicModel writes a dynamic integer model: per layer DynamicQuantizeLinear of its
// input, MatMulInteger with the INT8 weights [In, Out], Cast to float, Mul by s_x·s_w, Add
// the float bias, Relu.
func (b *builder) dynamicModel(m *infer.IntModel, x string) error {
	x = b.node("flatten", "Flatten", []string{x}, intAttr1("axis", 1))
	for i, l := range m.Layers {
		n := l.Name
		if l.Conv != (arch.Window{}) || l.Pool != (arch.Window{}) {
			return fmt.Errorf("layer %s: a dynamic model of convolutions (tinyq's dynamic models are dense)", n)
		}
		xq, xs, xz := n+"/in/quantized", n+"/in/scale", n+"/in/zero_point"
		b.nodeN(n+"/in/dynamic_quantize", "DynamicQuantizeLinear", []string{x}, []string{xq, xs, xz})
		wq, err := l.Unpacked(m.Config.Spec.Layer(i).Weight.Bits)
		if err != nil {
			return fmt.Errorf("layer %s: %w", n, err)
		}
		wt := make([]int8, len(wq)) // [In, Out] from [Out, In]
		for o := 0; o < l.Out; o++ {
			for k := 0; k < l.In; k++ {
				wt[k*l.Out+o] = wq[o*l.In+k]
			}
		}
		w := b.init(int8Tensor(n+".weight.int8", []int{l.In, l.Out}, wt))
		acc := b.node(n+"/matmul_integer", "MatMulInteger", []string{xq, w, xz})
		accf := b.node(n+"/cast", "Cast", []string{acc}, intAttr1("to", int64(onnxpb.TensorProto_FLOAT)))
		ws := b.init(floatTensor(n+".weight.scale", []int{len(l.WeightScales)}, l.WeightScales))
		scale := b.node(n+"/scale", "Mul", []string{xs, ws})
		y := b.node(n+"/dequantize", "Mul", []string{accf, scale})
		bias := b.init(floatTensor(n+".bias", []int{l.Out}, l.BiasF))
		add := output(n, i, len(m.Layers), "add")
		if l.ReLU {
			add = n + "/add"
		}
		b.nodeN(n+"/add", "Add", []string{y, bias}, []string{add})
		x = add
		if l.ReLU {
			x = output(n, i, len(m.Layers), "relu")
			b.nodeN(n+"/relu", "Relu", []string{add}, []string{x})
		}
	}
	return nil
}
