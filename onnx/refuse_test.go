package onnx

import (
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"tinyq/infer"
	"tinyq/onnx/onnxpb"
)

// smallGraph builds a float model image [batch, 1, 4, 4] -> Flatten -> Gemm 16x3 (transB 1)
// -> Relu -> Gemm 3x2 -> logits, opset 13, then lets edit change it.
func smallGraph(edit func(b *builder, m *onnxpb.ModelProto)) *onnxpb.ModelProto {
	rng := rand.New(rand.NewSource(1))
	vals := func(n int) []float32 {
		v := make([]float32, n)
		for k := range v {
			v[k] = float32(rng.NormFloat64())
		}
		return v
	}
	b := &builder{g: &onnxpb.GraphProto{Name: proto.String("small")}}
	b.g.Input = []*onnxpb.ValueInfoProto{valueInfo("image", 4, 4)}
	b.g.Output = []*onnxpb.ValueInfoProto{valueInfo("logits", 2)}
	x := b.node("flatten", "Flatten", []string{"image"}, intAttr1("axis", 1))
	w1, b1 := b.init(floatTensor("w1", []int{3, 16}, vals(48))), b.init(floatTensor("b1", []int{3}, vals(3)))
	h := b.node("gemm1", "Gemm", []string{x, w1, b1}, intAttr1("transB", 1))
	r := b.node("relu1", "Relu", []string{h})
	w2, b2 := b.init(floatTensor("w2", []int{3, 2}, vals(6))), b.init(floatTensor("b2", []int{2}, vals(2)))
	b.nodeN("gemm2", "Gemm", []string{r, w2, b2}, []string{"logits"})
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(7), Graph: b.g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}}}
	if edit != nil {
		edit(b, m)
	}
	return m
}

// nodeNamed returns the node of m named name.
func nodeNamed(m *onnxpb.ModelProto, name string) *onnxpb.NodeProto {
	for _, n := range m.GetGraph().GetNode() {
		if n.GetName() == name {
			return n
		}
	}
	panic("no node " + name)
}

// moveLast moves the graph's last node right after the node named after (ONNX graphs are
// sorted topologically).
func moveLast(m *onnxpb.ModelProto, after string) {
	g := m.Graph
	last := g.Node[len(g.Node)-1]
	rest := g.Node[:len(g.Node)-1]
	for k, n := range rest {
		if n.GetName() == after {
			g.Node = append(append(append([]*onnxpb.NodeProto{}, rest[:k+1]...), last), rest[k+1:]...)
			return
		}
	}
	panic("no node " + after)
}

// TestImportSmall: the hand-built graph imports as 16 -> 3 -> 2 with a ReLU, 4x4 pixels.
func TestImportSmall(t *testing.T) {
	m, err := Import(smallGraph(nil))
	if err != nil {
		t.Fatal(err)
	}
	if in, out := m.Shape(); in != 16 || out != 2 || !m.Layers[0].ReLU || m.Layers[1].ReLU || m.Input() != (infer.Input{Width: 4, Height: 4, PixelDivisor: 255}) {
		t.Fatalf("%d -> %d, layers %+v, input %+v", in, out, m.Layers, m.Input())
	}
	// transB 1: W[i, o] of tinyq is B[o, i] of ONNX.
	p := smallGraph(nil)
	b, _ := decodeTensor(p.GetGraph().GetInitializer()[0])
	if m.Layers[0].W[5*3+2] != b.f[2*16+5] {
		t.Errorf("weight [5, 2] is %v, ONNX's B[2, 5] %v", m.Layers[0].W[5*3+2], b.f[2*16+5])
	}
}

// TestImportRefused: every graph tinyq cannot run exactly is refused in one line that names
// the node, its operator and why (or the graph-level problem).
func TestImportRefused(t *testing.T) {
	set := func(name, op string) func(*builder, *onnxpb.ModelProto) {
		return func(_ *builder, m *onnxpb.ModelProto) { nodeNamed(m, name).OpType = proto.String(op) }
	}
	for _, c := range []struct {
		name string
		edit func(b *builder, m *onnxpb.ModelProto)
		want []string
	}{
		{"opset 12", func(_ *builder, m *onnxpb.ModelProto) { m.OpsetImport[0].Version = proto.Int64(12) }, []string{"opset 12", "13 to 17"}},
		{"opset 18", func(_ *builder, m *onnxpb.ModelProto) { m.OpsetImport[0].Version = proto.Int64(18) }, []string{"opset 18"}},
		{"sigmoid", set("relu1", "Sigmoid"), []string{`node "relu1" (Sigmoid)`, "not supported", "Gemm"}},
		{"quantized", set("relu1", "QuantizeLinear"), []string{`node "relu1" (QuantizeLinear)`, "quantized model"}},
		{"custom domain", func(_ *builder, m *onnxpb.ModelProto) { nodeNamed(m, "relu1").Domain = proto.String("com.microsoft") }, []string{`node "relu1" (Relu)`, "com.microsoft"}},
		{"transA", func(_ *builder, m *onnxpb.ModelProto) {
			n := nodeNamed(m, "gemm1")
			n.Attribute = append(n.Attribute, intAttr1("transA", 1))
		}, []string{`node "gemm1" (Gemm)`, "transA 1"}},
		{"relu first", func(b *builder, m *onnxpb.ModelProto) {
			n := nodeNamed(m, "flatten")
			n.OpType, n.Attribute = proto.String("Relu"), nil
		}, []string{`node "flatten" (Relu)`, "not right after a layer"}},
		{"no flatten", func(_ *builder, m *onnxpb.ModelProto) {
			nodeNamed(m, "flatten").OpType = proto.String("Identity")
		}, []string{`node "gemm1" (Gemm)`, "not flat", "Flatten"}},
		{"branch", func(b *builder, m *onnxpb.ModelProto) {
			nodeNamed(m, "gemm2").Input[0] = "gemm1"
		}, []string{`node "gemm2" (Gemm)`, `input "gemm1" is not the previous layer's output "relu1"`}},
		{"computed weights", func(b *builder, m *onnxpb.ModelProto) {
			nodeNamed(m, "gemm1").Input[1] = "image"
		}, []string{`node "gemm1" (Gemm)`, `weight B "image" is computed`}},
		{"softmax inside", func(b *builder, m *onnxpb.ModelProto) {
			nodeNamed(m, "relu1").OpType = proto.String("Softmax")
		}, []string{`node "gemm2" (Gemm)`, `after the final "relu1"`}},
		{"softmax over the batch", func(b *builder, m *onnxpb.ModelProto) {
			nodeNamed(m, "gemm2").Output[0] = "z"
			b.nodeN("softmax", "Softmax", []string{"z"}, []string{"logits"}, intAttr1("axis", 0))
		}, []string{`node "softmax" (Softmax)`, "axis 1 or -1"}},
		{"output not last", func(b *builder, m *onnxpb.ModelProto) {
			m.Graph.Output[0].Name = proto.String("relu1")
		}, []string{`graph output "relu1" is not the last layer's output "logits"`}},
		{"two outputs", func(b *builder, m *onnxpb.ModelProto) {
			m.Graph.Output = append(m.Graph.Output, valueInfo("x", 2))
		}, []string{"1 inputs and 2 outputs"}},
		{"int input", func(b *builder, m *onnxpb.ModelProto) {
			m.Graph.Input[0].GetType().GetTensorType().ElemType = proto.Int32(int32(onnxpb.TensorProto_UINT8))
		}, []string{`input "image"`, "UINT8", "want FLOAT"}},
		{"huge input", func(b *builder, m *onnxpb.ModelProto) {
			m.Graph.Input[0].GetType().GetTensorType().GetShape().GetDim()[2].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1 << 40}
		}, []string{`input "image"`, "dimension 1099511627776"}},
		{"sizes", func(b *builder, m *onnxpb.ModelProto) {
			m.Graph.Initializer[0] = floatTensor("w1", []int{3, 15}, make([]float32, 45))
		}, []string{`node "gemm1" (Gemm)`, "weights for 15 inputs after 16 values"}},
		{"short data", func(b *builder, m *onnxpb.ModelProto) {
			m.Graph.Initializer[0].RawData = m.Graph.Initializer[0].RawData[:8]
		}, []string{`tensor "w1"`, "8 bytes of raw data"}},
		{"external data", func(b *builder, m *onnxpb.ModelProto) {
			m.Graph.Initializer[0].DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		}, []string{`tensor "w1"`, "external data"}},
		{"double", func(b *builder, m *onnxpb.ModelProto) {
			m.Graph.Initializer[0].DataType = proto.Int32(int32(onnxpb.TensorProto_DOUBLE))
		}, []string{`tensor "w1"`, "DOUBLE"}},
		{"nan", func(b *builder, m *onnxpb.ModelProto) {
			m.Graph.Initializer[1] = floatTensor("b1", []int{3}, []float32{0, float32(nan()), 0})
		}, []string{`tensor "b1"`, "element 1 is NaN"}},
		{"huge shape", func(b *builder, m *onnxpb.ModelProto) {
			m.Graph.Initializer[0].Dims = []int64{1 << 40, 1 << 40}
		}, []string{`tensor "w1"`, "at most"}},
		{"reshape batch 1", func(b *builder, m *onnxpb.ModelProto) {
			n := nodeNamed(m, "flatten")
			n.OpType, n.Attribute = proto.String("Reshape"), nil
			n.Input = append(n.Input, b.init(int64Tensor("shape", []int{2}, []int64{1, 16})))
		}, []string{`node "flatten" (Reshape)`, "shape [1 16]", "[-1, 16]"}},
		{"shape arithmetic", func(b *builder, m *onnxpb.ModelProto) {
			// Reshape to the input's own shape [batch, 1, 4, 4]: not flat.
			n := nodeNamed(m, "flatten")
			b.node("shape", "Shape", []string{"image"})
			g := m.Graph
			g.Node = append([]*onnxpb.NodeProto{g.Node[len(g.Node)-1]}, g.Node[:len(g.Node)-1]...)
			n.OpType, n.Attribute, n.Input = proto.String("Reshape"), nil, []string{"image", "shape"}
		}, []string{`node "flatten" (Reshape)`, "shape [batch 1 4 4]", "[batch, features]"}},
		{"flatten axis", func(b *builder, m *onnxpb.ModelProto) {
			nodeNamed(m, "flatten").Attribute[0].I = proto.Int64(2)
		}, []string{`node "flatten" (Flatten)`, "axis 2"}},
		{"add without matmul", func(b *builder, m *onnxpb.ModelProto) {
			n := nodeNamed(m, "relu1")
			n.OpType, n.Input = proto.String("Add"), []string{"gemm1", "b1"}
		}, []string{`node "relu1" (Add)`, "not right after a MatMul"}},
		{"dropout mask", func(b *builder, m *onnxpb.ModelProto) {
			b.nodeN("drop", "Dropout", []string{"flatten"}, []string{"dropped", "mask"})
			moveLast(m, "flatten")
			nodeNamed(m, "gemm1").Input[0] = "dropped"
		}, []string{`node "drop" (Dropout)`, `mask output "mask" is used`}},
	} {
		_, err := Import(smallGraph(c.edit))
		if err == nil {
			t.Errorf("%s: imported", c.name)
			continue
		}
		msg := err.Error()
		ok := strings.HasPrefix(msg, "onnx: ") && !strings.Contains(msg, "\n")
		for _, w := range c.want {
			ok = ok && strings.Contains(msg, w)
		}
		if !ok {
			t.Errorf("%s: %q, want one line with %q", c.name, msg, c.want)
		}
	}
}

func nan() float64 { return math.NaN() }

// TestImportAccepted: variations PyTorch and other exporters write import to the same model
// (the same logits bit for bit): Dropout (inference) and Identity pass through, Reshape
// [-1, 16], [0, -1] or the shape x.view(x.size(0), -1) computes flattens, a Transpose of
// the weights folds, and a last Softmax or LogSoftmax is left out.
func TestImportAccepted(t *testing.T) {
	ref, err := Import(smallGraph(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(b *builder, m *onnxpb.ModelProto)
	}{
		{"reshape -1", func(b *builder, m *onnxpb.ModelProto) {
			n := nodeNamed(m, "flatten")
			n.OpType, n.Attribute = proto.String("Reshape"), nil
			n.Input = append(n.Input, b.init(int64Tensor("shape", []int{2}, []int64{-1, 16})))
		}},
		{"reshape 0", func(b *builder, m *onnxpb.ModelProto) {
			n := nodeNamed(m, "flatten")
			n.OpType, n.Attribute = proto.String("Reshape"), nil
			n.Input = append(n.Input, b.init(int64Tensor("shape", []int{2}, []int64{0, -1})))
		}},
		{"transposed weights", func(b *builder, m *onnxpb.ModelProto) {
			// B^T by a Transpose node instead of transB 1.
			b.nodeN("t", "Transpose", []string{"w1"}, []string{"t"}, intsAttr1("perm", 1, 0))
			moveLast(m, "flatten")
			g := nodeNamed(m, "gemm1")
			g.Attribute, g.Input[1] = nil, "t"
		}},
		{"view(x.size(0), -1)", func(b *builder, m *onnxpb.ModelProto) {
			// PyTorch's x.view(x.size(0), -1): Shape, Gather 0, Unsqueeze, Concat with [-1].
			g := m.Graph
			first, rest := g.Node[0], g.Node[1:]
			g.Node = nil
			b.node("shape", "Shape", []string{"image"})
			b.nodeN("c0", "Constant", nil, []string{"c0"}, &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: int64Tensor("c0", nil, []int64{0})})
			b.node("gather", "Gather", []string{"shape", "c0"}, intAttr1("axis", 0))
			ax := b.init(int64Tensor("axes", []int{1}, []int64{0}))
			b.node("unsqueeze", "Unsqueeze", []string{"gather", ax})
			b.node("concat", "Concat", []string{"unsqueeze", b.init(int64Tensor("minus1", []int{1}, []int64{-1}))}, intAttr1("axis", 0))
			first.OpType, first.Attribute, first.Input = proto.String("Reshape"), nil, []string{"image", "concat"}
			g.Node = append(append(g.Node, first), rest...)
		}},
		{"log_softmax", func(b *builder, m *onnxpb.ModelProto) {
			nodeNamed(m, "gemm2").Output[0] = "z"
			b.nodeN("log_softmax", "LogSoftmax", []string{"z"}, []string{"logits"}, intAttr1("axis", 1))
		}},
		{"softmax", func(b *builder, m *onnxpb.ModelProto) {
			nodeNamed(m, "gemm2").Output[0] = "z"
			b.nodeN("softmax", "Softmax", []string{"z"}, []string{"logits"})
		}},
		{"identity", func(b *builder, m *onnxpb.ModelProto) {
			nodeNamed(m, "relu1").Output[0] = "r"
			b.nodeN("id", "Identity", []string{"r"}, []string{"relu1"})
			moveLast(m, "relu1")
		}},
		{"dropout", func(b *builder, m *onnxpb.ModelProto) {
			nodeNamed(m, "relu1").Output[0] = "r"
			b.nodeN("drop", "Dropout", []string{"r"}, []string{"relu1"})
			moveLast(m, "relu1")
		}},
	} {
		m, err := Import(smallGraph(c.edit))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		x := testInputs(t, ref, 3)
		sameLogits(t, ref, m, x, 3)
	}
}

// TestReadRefused: a file that is not ONNX, a directory and a missing file are one line
// naming the path.
func TestReadRefused(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.onnx")
	if err := os.WriteFile(junk, []byte("\xff\xff\xff\xff not protobuf"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.onnx")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{junk, "not an ONNX model"},
		{empty, "no graph"},
		{dir, "is a directory"},
		{filepath.Join(dir, "missing.onnx"), "missing.onnx"},
	} {
		_, err := Load(c.path)
		if err == nil || !strings.HasPrefix(err.Error(), "onnx: ") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", c.path, err, c.want)
		}
	}
}

// FuzzImport: any bytes either import or are refused with an error; never a panic. The
// seeds are the small graph and PyTorch fixtures (an MLP with MatMul and Add, the CNN with
// BatchNorm).
func FuzzImport(f *testing.F) {
	small, err := proto.Marshal(smallGraph(nil))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
	for _, name := range []string{"mlp_matmul", "cnn_bn"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name+".onnx")); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		if fm, err := Import(m); err == nil {
			if in, out := fm.Shape(); in <= 0 || out <= 0 {
				t.Fatalf("imported %d -> %d", in, out)
			}
		}
	})
}
