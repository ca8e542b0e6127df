package onnx

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"tinyq/arch"
	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/onnx/onnxpb"
)

// The default-domain opsets Import reads: 13 (per-channel QuantizeLinear, Flatten, Gemm and
// Reshape as PyTorch exports them today) to 17 (torch.onnx.export's newest in PyTorch 1.13).
// The operators Import reads have the same meaning in all of them.
const (
	MinOpset = 13
	MaxOpset = 17
)

// MetaInput is the metadata_props key under which tinyq records a model's input (the JSON
// of infer.Input: width, height, pixel_divisor), so that a model exported by tinyq imports
// with the preprocessing it was trained with. Other producers do not write it.
const MetaInput = "tinyq.input"

// Supported lists the operators Import reads, for its refusals.
const Supported = "Gemm, MatMul, Add (a MatMul's bias), Conv (square kernels, equal strides and pads, no groups or dilations), BatchNormalization (inference, folded into the layer before), MaxPool (square, no padding), Relu, Flatten, Reshape (to [batch, features]), Identity, Dropout (inference), a last Softmax or LogSoftmax (left out: the same classes and probabilities), Constant, Cast and Transpose of constants, and the shape arithmetic of x.view(x.size(0), -1) (Shape, Gather, Unsqueeze, Squeeze, Concat)"

// Load reads an ONNX file and imports it (Import); errors name the file.
func Load(path string) (*infer.FloatModel, error) {
	m, err := Read(path)
	if err != nil {
		return nil, err
	}
	fm, err := importModel(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return fm, nil
}

// Import converts a float ONNX model of a multilayer perceptron (as torch.onnx.export writes
// nn.Sequential(nn.Flatten(), nn.Linear, nn.ReLU, ...) in opsets MinOpset to MaxOpset) to
// tinyq's float model: a chain of dense layers (Gemm, or MatMul then Add), each optionally
// followed by Relu, after an optional Flatten or Reshape of the input to [batch, features].
// Weights in FLOAT16 (cast to float before use, as tinyq exports fp16 models) give an fp16
// model; FLOAT weights an fp32 one.
//
// The input record (infer.Input) comes from the file's MetaInput metadata when tinyq wrote
// it; otherwise from the input's shape ([batch, 1, H, W], [batch, H, W] or [batch, H, W, 1]
// give H x W pixels; [batch, n] gives infer.DefaultInput(n): 28 x 28 for 784), with pixel/255
// (infer.DefaultInput's divisor). ONNX cannot say how pixels were scaled: a caller that
// knows better sets it with FloatModel.SetInput.
//
// Anything else is refused with one line naming the node, its operator and why.
func Import(m *onnxpb.ModelProto) (*infer.FloatModel, error) {
	fm, err := importModel(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return fm, nil
}

// importer walks a graph's nodes in order, keeping the one activation tensor the chain has
// reached (cur) and its shape.
type importer struct {
	consts map[string]*tensor
	half   map[string]bool // constants cast from FLOAT16
	layers []infer.FloatLayer
	halves [][2]bool // per layer: weights, bias cast from FLOAT16
	cur    string

	// The shape of cur per sample: an image (H, W, C; NCHW in ONNX, NHWC in tinyq) or a
	// vector of shape.C features (flat). known is false until a layer or the input says.
	shape arch.Shape
	known bool
	flat  bool
	// chw is set when cur is an image of more than one channel flattened in ONNX's order
	// (c, y, x): the next dense layer's weight rows are reordered to tinyq's (y, x, c).
	chw arch.Shape

	// The last layer (unit) while cur is its output: open; its BatchNorm folded (bn), its
	// bias still to come from an Add (matmul).
	open, bn, matmul bool
	// final is the output of a last Softmax or LogSoftmax, which the import leaves out.
	final string
}

func importModel(m *onnxpb.ModelProto) (*infer.FloatModel, error) {
	if err := checkOpset(m); err != nil {
		return nil, err
	}
	g := m.GetGraph()
	im := &importer{consts: map[string]*tensor{}, half: map[string]bool{}}
	for _, t := range g.GetInitializer() {
		d, err := decodeTensor(t)
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		im.consts[t.GetName()] = d
	}
	if len(g.GetSparseInitializer()) > 0 {
		return nil, fmt.Errorf("sparse initializer %q: not supported", g.GetSparseInitializer()[0].GetValues().GetName())
	}
	var inputs []*onnxpb.ValueInfoProto
	for _, in := range g.GetInput() {
		if _, ok := im.consts[in.GetName()]; !ok { // IR < 4 lists initializers as inputs
			inputs = append(inputs, in)
		}
	}
	if len(inputs) != 1 || len(g.GetOutput()) != 1 {
		return nil, fmt.Errorf("graph %q: %d inputs and %d outputs, want one of each (an image in, logits out)", g.GetName(), len(inputs), len(g.GetOutput()))
	}
	input := inputs[0]
	dims, err := inputDims(input)
	if err != nil {
		return nil, err
	}
	im.cur = input.GetName()
	switch {
	case len(dims) == 1:
		im.shape, im.known, im.flat = arch.Vector(int(dims[0])), true, true
	case len(dims) == 2: // [batch, H, W]
		im.shape, im.known = arch.Shape{H: int(dims[0]), W: int(dims[1]), C: 1}, true
	case len(dims) == 3 && dims[0] == 1: // [batch, 1, H, W]
		im.shape, im.known = arch.Shape{H: int(dims[1]), W: int(dims[2]), C: 1}, true
	case len(dims) == 3 && dims[2] == 1: // [batch, H, W, 1]: the same memory
		im.shape, im.known = arch.Shape{H: int(dims[0]), W: int(dims[1]), C: 1}, true
	case len(dims) == 3:
		return nil, fmt.Errorf("input %q: shape [batch %v]: tinyq reads images of one channel ([batch, 1, H, W]) or vectors ([batch, n])", input.GetName(), dims)
	case dims != nil:
		return nil, fmt.Errorf("input %q: shape [batch %v]: tinyq reads [batch, 1, H, W], [batch, H, W] or [batch, n]", input.GetName(), dims)
	}
	for _, n := range g.GetNode() {
		if err := im.node(n); err != nil {
			name := n.GetName()
			if name == "" && len(n.GetOutput()) > 0 {
				name = n.GetOutput()[0]
			}
			return nil, fmt.Errorf("node %q (%s): %w", name, n.GetOpType(), err)
		}
	}
	out := g.GetOutput()[0].GetName()
	if len(im.layers) == 0 {
		return nil, fmt.Errorf("graph %q: no dense layer (Gemm or MatMul): nothing to import", g.GetName())
	}
	if im.cur != out {
		return nil, fmt.Errorf("graph output %q is not the last layer's output %q: tinyq imports a chain of layers that ends in the logits", out, im.cur)
	}
	if last := im.layers[len(im.layers)-1]; last.Conv != (arch.Window{}) || last.Pool != (arch.Window{}) {
		return nil, fmt.Errorf("graph output %q is an image: tinyq's last layer is dense (it yields the logits)", out)
	}
	prec := infer.F16
	for _, h := range im.halves {
		if !h[0] || !h[1] {
			prec = infer.F32
		}
	}
	fm, err := infer.NewFloatModel(prec, im.layers, nil)
	if err != nil {
		return nil, err
	}
	in0 := im.layers[0].InSize()
	rec, err := inputRecord(m, dims, in0)
	if err != nil {
		return nil, err
	}
	if err := fm.SetInput(rec); err != nil {
		return nil, err
	}
	return fm, nil
}

// checkOpset refuses models whose default-domain opset is outside [MinOpset, MaxOpset].
func checkOpset(m *onnxpb.ModelProto) error {
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			if v := o.GetVersion(); v < MinOpset || v > MaxOpset {
				return fmt.Errorf("opset %d: tinyq imports opsets %d to %d (torch.onnx.export(..., opset_version=%d))", v, MinOpset, MaxOpset, MaxOpset)
			}
			return nil
		}
	}
	return fmt.Errorf("no opset of the default ONNX domain: not a model of standard operators")
}

// inputDims returns the input's dimensions after the batch (nil if the file does not give
// them all).
func inputDims(in *onnxpb.ValueInfoProto) ([]int64, error) {
	tt := in.GetType().GetTensorType()
	if tt == nil {
		return nil, fmt.Errorf("input %q: not a tensor", in.GetName())
	}
	if tt.GetElemType() != int32(onnxpb.TensorProto_FLOAT) {
		return nil, fmt.Errorf("input %q: element type %v, want FLOAT (tinyq's models read float32)", in.GetName(), onnxpb.TensorProto_DataType(tt.GetElemType()))
	}
	shape := tt.GetShape()
	if shape == nil || len(shape.GetDim()) < 2 {
		return nil, nil
	}
	var dims []int64
	n := int64(1)
	for _, d := range shape.GetDim()[1:] {
		v := d.GetDimValue()
		if d.GetDimParam() != "" || v <= 0 {
			return nil, nil
		}
		if v > arch.MaxDim || n*v > arch.MaxValues {
			return nil, fmt.Errorf("input %q: dimension %d: tinyq's inputs have at most %d values per dimension and %d in all", in.GetName(), v, arch.MaxDim, arch.MaxValues)
		}
		n *= v
		dims = append(dims, v)
	}
	return dims, nil
}

// inputRecord is the model's input record: the file's MetaInput, else from its shape.
func inputRecord(m *onnxpb.ModelProto, dims []int64, n int) (infer.Input, error) {
	for _, p := range m.GetMetadataProps() {
		if p.GetKey() == MetaInput {
			rec, err := modelfile.ParseInput(p.GetValue(), n)
			if err != nil {
				return rec, fmt.Errorf("metadata %s: %w", MetaInput, err)
			}
			return rec, nil
		}
	}
	rec := infer.DefaultInput(n)
	switch {
	case len(dims) == 3 && dims[0] == 1: // [batch, 1, H, W] (NCHW, one channel)
		rec.Height, rec.Width = int(dims[1]), int(dims[2])
	case len(dims) == 3 && dims[2] == 1: // [batch, H, W, 1] (NHWC)
		rec.Height, rec.Width = int(dims[0]), int(dims[1])
	case len(dims) == 2:
		rec.Height, rec.Width = int(dims[0]), int(dims[1])
	}
	return rec, nil
}

// node imports one node.
func (im *importer) node(n *onnxpb.NodeProto) error {
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return fmt.Errorf("operator domain %q: tinyq imports standard ONNX operators only (%s)", d, Supported)
	}
	in, out := n.GetInput(), n.GetOutput()
	if len(out) == 0 {
		return fmt.Errorf("no output")
	}
	switch n.GetOpType() {
	case "Constant":
		t, err := constantValue(n)
		if err != nil {
			return err
		}
		im.consts[out[0]] = t
		return nil
	case "Cast":
		return im.cast(n)
	case "Transpose":
		if len(in) == 1 {
			if _, ok := im.consts[in[0]]; ok {
				return im.transposeConst(n)
			}
		}
	case "Shape":
		if len(in) == 1 && in[0] == im.cur {
			return im.shapeOf(n)
		}
	case "Gather", "Unsqueeze", "Squeeze", "Concat":
		if im.allConst(in) {
			return im.foldShape(n)
		}
	}
	if len(in) == 0 {
		return fmt.Errorf("no input")
	}
	// Every other node reads the chain's current tensor: first, or second for Add.
	act := in[0]
	if n.GetOpType() == "Add" && len(in) == 2 && in[1] == im.cur {
		act = in[0+1]
	}
	if act != im.cur {
		if _, ok := im.consts[act]; ok && n.GetOpType() != "Add" {
			return fmt.Errorf("input %q is a constant: tinyq imports a chain of layers from the graph input", act)
		}
		return fmt.Errorf("input %q is not the previous layer's output %q: tinyq imports a chain of layers (no branches or skips)", act, im.cur)
	}
	next := out[0]
	if im.final != "" {
		return fmt.Errorf("after the final %q: tinyq imports a Softmax or LogSoftmax only as the last node", im.final)
	}
	switch op := n.GetOpType(); op {
	case "Identity":
	case "Dropout":
		if len(out) > 1 && out[1] != "" {
			return fmt.Errorf("its mask output %q is used: only inference-mode Dropout (the identity) is imported", out[1])
		}
		if len(in) > 2 && in[2] != "" {
			t, ok := im.consts[in[2]]
			if !ok || t.len() != 1 || (t.i != nil && t.i[0] != 0) {
				return fmt.Errorf("training_mode %q is not the constant false: only inference-mode Dropout (the identity) is imported", in[2])
			}
		}
	case "Flatten":
		axis, err := intAttr(n, "axis", 1)
		if err != nil {
			return err
		}
		if axis != 1 {
			return fmt.Errorf("axis %d: tinyq flattens each sample (axis 1) to [batch, features]", axis)
		}
		im.flatten()
	case "Reshape":
		if err := im.reshape(n); err != nil {
			return err
		}
		im.flatten()
	case "Gemm":
		if err := im.gemm(n); err != nil {
			return err
		}
	case "MatMul":
		if err := im.matmulNode(n); err != nil {
			return err
		}
	case "Add":
		if err := im.add(n); err != nil {
			return err
		}
	case "Conv":
		if err := im.conv(n); err != nil {
			return err
		}
	case "BatchNormalization":
		if err := im.batchNorm(n); err != nil {
			return err
		}
	case "MaxPool":
		if err := im.maxPool(n); err != nil {
			return err
		}
	case "Relu":
		l := im.last()
		if !im.open || l.ReLU {
			return fmt.Errorf("a Relu not right after a layer (Gemm, MatMul and its Add, Conv, and its BatchNormalization or MaxPool): tinyq's ReLU belongs to a layer")
		}
		// After a MaxPool too: max(·, 0) commutes with the maximum, so ReLU then pooling is
		// the same function.
		l.ReLU = true
		im.matmul = false
	case "Softmax", "LogSoftmax":
		// Last: tinyq's model yields the logits z, its classes argmax z and its probabilities
		// softmax z, which are the argmax and the softmax of softmax(z) and log_softmax(z).
		l := im.last()
		axis, err := intAttr(n, "axis", -1)
		if err != nil {
			return err
		}
		if !im.open || l.Conv != (arch.Window{}) || (axis != -1 && axis != 1) || im.final != "" {
			return fmt.Errorf("a %s not at the end over the classes (axis 1 or -1) of the last dense layer: tinyq's models end in logits", op)
		}
		im.final = next
		im.cur = next
		return nil
	case "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "QLinearMatMul", "QGemm", "ConvInteger", "QLinearConv":
		return fmt.Errorf("a quantized model: tinyq imports float ONNX models and quantizes them itself (cmd/quantize -bits)")
	default:
		return fmt.Errorf("operator not supported: tinyq imports %s", Supported)
	}
	im.cur = next
	return nil
}

// last returns the last layer (nil before the first).
func (im *importer) last() *infer.FloatLayer {
	if len(im.layers) == 0 {
		return nil
	}
	return &im.layers[len(im.layers)-1]
}

// flatten makes cur a vector; an image of several channels is flattened in ONNX's order
// (c, y, x), which the next dense layer's weights are reordered from.
func (im *importer) flatten() {
	if im.known && !im.flat && im.shape.C > 1 && im.shape.H*im.shape.W > 1 {
		im.chw = im.shape
	}
	if im.known {
		im.shape = arch.Vector(im.shape.Size())
	}
	im.flat, im.open, im.matmul = true, false, false
}

// constantValue decodes a Constant node's value.
func constantValue(n *onnxpb.NodeProto) (*tensor, error) {
	for _, a := range n.GetAttribute() {
		switch a.GetName() {
		case "value":
			t, err := decodeTensor(a.GetT())
			if err != nil {
				return nil, err
			}
			return t, nil
		case "value_float":
			return &tensor{dtype: onnxpb.TensorProto_FLOAT, f: []float32{a.GetF()}}, nil
		case "value_floats":
			return &tensor{dtype: onnxpb.TensorProto_FLOAT, dims: []int64{int64(len(a.GetFloats()))}, f: a.GetFloats()}, nil
		case "value_int":
			return &tensor{dtype: onnxpb.TensorProto_INT64, i: []int64{a.GetI()}}, nil
		case "value_ints":
			return &tensor{dtype: onnxpb.TensorProto_INT64, dims: []int64{int64(len(a.GetInts()))}, i: a.GetInts()}, nil
		}
	}
	return nil, fmt.Errorf("no value tinyq reads (value, value_float(s) or value_int(s))")
}

// cast folds a Cast of a constant (as tinyq's fp16 export casts FLOAT16 weights to FLOAT).
func (im *importer) cast(n *onnxpb.NodeProto) error {
	in := n.GetInput()
	if len(in) != 1 {
		return fmt.Errorf("%d inputs, want 1", len(in))
	}
	t, ok := im.consts[in[0]]
	if !ok {
		return fmt.Errorf("a Cast of the activations (%q): tinyq computes in float32 and imports Cast of constants only", in[0])
	}
	to, err := intAttr(n, "to", 0)
	if err != nil {
		return err
	}
	if to != int64(onnxpb.TensorProto_FLOAT) || !t.isFloat() {
		return fmt.Errorf("a Cast of %v to %v: tinyq imports Cast of FLOAT16 or FLOAT constants to FLOAT", t.dtype, onnxpb.TensorProto_DataType(to))
	}
	im.consts[n.GetOutput()[0]] = &tensor{dtype: onnxpb.TensorProto_FLOAT, dims: t.dims, f: t.f}
	im.half[n.GetOutput()[0]] = t.dtype == onnxpb.TensorProto_FLOAT16 || im.half[in[0]]
	return nil
}

// transposeConst folds a Transpose of a constant matrix (as exporters write Linear weights
// without constant folding).
func (im *importer) transposeConst(n *onnxpb.NodeProto) error {
	in := n.GetInput()[0]
	t := im.consts[in]
	perm, err := intsAttr(n, "perm")
	if err != nil {
		return err
	}
	if len(t.dims) != 2 || (perm != nil && (len(perm) != 2 || perm[0] != 1 || perm[1] != 0)) || !t.isFloat() {
		return fmt.Errorf("a Transpose of constant %q (%v, shape %v, perm %v): tinyq folds transposes of float matrices only", in, t.dtype, t.dims, perm)
	}
	rows, cols := int(t.dims[0]), int(t.dims[1])
	im.consts[n.GetOutput()[0]] = &tensor{dtype: t.dtype, dims: []int64{t.dims[1], t.dims[0]}, f: transpose(t.f, rows, cols)}
	im.half[n.GetOutput()[0]] = im.half[in]
	return nil
}

// intAttr returns the integer attribute name of n, or def when n does not have it.
func intAttr(n *onnxpb.NodeProto, name string, def int64) (int64, error) {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			if a.GetType() != onnxpb.AttributeProto_INT {
				return 0, fmt.Errorf("attribute %s is %v, want INT", name, a.GetType())
			}
			return a.GetI(), nil
		}
	}
	return def, nil
}

// floatAttr returns the float attribute name of n, or def when n does not have it.
func floatAttr(n *onnxpb.NodeProto, name string, def float32) (float32, error) {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			if a.GetType() != onnxpb.AttributeProto_FLOAT {
				return 0, fmt.Errorf("attribute %s is %v, want FLOAT", name, a.GetType())
			}
			return a.GetF(), nil
		}
	}
	return def, nil
}

// constant returns input k of n, which must be a constant.
func (im *importer) constant(n *onnxpb.NodeProto, k int, what string) (*tensor, error) {
	in := n.GetInput()
	if k >= len(in) || in[k] == "" {
		return nil, fmt.Errorf("no %s (input %d)", what, k)
	}
	t, ok := im.consts[in[k]]
	if !ok {
		return nil, fmt.Errorf("%s %q is computed in the graph, not a constant: tinyq imports weights held in the file", what, in[k])
	}
	return t, nil
}

// reshape checks that a Reshape flattens each sample: its shape is [-1, F], [0, -1] or
// [0, F] with F the sample's values.
func (im *importer) reshape(n *onnxpb.NodeProto) error {
	s, err := im.constant(n, 1, "shape")
	if err != nil {
		return err
	}
	if allow, err := intAttr(n, "allowzero", 0); err != nil || allow != 0 {
		return fmt.Errorf("allowzero %d: tinyq reshapes each sample to [batch, features] (allowzero 0)", allow)
	}
	if s.dtype != onnxpb.TensorProto_INT64 || len(s.i) != 2 {
		return fmt.Errorf("shape %s: tinyq reshapes each sample to [batch, features] (a shape of two int64)", shapeString(s.i))
	}
	b, f := s.i[0], s.i[1]
	if b == batchDim { // x.view(x.size(0), -1): the batch size, computed by Shape
		b = 0
	}
	size := 0
	if im.known {
		size = im.shape.Size()
	}
	ok := (b == -1 && f > 0 && (size == 0 || int(f) == size)) ||
		(b == 0 && (f == -1 || (f > 0 && (size == 0 || int(f) == size))))
	if !ok {
		return fmt.Errorf("shape %s: tinyq reshapes each sample to [batch, features] ([-1, %d], [0, -1] or [0, %d])", shapeString(s.i), size, size)
	}
	if !im.known && f > 0 {
		im.shape, im.known = arch.Vector(int(f)), true
	}
	return nil
}

// weights checks a constant weight matrix of two dimensions and counts its precision.
func (im *importer) weights(n *onnxpb.NodeProto, k int, what string) (*tensor, error) {
	t, err := im.constant(n, k, what)
	if err != nil {
		return nil, err
	}
	if err := im.floatConst(n, k, t, what); err != nil {
		return nil, err
	}
	if len(t.dims) != 2 {
		return nil, fmt.Errorf("%s %q has shape %v, want two dimensions", what, n.GetInput()[k], t.dims)
	}
	return t, nil
}

// floatConst checks that a constant is a float usable in float32 arithmetic.
func (im *importer) floatConst(n *onnxpb.NodeProto, k int, t *tensor, what string) error {
	if t.dtype != onnxpb.TensorProto_FLOAT {
		return fmt.Errorf("%s %q is %v: tinyq imports FLOAT weights (or FLOAT16 cast to FLOAT)", what, n.GetInput()[k], t.dtype)
	}
	return nil
}

// layerInput checks that cur is [batch, features] for a dense layer of in inputs.
func (im *importer) layerInput(in int) error {
	if !im.flat && im.known {
		return fmt.Errorf("its input %q is not flat ([batch, features]): add a Flatten (nn.Flatten) before the first Linear", im.cur)
	}
	if im.known && im.shape.Size() != in {
		return fmt.Errorf("weights for %d inputs after %d values per sample", in, im.shape.Size())
	}
	return nil
}

// fromCHW reorders the rows of w ([In, Out], In = H·W·C in ONNX's (c, y, x) order after
// flattening an NCHW image) to tinyq's (y, x, c) order, when the input was such an image.
func (im *importer) fromCHW(w []float32, out int) []float32 {
	s := im.chw
	if s == (arch.Shape{}) {
		return w
	}
	r := make([]float32, len(w))
	for c := 0; c < s.C; c++ {
		for y := 0; y < s.H; y++ {
			for x := 0; x < s.W; x++ {
				from, to := (c*s.H+y)*s.W+x, (y*s.W+x)*s.C+c
				copy(r[to*out:(to+1)*out], w[from*out:(from+1)*out])
			}
		}
	}
	return r
}

// gemm imports a Gemm: y = alpha·A·op(B) + beta·C with A the chain's tensor.
func (im *importer) gemm(n *onnxpb.NodeProto) error {
	transA, err := intAttr(n, "transA", 0)
	if err != nil {
		return err
	}
	if transA != 0 {
		return fmt.Errorf("transA %d: tinyq's dense layer is x·W (transA 0)", transA)
	}
	transB, err := intAttr(n, "transB", 0)
	if err != nil {
		return err
	}
	alpha, err := floatAttr(n, "alpha", 1)
	if err != nil {
		return err
	}
	beta, err := floatAttr(n, "beta", 1)
	if err != nil {
		return err
	}
	b, err := im.weights(n, 1, "weight B")
	if err != nil {
		return err
	}
	in, out := int(b.dims[0]), int(b.dims[1])
	w := make([]float32, len(b.f)) // [In, Out]
	if transB != 0 {
		out, in = in, out
		for o := range out {
			for i := range in {
				w[i*out+o] = b.f[o*in+i]
			}
		}
	} else {
		copy(w, b.f)
	}
	if alpha != 1 { // folded: the product alpha·(A·B) rounds once more in ONNX
		for k := range w {
			w[k] *= alpha
		}
	}
	if err := im.layerInput(in); err != nil {
		return err
	}
	w = im.fromCHW(w, out)
	bias := make([]float32, out)
	half := im.half[n.GetInput()[1]]
	halves := [2]bool{half, half} // no bias: as precise as the weights
	if len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
		c, err := im.constant(n, 2, "bias C")
		if err != nil {
			return err
		}
		if err := im.floatConst(n, 2, c, "bias C"); err != nil {
			return err
		}
		if err := biasValues(bias, c, beta); err != nil {
			return fmt.Errorf("bias C %q: %w", n.GetInput()[2], err)
		}
		halves[1] = im.half[n.GetInput()[2]]
	}
	im.addLayer(in, out, w, bias, halves)
	return nil
}

// biasValues writes beta·c, broadcast to [Out], to bias: c is [Out], [1, Out], [1] or a scalar.
func biasValues(bias []float32, c *tensor, beta float32) error {
	out := len(bias)
	switch {
	case len(c.f) == out && (len(c.dims) == 1 || (len(c.dims) == 2 && c.dims[0] == 1)):
		copy(bias, c.f)
	case len(c.f) == 1 && len(c.dims) <= 2:
		for o := range bias {
			bias[o] = c.f[0]
		}
	default:
		return fmt.Errorf("shape %v, want [%d], [1, %d] or one value", c.dims, out, out)
	}
	if beta != 1 {
		for o := range bias {
			bias[o] *= beta
		}
	}
	return nil
}

// matmulNode imports a MatMul with constant weights [In, Out]; an Add may follow as its bias.
func (im *importer) matmulNode(n *onnxpb.NodeProto) error {
	b, err := im.weights(n, 1, "weight")
	if err != nil {
		return err
	}
	in, out := int(b.dims[0]), int(b.dims[1])
	if err := im.layerInput(in); err != nil {
		return err
	}
	half := im.half[n.GetInput()[1]]
	im.addLayer(in, out, im.fromCHW(append([]float32(nil), b.f...), out), make([]float32, out), [2]bool{half, half})
	im.matmul = true
	return nil
}

// add imports the bias of the MatMul just before.
func (im *importer) add(n *onnxpb.NodeProto) error {
	if !im.matmul || !im.open {
		return fmt.Errorf("an Add not right after a MatMul: tinyq imports Add as a dense layer's bias only")
	}
	in := n.GetInput()
	if len(in) != 2 {
		return fmt.Errorf("%d inputs, want 2", len(in))
	}
	k := 1
	if in[1] == im.cur {
		k = 0
	}
	c, err := im.constant(n, k, "bias")
	if err != nil {
		return err
	}
	l := &im.layers[len(im.layers)-1]
	if len(c.f) != l.Out || (len(c.dims) != 1 && !(len(c.dims) == 2 && c.dims[0] == 1)) {
		return fmt.Errorf("bias %q has shape %v, want [%d] or [1, %d]", in[k], c.dims, l.Out, l.Out)
	}
	if err := im.floatConst(n, k, c, "bias"); err != nil {
		return err
	}
	im.halves[len(im.halves)-1][1] = im.half[in[k]]
	copy(l.B, c.f)
	im.matmul = false
	return nil
}

// addLayer appends a dense layer; cur becomes its output.
func (im *importer) addLayer(in, out int, w, b []float32, halves [2]bool) {
	im.layers = append(im.layers, infer.FloatLayer{Name: modelfile.LayerName(len(im.layers)), In: in, Out: out, W: w, B: b})
	im.halves = append(im.halves, halves)
	im.shape, im.known, im.flat, im.chw = arch.Vector(out), true, true, arch.Shape{}
	im.open, im.bn, im.matmul = true, false, false
}

// intsAttr returns the integer list attribute name of n, or nil when n does not have it.
func intsAttr(n *onnxpb.NodeProto, name string) ([]int64, error) {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			if a.GetType() != onnxpb.AttributeProto_INTS {
				return nil, fmt.Errorf("attribute %s is %v, want INTS", name, a.GetType())
			}
			return a.GetInts(), nil
		}
	}
	return nil, nil
}

// window reads the attributes of a Conv or MaxPool with a k×k kernel: strides, pads and
// dilations, which tinyq takes equal in both directions (and dilations 1); auto_pad must be
// NOTSET. It returns the stride and the padding.
func window(n *onnxpb.NodeProto, k int64) (stride, pad int, err error) {
	for _, a := range n.GetAttribute() {
		if a.GetName() == "auto_pad" && string(a.GetS()) != "NOTSET" {
			return 0, 0, fmt.Errorf("auto_pad %s: tinyq takes explicit pads (PyTorch's export writes them)", a.GetS())
		}
	}
	if ks, err := intsAttr(n, "kernel_shape"); err != nil || (ks != nil && (len(ks) != 2 || ks[0] != k || ks[1] != k)) {
		return 0, 0, fmt.Errorf("kernel_shape %v: tinyq runs square 2-D windows (%dx%d from the weights)%s", ks, k, k, errText(err))
	}
	st, err := intsAttr(n, "strides")
	if err != nil {
		return 0, 0, err
	}
	if st == nil {
		st = []int64{1, 1}
	}
	if len(st) != 2 || st[0] != st[1] || st[0] < 1 || st[0] > arch.MaxDim {
		return 0, 0, fmt.Errorf("strides %v: tinyq takes one stride for both directions", st)
	}
	pads, err := intsAttr(n, "pads")
	if err != nil {
		return 0, 0, err
	}
	if pads == nil {
		pads = []int64{0, 0, 0, 0}
	}
	if len(pads) != 4 || pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3] || pads[0] < 0 || pads[0] >= k {
		return 0, 0, fmt.Errorf("pads %v: tinyq takes the same padding, less than the kernel, on all four sides", pads)
	}
	dil, err := intsAttr(n, "dilations")
	if err != nil {
		return 0, 0, err
	}
	for _, d := range dil {
		if d != 1 {
			return 0, 0, fmt.Errorf("dilations %v: tinyq runs undilated windows", dil)
		}
	}
	return int(st[0]), int(pads[0]), nil
}

func errText(err error) string {
	if err != nil {
		return ": " + err.Error()
	}
	return ""
}

// image checks that cur is an image (NCHW in ONNX) of known shape for a window layer.
func (im *importer) image() error {
	if !im.known || im.flat {
		return fmt.Errorf("its input %q is not an image of known shape ([batch, C, H, W]): tinyq runs windows over images", im.cur)
	}
	return nil
}

// conv imports a Conv: weights [Out, C, K, K] become tinyq's [K, K, C, Out] (patch order
// ky, kx, c), the optional bias [Out].
func (im *importer) conv(n *onnxpb.NodeProto) error {
	if err := im.image(); err != nil {
		return err
	}
	if g, err := intAttr(n, "group", 1); err != nil || g != 1 {
		return fmt.Errorf("group %d: tinyq runs full convolutions (group 1)%s", g, errText(err))
	}
	wt, err := im.constant(n, 1, "weight")
	if err != nil {
		return err
	}
	if err := im.floatConst(n, 1, wt, "weight"); err != nil {
		return err
	}
	d := wt.dims
	if len(d) != 4 || d[2] != d[3] {
		return fmt.Errorf("weight %q has shape %v, want [out, channels, k, k] (square 2-D kernels)", n.GetInput()[1], d)
	}
	out, c, k := int(d[0]), int(d[1]), int(d[2])
	if c != im.shape.C {
		return fmt.Errorf("weight %q has %d input channels after an image of %d", n.GetInput()[1], c, im.shape.C)
	}
	stride, pad, err := window(n, d[2])
	if err != nil {
		return err
	}
	win := arch.Window{H: im.shape.H, W: im.shape.W, C: c, Kernel: k, Stride: stride, Pad: pad}
	if err := win.Check(); err != nil {
		return err
	}
	in := win.PatchLen()
	w := make([]float32, in*out) // [K, K, C, Out]
	for o := 0; o < out; o++ {
		for ci := 0; ci < c; ci++ {
			for y := 0; y < k; y++ {
				for x := 0; x < k; x++ {
					w[((y*k+x)*c+ci)*out+o] = wt.f[((o*c+ci)*k+y)*k+x]
				}
			}
		}
	}
	half := im.half[n.GetInput()[1]]
	halves := [2]bool{half, half}
	bias := make([]float32, out)
	if len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
		bt, err := im.constant(n, 2, "bias")
		if err != nil {
			return err
		}
		if err := im.floatConst(n, 2, bt, "bias"); err != nil {
			return err
		}
		if len(bt.f) != out || len(bt.dims) != 1 {
			return fmt.Errorf("bias %q has shape %v, want [%d]", n.GetInput()[2], bt.dims, out)
		}
		copy(bias, bt.f)
		halves[1] = im.half[n.GetInput()[2]]
	}
	im.addLayer(in, out, w, bias, halves)
	l := im.last()
	l.Conv = win
	im.shape, im.flat = arch.Shape{H: win.OutH(), W: win.OutW(), C: out}, false
	return nil
}

// batchNorm folds an inference-mode BatchNormalization into the layer just before it
// (infer.FoldBatchNorm: PyTorch's fuse_conv_bn_weights rule in float64, rounded once).
func (im *importer) batchNorm(n *onnxpb.NodeProto) error {
	l := im.last()
	if !im.open || im.bn || l.ReLU || l.Pool != (arch.Window{}) || im.matmul {
		return fmt.Errorf("a BatchNormalization not right after a Conv, Gemm or MatMul and its Add: tinyq folds it into that layer")
	}
	if len(n.GetOutput()) > 1 {
		for _, o := range n.GetOutput()[1:] {
			if o != "" {
				return fmt.Errorf("its running statistics output %q is used: only inference-mode BatchNormalization is imported", o)
			}
		}
	}
	if tm, err := intAttr(n, "training_mode", 0); err != nil || tm != 0 {
		return fmt.Errorf("training_mode %d: only inference-mode BatchNormalization is imported%s", tm, errText(err))
	}
	eps, err := floatAttr(n, "epsilon", 1e-5)
	if err != nil {
		return err
	}
	var vals [4][]float32
	for k, what := range []string{"scale", "B", "input_mean", "input_var"} {
		t, err := im.constant(n, k+1, what)
		if err != nil {
			return err
		}
		if err := im.floatConst(n, k+1, t, what); err != nil {
			return err
		}
		if len(t.f) != l.Out || len(t.dims) != 1 {
			return fmt.Errorf("%s %q has shape %v, want [%d]", what, n.GetInput()[k+1], t.dims, l.Out)
		}
		vals[k] = t.f
	}
	w, b, err := infer.FoldBatchNorm(l.W, l.B, l.In, l.Out, infer.BatchNorm{Gamma: vals[0], Beta: vals[1], Mean: vals[2], Var: vals[3], Eps: eps})
	if err != nil {
		return err
	}
	l.W, l.B = w, b
	im.bn = true
	return nil
}

// maxPool imports a MaxPool after a convolution (and its ReLU) as the layer's pooling.
func (im *importer) maxPool(n *onnxpb.NodeProto) error {
	if err := im.image(); err != nil {
		return err
	}
	l := im.last()
	if !im.open || l.Conv == (arch.Window{}) || l.Pool != (arch.Window{}) {
		return fmt.Errorf("a MaxPool not right after a Conv (and its BatchNormalization and Relu): tinyq pools a convolution's output, once")
	}
	if len(n.GetOutput()) > 1 && n.GetOutput()[1] != "" {
		return fmt.Errorf("its Indices output %q is used: tinyq's pooling yields the maxima only", n.GetOutput()[1])
	}
	for _, a := range []string{"ceil_mode", "storage_order"} {
		if v, err := intAttr(n, a, 0); err != nil || v != 0 {
			return fmt.Errorf("%s %d: tinyq pools with floor (ceil_mode 0, storage_order 0)%s", a, v, errText(err))
		}
	}
	ks, err := intsAttr(n, "kernel_shape")
	if err != nil {
		return err
	}
	if len(ks) != 2 || ks[0] != ks[1] || ks[0] < 1 || ks[0] > arch.MaxDim {
		return fmt.Errorf("kernel_shape %v: tinyq pools square 2-D windows", ks)
	}
	stride, pad, err := window(n, ks[0])
	if err != nil {
		return err
	}
	if pad != 0 {
		return fmt.Errorf("pads %d: tinyq pools without padding", pad)
	}
	win := arch.Window{H: im.shape.H, W: im.shape.W, C: im.shape.C, Kernel: int(ks[0]), Stride: stride}
	if err := win.Check(); err != nil {
		return err
	}
	l.Pool = win
	im.shape = arch.Shape{H: win.OutH(), W: win.OutW(), C: im.shape.C}
	return nil
}

// batchDim stands for the batch size in the shape values Shape and its folding produce
// (PyTorch's x.view(x.size(0), -1) computes [batch, -1] with Shape, Gather, Unsqueeze and
// Concat): only a Reshape's first dimension may hold it.
const batchDim = math.MinInt64 + 1

// shapeString formats shape values, the batch size computed by Shape as "batch".
func shapeString(v []int64) string {
	s := make([]string, len(v))
	for k, d := range v {
		s[k] = strconv.FormatInt(d, 10)
		if d == batchDim {
			s[k] = "batch"
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

// shapeOf folds a Shape of the chain's tensor into a constant: [batch, C, H, W] for an
// image (ONNX's NCHW), [batch, n] for a vector.
func (im *importer) shapeOf(n *onnxpb.NodeProto) error {
	if !im.known {
		return fmt.Errorf("the shape of %q is not known here: tinyq folds Shape of tensors of known shape only", im.cur)
	}
	v := []int64{batchDim, int64(im.shape.C)}
	if !im.flat {
		v = append(v, int64(im.shape.H), int64(im.shape.W))
	}
	start, err := intAttr(n, "start", 0)
	if err != nil {
		return err
	}
	end, err := intAttr(n, "end", int64(len(v)))
	if err != nil {
		return err
	}
	clamp := func(k int64) int64 {
		if k < 0 {
			k += int64(len(v))
		}
		return max(0, min(int64(len(v)), k))
	}
	start, end = clamp(start), clamp(end)
	v = v[start:max(start, end)]
	im.consts[n.GetOutput()[0]] = &tensor{dtype: onnxpb.TensorProto_INT64, dims: []int64{int64(len(v))}, i: v}
	return nil
}

// allConst reports whether every named input is a constant.
func (im *importer) allConst(in []string) bool {
	for _, name := range in {
		if _, ok := im.consts[name]; name != "" && !ok {
			return false
		}
	}
	return len(in) > 0
}

// foldShape folds Gather, Unsqueeze, Squeeze and Concat of small INT64 constants (shape
// arithmetic) into a constant.
func (im *importer) foldShape(n *onnxpb.NodeProto) error {
	in := n.GetInput()
	var ts []*tensor
	for _, name := range in {
		if name == "" {
			continue
		}
		t := im.consts[name]
		if t.dtype != onnxpb.TensorProto_INT64 || len(t.dims) > 1 || t.len() > 64 {
			return fmt.Errorf("input %q (%v, shape %v): tinyq folds shape arithmetic on INT64 scalars and vectors only", name, t.dtype, t.dims)
		}
		ts = append(ts, t)
	}
	var out *tensor
	switch n.GetOpType() {
	case "Gather":
		if axis, err := intAttr(n, "axis", 0); err != nil || axis != 0 || len(ts) != 2 {
			return fmt.Errorf("a Gather of shape values along axis %d: tinyq folds axis 0 of a vector%s", axis, errText(err))
		}
		data, idx := ts[0], ts[1]
		out = &tensor{dtype: onnxpb.TensorProto_INT64, dims: idx.dims}
		for _, k := range idx.i {
			if k < 0 {
				k += int64(len(data.i))
			}
			if k < 0 || k >= int64(len(data.i)) {
				return fmt.Errorf("index %d outside the %d values gathered from", k, len(data.i))
			}
			out.i = append(out.i, data.i[k])
		}
	case "Unsqueeze", "Squeeze":
		// The values stay; a scalar becomes [1] (Unsqueeze) and [1] a scalar (Squeeze).
		out = &tensor{dtype: onnxpb.TensorProto_INT64, dims: []int64{int64(len(ts[0].i))}, i: ts[0].i}
		if n.GetOpType() == "Squeeze" && len(ts[0].i) == 1 {
			out.dims = nil
		}
	case "Concat":
		out = &tensor{dtype: onnxpb.TensorProto_INT64}
		for _, t := range ts {
			out.i = append(out.i, t.i...)
		}
		out.dims = []int64{int64(len(out.i))}
	}
	im.consts[n.GetOutput()[0]] = out
	return nil
}
