package onnx

import (
	"encoding/json"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

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
	x := b.node("flatten", "Flatten", []string{"image"}, intAttr1("axis", 1))
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

// floatModel writes fp32 and fp16 models as Gemm (and Relu) per layer, and a QAT simulation
// as QDQ.
func (b *builder) floatModel(m *infer.FloatModel, x string) error {
	for i, l := range m.Layers {
		if m.Sim != nil && !m.Sim.Float(i) {
			var err error
			if x, err = b.simLayer(m, i, x); err != nil {
				return err
			}
			continue
		}
		var w, bias string
		if m.Precision == infer.F16 && m.Sim == nil {
			// Stored in half precision, computed in float32 as tinyq's runtime does.
			toFloat := intAttr1("to", int64(onnxpb.TensorProto_FLOAT))
			w = b.node(l.Name+".weight/cast", "Cast", []string{b.init(halfTensor(l.Name+".weight.f16", []int{l.In, l.Out}, l.W))}, toFloat)
			bias = b.node(l.Name+".bias/cast", "Cast", []string{b.init(halfTensor(l.Name+".bias.f16", []int{l.Out}, l.B))}, toFloat)
		} else {
			w = b.init(floatTensor(l.Name+".weight", []int{l.In, l.Out}, l.W))
			bias = b.init(floatTensor(l.Name+".bias", []int{l.Out}, l.B))
		}
		x = b.dense(l.Name, i, len(m.Layers), x, w, bias, false, l.ReLU)
	}
	return nil
}

// dense appends Gemm (and Relu) of layer i and returns its output.
func (b *builder) dense(name string, i, layers int, x, w, bias string, transB, relu bool) string {
	gemm := output(name, i, layers, "gemm")
	if relu {
		gemm = name + "/gemm"
	}
	var attrs []*onnxpb.AttributeProto
	if transB {
		attrs = append(attrs, intAttr1("transB", 1))
	}
	b.nodeN(name+"/gemm", "Gemm", []string{x, w, bias}, []string{gemm}, attrs...)
	if !relu {
		return gemm
	}
	out := output(name, i, layers, "relu")
	b.nodeN(name+"/relu", "Relu", []string{gemm}, []string{out})
	return out
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
		var err error
		if x, err = b.qdqInput(l.Name, x, l.InScale, l.InZP, l.InQMin, l.InQMax); err != nil {
			return err
		}
		wq, err := l.Unpacked(m.Config.Spec.Layer(i).Weight.Bits)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.Name, err)
		}
		w := b.dqWeights(l.Name, wq, []int{l.Out, l.In}, l.WeightScales, 0)
		// The bias scale s_in·s_w[o] in float32, as the runtime's logit scale
		// (infer.IntLayer.LogitScale) has it.
		bs := make([]float32, l.Out)
		for o := range bs {
			bs[o] = l.InScale * l.WeightScale(o)
		}
		bias := b.dqBias(l.Name, l.Bias, bs)
		x = b.dense(l.Name, i, len(m.Layers), x, w, bias, true, l.ReLU)
	}
	return nil
}

// simLayer writes layer i of a QAT simulation as QDQ: its input fake-quantized with the
// simulation's parameters, its weights (already on their grid, [In, Out]) as INT8 with
// scales along axis 1, its bias (on the int32 grid at s_in·s_w) as INT32.
func (b *builder) simLayer(m *infer.FloatModel, i int, x string) (string, error) {
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
	w := b.dqWeights(l.Name, wq, []int{l.In, l.Out}, wp.Scales, 1)
	bq, bs := make([]int32, l.Out), make([]float32, l.Out)
	for o := range bq {
		s := float64(ip.Scales[0]) * float64(scale(o))
		bq[o] = int32(math.RoundToEven(float64(l.B[o]) / s)) // the bias is float32(q·s): exact
		bs[o] = float32(s)
	}
	bias := b.dqBias(l.Name, bq, bs)
	return b.dense(l.Name, i, len(m.Layers), x, w, bias, false, l.ReLU), nil
}

// dynamicModel writes a dynamic integer model: per layer DynamicQuantizeLinear of its
// input, MatMulInteger with the INT8 weights [In, Out], Cast to float, Mul by s_x·s_w, Add
// the float bias, Relu.
func (b *builder) dynamicModel(m *infer.IntModel, x string) error {
	for i, l := range m.Layers {
		n := l.Name
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
