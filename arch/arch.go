package arch

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Kind is the kind of a layer.
type Kind int

const (
	// Dense is a fully connected layer: y = x·W + b, x flattened (H, W, C in that order).
	Dense Kind = iota + 1
	// Conv2D is a 2-D convolution over an NHWC image with square kernels, one stride and
	// equal zero padding on every side.
	Conv2D
	// BatchNorm normalizes each channel of the preceding Conv2D or Dense layer: batch
	// statistics in training, running statistics in evaluation, folded into that layer for
	// QAT, PTQ and the runtime.
	BatchNorm
	// MaxPool takes the maximum over square windows of each channel (no padding).
	MaxPool
	// Flatten turns an H×W×C image into a vector of H·W·C features in that order. In NHWC
	// memory it moves nothing; Dense flattens its input anyway, so the layer only documents
	// the step (ONNX and PyTorch models have it).
	Flatten
)

var kindNames = map[Kind]string{Dense: "dense", Conv2D: "conv2d", BatchNorm: "batchnorm", MaxPool: "maxpool", Flatten: "flatten"}

// String returns the kind's name as files record it: "dense", "conv2d", "batchnorm",
// "maxpool" or "flatten".
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Weighted reports whether layers of this kind hold a weight matrix (Dense, Conv2D): the
// layers a quantization spec describes.
func (k Kind) Weighted() bool { return k == Dense || k == Conv2D }

// MarshalText encodes the kind by its name.
func (k Kind) MarshalText() ([]byte, error) {
	if _, ok := kindNames[k]; !ok {
		return nil, fmt.Errorf("arch: unknown layer kind %d", int(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for kk, s := range kindNames {
		if s == string(b) {
			*k = kk
			return nil
		}
	}
	return fmt.Errorf("arch: unknown layer kind %q (want dense, conv2d, batchnorm, maxpool or flatten)", b)
}

// Shape is the shape of one sample between layers: an H×W image of C channels, stored
// NHWC (row-major H, W, C). A feature vector of n values is {H: 1, W: 1, C: n}.
type Shape struct {
	H int `json:"h"`
	W int `json:"w"`
	C int `json:"c"`
}

// Size returns H·W·C, the number of values of one sample.
func (s Shape) Size() int { return s.H * s.W * s.C }

// Flat reports whether the shape is a feature vector (H = W = 1).
func (s Shape) Flat() bool { return s.H == 1 && s.W == 1 }

// String returns "HxWxC", or "N" for a feature vector.
func (s Shape) String() string {
	if s.Flat() {
		return fmt.Sprint(s.C)
	}
	return fmt.Sprintf("%dx%dx%d", s.H, s.W, s.C)
}

// Vector returns the shape of a feature vector of n values.
func Vector(n int) Shape { return Shape{H: 1, W: 1, C: n} }

// Layer is one layer of a sequential network. Only the fields of its kind are set; the
// others are zero (Validate checks).
type Layer struct {
	Kind Kind `json:"kind"`
	// Out is the number of output features (Dense) or channels (Conv2D).
	Out int `json:"out,omitempty"`
	// Kernel is the side of the square window (Conv2D, MaxPool).
	Kernel int `json:"kernel,omitempty"`
	// Stride is the window's step (Conv2D, MaxPool); 0 means the default: 1 for Conv2D,
	// Kernel for MaxPool.
	Stride int `json:"stride,omitempty"`
	// Pad is the zero padding on each of the four sides (Conv2D).
	Pad int `json:"pad,omitempty"`
	// ReLU applies max(x, 0) after the layer (Dense, Conv2D, BatchNorm).
	ReLU bool `json:"relu,omitempty"`
}

// stride returns the layer's effective stride.
func (l Layer) stride() int {
	if l.Stride != 0 {
		return l.Stride
	}
	if l.Kind == MaxPool {
		return l.Kernel
	}
	return 1
}

// Arch is a sequential network: its input shape and its layers in order. The last layer
// yields the logits.
type Arch struct {
	Input  Shape   `json:"input"`
	Layers []Layer `json:"layers"`
}

// Limits that keep a described network from exhausting memory before anything is
// allocated: no dimension beyond MaxDim, no layer with more than MaxParams weights or
// more than MaxValues outputs per sample.
const (
	MaxDim    = 1 << 20
	MaxParams = 1 << 28
	MaxValues = 1 << 26
	MaxLayers = 1 << 10
)

// MLP returns the architecture of a multilayer perceptron with the given sizes (input,
// then each layer's output): Dense layers with ReLU after every one but the last. in is
// the input's shape (its Size must equal sizes[0]); the zero Shape means Vector(sizes[0]).
func MLP(sizes []int, in Shape) Arch {
	if in == (Shape{}) && len(sizes) > 0 {
		in = Vector(sizes[0])
	}
	a := Arch{Input: in}
	for i := 1; i < len(sizes); i++ {
		a.Layers = append(a.Layers, Layer{Kind: Dense, Out: sizes[i], ReLU: i < len(sizes)-1})
	}
	return a
}

// CNN returns issue 20's convolutional network on a 28×28 grey image: Conv2D(16, 5×5,
// pad 2), ReLU, MaxPool 2×2, Conv2D(32, 5×5, pad 2), ReLU, MaxPool 2×2, Flatten (1568),
// Dense 128, ReLU, Dense classes; with batchNorm, a BatchNorm after each convolution
// (before its ReLU).
func CNN(batchNorm bool, classes int) Arch {
	conv := func(out int) []Layer {
		if batchNorm {
			return []Layer{{Kind: Conv2D, Out: out, Kernel: 5, Pad: 2}, {Kind: BatchNorm, ReLU: true}}
		}
		return []Layer{{Kind: Conv2D, Out: out, Kernel: 5, Pad: 2, ReLU: true}}
	}
	var ls []Layer
	ls = append(ls, conv(16)...)
	ls = append(ls, Layer{Kind: MaxPool, Kernel: 2})
	ls = append(ls, conv(32)...)
	ls = append(ls, Layer{Kind: MaxPool, Kernel: 2}, Layer{Kind: Flatten},
		Layer{Kind: Dense, Out: 128, ReLU: true}, Layer{Kind: Dense, Out: classes})
	return Arch{Input: Shape{H: 28, W: 28, C: 1}, Layers: ls}
}

// Validate checks the architecture: every layer's fields, that every window fits its
// input, that a BatchNorm follows a Conv2D or Dense layer without ReLU, that the first
// layer and the last are weighted, that at most one MaxPool follows a weighted layer, and
// the size limits. Its error names the layer ("arch: layer 3 (maxpool): ...").
func (a Arch) Validate() error {
	_, err := a.Shapes()
	return err
}

// Shapes validates the architecture and returns the output shape of every layer.
func (a Arch) Shapes() ([]Shape, error) {
	in := a.Input
	if in.H < 1 || in.W < 1 || in.C < 1 || in.H > MaxDim || in.W > MaxDim || in.C > MaxDim || in.Size() > MaxValues {
		return nil, fmt.Errorf("arch: input shape %dx%dx%d: want each of H, W, C in [1, %d] and at most %d values", in.H, in.W, in.C, MaxDim, MaxValues)
	}
	if len(a.Layers) == 0 {
		return nil, fmt.Errorf("arch: no layers")
	}
	if len(a.Layers) > MaxLayers {
		return nil, fmt.Errorf("arch: %d layers: at most %d", len(a.Layers), MaxLayers)
	}
	out := make([]Shape, len(a.Layers))
	for i, l := range a.Layers {
		s, err := a.layerShape(i, in)
		if err != nil {
			return nil, fmt.Errorf("arch: layer %d (%s): %w", i, l.Kind, err)
		}
		out[i] = s
		in = s
	}
	return out, nil
}

// layerShape checks layer i given its input shape in and returns its output shape.
func (a Arch) layerShape(i int, in Shape) (Shape, error) {
	l := a.Layers[i]
	var prev *Layer
	if i > 0 {
		prev = &a.Layers[i-1]
	}
	inRange := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("%s %d: want [%d, %d]", name, v, lo, hi)
		}
		return nil
	}
	unused := func(names ...string) error {
		vals := map[string]int{"out": l.Out, "kernel": l.Kernel, "stride": l.Stride, "pad": l.Pad}
		for _, n := range names {
			if n == "relu" {
				if l.ReLU {
					return fmt.Errorf("relu does not apply to %s (put it after the layer before)", l.Kind)
				}
				continue
			}
			if vals[n] != 0 {
				return fmt.Errorf("%s does not apply to %s", n, l.Kind)
			}
		}
		return nil
	}
	if i == 0 && !l.Kind.Weighted() {
		return Shape{}, fmt.Errorf("the first layer must be dense or conv2d")
	}
	if i == len(a.Layers)-1 && l.Kind != Dense {
		return Shape{}, fmt.Errorf("the last layer must be dense (it yields the logits)")
	}
	switch l.Kind {
	case Dense:
		if err := inRange("out", l.Out, 1, MaxDim); err != nil {
			return Shape{}, err
		}
		if err := unused("kernel", "stride", "pad"); err != nil {
			return Shape{}, err
		}
		if int64(in.Size())*int64(l.Out) > MaxParams {
			return Shape{}, fmt.Errorf("%d×%d weights: at most %d", in.Size(), l.Out, MaxParams)
		}
		return Vector(l.Out), nil
	case Conv2D:
		if err := inRange("out", l.Out, 1, MaxDim); err != nil {
			return Shape{}, err
		}
		w, err := l.window(in)
		if err != nil {
			return Shape{}, err
		}
		if int64(w.PatchLen())*int64(l.Out) > MaxParams {
			return Shape{}, fmt.Errorf("%d×%d weights: at most %d", w.PatchLen(), l.Out, MaxParams)
		}
		o := Shape{H: w.OutH(), W: w.OutW(), C: l.Out}
		if int64(o.H)*int64(o.W)*int64(o.C) > MaxValues {
			return Shape{}, fmt.Errorf("output %v: at most %d values", o, MaxValues)
		}
		return o, nil
	case BatchNorm:
		if err := unused("out", "kernel", "stride", "pad"); err != nil {
			return Shape{}, err
		}
		if prev == nil || !prev.Kind.Weighted() || prev.ReLU {
			return Shape{}, fmt.Errorf("batchnorm must follow a conv2d or dense layer without relu")
		}
		return in, nil
	case MaxPool:
		if err := unused("out", "pad", "relu"); err != nil {
			return Shape{}, err
		}
		if prev != nil && (prev.Kind == MaxPool || prev.Kind == Flatten) {
			return Shape{}, fmt.Errorf("maxpool must follow a conv2d, dense or batchnorm layer (one pooling per layer)")
		}
		w, err := l.window(in)
		if err != nil {
			return Shape{}, err
		}
		return Shape{H: w.OutH(), W: w.OutW(), C: in.C}, nil
	case Flatten:
		if err := unused("out", "kernel", "stride", "pad", "relu"); err != nil {
			return Shape{}, err
		}
		return Vector(in.Size()), nil
	}
	return Shape{}, fmt.Errorf("unknown layer kind %d", int(l.Kind))
}

// window returns the sliding window of a Conv2D or MaxPool layer over input in.
func (l Layer) window(in Shape) (Window, error) {
	if l.Kernel < 1 || l.Kernel > MaxDim {
		return Window{}, fmt.Errorf("kernel %d: want [1, %d]", l.Kernel, MaxDim)
	}
	if l.Stride < 0 || l.Stride > MaxDim {
		return Window{}, fmt.Errorf("stride %d: want [1, %d] (0: default)", l.Stride, MaxDim)
	}
	if l.Pad < 0 || l.Pad >= l.Kernel {
		return Window{}, fmt.Errorf("pad %d: want [0, kernel-1 = %d]", l.Pad, l.Kernel-1)
	}
	w := Window{H: in.H, W: in.W, C: in.C, Kernel: l.Kernel, Stride: l.stride(), Pad: l.Pad}
	if err := w.Check(); err != nil {
		return Window{}, err
	}
	return w, nil
}

// Units groups the layers as the runtime computes them: each Dense or Conv2D layer with
// the BatchNorm folded into it, its ReLU and the MaxPool after it. Flatten layers vanish
// (NHWC memory is already flat). The i-th unit is the i-th weighted layer, the index a
// quantization spec uses.
func (a Arch) Units() ([]Unit, error) {
	shapes, err := a.Shapes()
	if err != nil {
		return nil, err
	}
	var us []Unit
	in := a.Input
	for i, l := range a.Layers {
		switch l.Kind {
		case Dense, Conv2D:
			u := Unit{Kind: l.Kind, In: in, Out: shapes[i], Layer: i, BatchNorm: -1, ReLU: l.ReLU}
			if l.Kind == Conv2D {
				u.Conv, _ = l.window(in)
			}
			us = append(us, u)
		case BatchNorm:
			u := &us[len(us)-1]
			u.BatchNorm, u.ReLU, u.Out = i, l.ReLU, shapes[i]
		case MaxPool:
			u := &us[len(us)-1]
			w, _ := l.window(u.Out)
			u.Pool, u.Out = w, shapes[i]
		}
		in = shapes[i]
	}
	return us, nil
}

// Unit is one weighted layer as the runtime computes it: y = pool(act(x·W + b)), with any
// BatchNorm folded into W and b.
type Unit struct {
	Kind Kind  // Dense or Conv2D
	In   Shape // the input's shape (a Dense unit flattens it: In.Size() features)
	// Out is the output's shape after the activation and the pooling.
	Out Shape
	// Conv is the convolution's window (Conv2D only); its patches have Conv.PatchLen()
	// values and the weights are [Conv.PatchLen(), Out.C] in training layout.
	Conv Window
	// Pool is the max pooling after the activation; its zero value (Kernel 0) means none.
	Pool Window
	// ReLU is set when max(x, 0) follows the layer (or its BatchNorm).
	ReLU bool
	// Layer is the index of the Dense or Conv2D layer in Arch.Layers; BatchNorm the index of
	// the BatchNorm folded into it, or -1.
	Layer, BatchNorm int
}

// Pooled reports whether a max pooling follows the unit.
func (u Unit) Pooled() bool { return u.Pool.Kernel != 0 }

// Fan returns the unit's weight matrix shape in training layout [in, out]: in is the
// input features (Dense) or the patch length (Conv2D), out the output features or channels.
func (u Unit) Fan() (in, out int) {
	if u.Kind == Conv2D {
		return u.Conv.PatchLen(), u.Out.C
	}
	return u.In.Size(), u.Out.C
}

// Rows returns the number of rows the unit's matrix product has per sample: the output
// pixels of a convolution (before pooling), 1 for a dense layer.
func (u Unit) Rows() int {
	if u.Kind == Conv2D {
		return u.Conv.OutH() * u.Conv.OutW()
	}
	return 1
}

// MACs returns the multiply-adds of one sample through the unit's matrix product.
func (u Unit) MACs() int {
	in, out := u.Fan()
	return u.Rows() * in * out
}

// MACs returns the multiply-adds of one sample through the network's weighted layers.
func (a Arch) MACs() (int, error) {
	us, err := a.Units()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range us {
		n += u.MACs()
	}
	return n, nil
}

// Classes returns the output size of the last layer (0 for an empty architecture).
func (a Arch) Classes() int {
	if len(a.Layers) == 0 {
		return 0
	}
	return a.Layers[len(a.Layers)-1].Out
}

// IsMLP reports whether every layer is Dense (a multilayer perceptron, the architecture of
// format versions before conv2d).
func (a Arch) IsMLP() bool {
	for _, l := range a.Layers {
		if l.Kind != Dense {
			return false
		}
	}
	return len(a.Layers) > 0
}

// HasBatchNorm reports whether a has a BatchNorm layer.
func (a Arch) HasBatchNorm() bool {
	for _, l := range a.Layers {
		if l.Kind == BatchNorm {
			return true
		}
	}
	return false
}

// Sizes returns an MLP's sizes: the input's size, then each layer's output; nil if the
// architecture is not an MLP.
func (a Arch) Sizes() []int {
	if !a.IsMLP() {
		return nil
	}
	s := []int{a.Input.Size()}
	for _, l := range a.Layers {
		s = append(s, l.Out)
	}
	return s
}

// Equal reports whether two architectures are the same network (a layer's default stride
// equals the same stride written out).
func (a Arch) Equal(b Arch) bool {
	if a.Input != b.Input || len(a.Layers) != len(b.Layers) {
		return false
	}
	for i := range a.Layers {
		x, y := a.Layers[i], b.Layers[i]
		x.Stride, y.Stride = x.stride(), y.stride()
		if x != y {
			return false
		}
	}
	return true
}

// String returns the architecture in Parse's grammar (without the input shape).
func (a Arch) String() string {
	var parts []string
	for _, l := range a.Layers {
		parts = append(parts, l.String())
		if l.ReLU {
			parts = append(parts, "relu")
		}
	}
	return strings.Join(parts, ",")
}

// String returns the layer in Parse's grammar, without its ReLU.
func (l Layer) String() string {
	switch l.Kind {
	case Dense:
		return fmt.Sprintf("dense(%d)", l.Out)
	case Conv2D:
		s := fmt.Sprintf("conv(%d,%d", l.Out, l.Kernel)
		if l.Stride != 0 && l.Stride != 1 {
			s += fmt.Sprintf(",stride=%d", l.Stride)
		}
		if l.Pad != 0 {
			s += fmt.Sprintf(",pad=%d", l.Pad)
		}
		return s + ")"
	case MaxPool:
		if l.Stride != 0 && l.Stride != l.Kernel {
			return fmt.Sprintf("maxpool(%d,stride=%d)", l.Kernel, l.Stride)
		}
		return fmt.Sprintf("maxpool(%d)", l.Kernel)
	case BatchNorm:
		return "bn"
	case Flatten:
		return "flatten"
	}
	return l.Kind.String()
}

// MarshalJSON encodes the architecture with its layers' kinds by name.
func (a Arch) MarshalJSON() ([]byte, error) {
	type plain Arch
	if a.Layers == nil {
		a.Layers = []Layer{}
	}
	return json.Marshal(plain(a))
}

// WithBatchNorm returns a with a BatchNorm after every Conv2D that has none, taking over the
// convolution's ReLU (conv, bn, relu: PyTorch's ConvBnReLU order). It is an error if a has
// no convolution.
func WithBatchNorm(a Arch) (Arch, error) {
	out := Arch{Input: a.Input}
	convs := 0
	for i, l := range a.Layers {
		if l.Kind != Conv2D {
			out.Layers = append(out.Layers, l)
			continue
		}
		convs++
		if i+1 < len(a.Layers) && a.Layers[i+1].Kind == BatchNorm {
			out.Layers = append(out.Layers, l)
			continue
		}
		relu := l.ReLU
		l.ReLU = false
		out.Layers = append(out.Layers, l, Layer{Kind: BatchNorm, ReLU: relu})
	}
	if convs == 0 {
		return Arch{}, fmt.Errorf("arch: batch norm after each convolution: %v has none", a)
	}
	return out, out.Validate()
}

// Named returns the network spec names on input images of shape in with classes outputs:
// "mlp", the MLP with the hidden layer sizes; "cnn", CNN; anything else, layers in Parse's
// grammar, whose last layer must give classes outputs. With batchNorm, WithBatchNorm adds a
// BatchNorm after each convolution.
func Named(spec string, hidden []int, in Shape, classes int, batchNorm bool) (a Arch, err error) {
	switch spec {
	case "mlp":
		a = MLP(append(append([]int{in.Size()}, hidden...), classes), Shape{})
		err = a.Validate()
	case "cnn":
		a = CNN(false, classes)
		a.Input = in
		err = a.Validate()
	default:
		if a, err = Parse(spec, in); err == nil && a.Classes() != classes {
			err = fmt.Errorf("arch: the last layer gives %d classes, want %d", a.Classes(), classes)
		}
	}
	if err == nil && batchNorm {
		a, err = WithBatchNorm(a)
	}
	return a, err
}
