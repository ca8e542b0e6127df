package nn

import (
	"errors"
	"fmt"
	"math"
	"math/rand"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"tinyq/arch"
	"tinyq/autograd"
	"tinyq/modelfile"
	"tinyq/quant"
)

// Hook transforms a node while a graph is built: QAT uses hooks to put fake-quant nodes on
// weights and activations without nn knowing about quantization. A nil Hook is the identity.
type Hook func(*G.Node) (*G.Node, error)

// Activation is the nonlinearity after a layer's linear map.
type Activation int

const (
	// Identity applies no nonlinearity (the last layer: logits).
	Identity Activation = iota
	// ReLU applies max(x, 0).
	ReLU
)

// String returns "identity" or "relu".
func (a Activation) String() string {
	switch a {
	case Identity:
		return "identity"
	case ReLU:
		return "relu"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// Linear is a fully connected map y = x·W + B with float32 parameters.
type Linear struct {
	In, Out int
	W       *tensor.Dense // [In, Out]
	B       *tensor.Dense // [Out]
	// WeightHook, if set, transforms the weight node before it is used (for example fake-quant).
	WeightHook Hook
	// BiasHook, if set, transforms the bias node before it is used. It runs after the layer's
	// input and weight hooks, so it may refer to nodes they created.
	BiasHook Hook
}

// Weights returns the row-major [In, Out] weight data (shared, not a copy).
func (l *Linear) Weights() []float32 { return l.W.Data().([]float32) }

// Bias returns the [Out] bias data (shared, not a copy).
func (l *Linear) Bias() []float32 { return l.B.Data().([]float32) }

// Layer is a weighted layer, fully connected or convolutional, with what follows it: an
// optional BatchNorm, an activation and an optional max pooling (arch.Unit's grouping).
// Activations are NHWC images flattened per sample, so a graph's nodes are [batch,
// features] matrices and Flatten moves nothing.
type Layer struct {
	Linear
	// Conv is a convolution's window over the layer's input image; its zero value (Kernel 0)
	// makes the layer fully connected. A convolution's Linear.In is Conv.PatchLen() and its
	// Linear.Out the output channels; W is [Kernel, Kernel, C, Out] (the [In, Out] layout).
	Conv arch.Window
	// BN, if set, normalizes the layer's output channels before the activation.
	BN *BatchNorm
	// FoldBN, with BN, builds the layer in the form of PyTorch's QAT ConvBn modules
	// (torch.ao.nn.intrinsic.qat ConvBn2d, ConvBnReLU2d): the weight hook sees the folded
	// weight w·f, f = gamma/sqrt(running var + eps) per output channel (autograd.BNScale),
	// and the layer computes BatchNorm(layer(x, hooked w·f, b·f) / f): the layer's output
	// on its unfolded scale, plus b, normalized by the BatchNorm as usual (batch statistics
	// in training graphs unless BN.State.Training is turned off, running statistics in
	// evaluation graphs). The bias hook is not applied: the bias the integer model holds
	// exists only once the BatchNorm is folded (FoldBatchNorm). Clone does not copy it.
	FoldBN bool
	Act    Activation
	// Pool is the max pooling after the activation; its zero value means none. (Build pools
	// before ReLU: the same values and gradients, ReLU on fewer values.)
	Pool arch.Window
	// OutputHook, if set, transforms the layer's output (after the activation and pooling).
	OutputHook Hook
}

// BatchNorm is a batch normalization's parameters and running statistics (PyTorch's
// BatchNorm2d semantics: autograd.BatchNorm).
type BatchNorm struct {
	Gamma, Beta *tensor.Dense // [channels], learned
	// State holds the running mean and variance, the momentum and epsilon. Graphs built for
	// training update Mean and Var in place; evaluation graphs read them.
	State autograd.BatchNormState
}

// IsConv reports whether the layer is a convolution.
func (l *Layer) IsConv() bool { return l.Conv.Kernel != 0 }

// InSize returns the values of one sample the layer reads: the input image's H·W·C for a
// convolution, In for a fully connected layer.
func (l *Layer) InSize() int {
	if l.IsConv() {
		return l.Conv.InLen()
	}
	return l.In
}

// OutSize returns the values of one sample the layer yields, after its pooling.
func (l *Layer) OutSize() int {
	switch {
	case l.Pool.Kernel != 0:
		return l.Pool.OutPixels() * l.Out
	case l.IsConv():
		return l.Conv.OutPixels() * l.Out
	}
	return l.Out
}

// MLP is a sequential network: Layers applied in order to a [batch, InputSize()] input. The
// name is historical: its layers may be convolutions (New builds any arch.Arch).
type MLP struct {
	Layers []*Layer
	// InputHook, if set, transforms the network input before the first layer.
	InputHook Hook
	// Input says how raw pixels become the network input, as model files record it
	// (docs/FORMAT.md section 3); the zero value means modelfile.DefaultInput (pixel/255 for
	// MNIST). Load sets it from the file, Save writes it, Clone copies it, and ptq's and qat's
	// conversions carry it into the models they make: see InputRecord.
	Input modelfile.Input
}

// InputRecord returns how raw pixels become m's input: Input, or the default for m's input
// size when Input is zero.
func (m *MLP) InputRecord() modelfile.Input {
	if m.Input == (modelfile.Input{}) && len(m.Layers) > 0 {
		return modelfile.DefaultInput(m.InputSize())
	}
	return m.Input
}

// InputSize returns the number of input values of one sample.
func (m *MLP) InputSize() int {
	if len(m.Layers) == 0 {
		return 0
	}
	return m.Layers[0].InSize()
}

// Classes returns the number of outputs of the last layer.
func (m *MLP) Classes() int {
	if len(m.Layers) == 0 {
		return 0
	}
	return m.Layers[len(m.Layers)-1].Out
}

// New returns a network of architecture a with He (Kaiming) normal weights, N(0,
// 2/fan_in) with fan_in the layer's In (a convolution's patch length), drawn from rng layer
// by layer; biases and BatchNorm shifts start at zero, BatchNorm scales at one, running
// statistics at mean 0 and variance 1. For an MLP architecture it equals NewMLP of its sizes.
func New(a arch.Arch, rng *rand.Rand) (*MLP, error) {
	if rng == nil {
		return nil, errors.New("nn: New needs a seeded *rand.Rand")
	}
	m, err := NewFrom(a)
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		w := l.Weights()
		std := math.Sqrt(2 / float64(l.In))
		for j := range w {
			w[j] = float32(rng.NormFloat64() * std)
		}
	}
	return m, nil
}

// NewFrom returns a network of architecture a with zero weights and biases (BatchNorm:
// scale 1, shift 0, running mean 0 and variance 1), to be filled from a file. An MLP
// architecture's input record is left zero (the default for its size); otherwise it is the
// input image's width and height with pixel/255.
func NewFrom(a arch.Arch) (*MLP, error) {
	us, err := a.Units()
	if err != nil {
		return nil, fmt.Errorf("nn: %w", err)
	}
	m := &MLP{}
	if !a.IsMLP() {
		if a.Input.C != 1 {
			return nil, fmt.Errorf("nn: input %v: only one-channel (grey) images have an input record", a.Input)
		}
		m.Input = modelfile.Input{Width: a.Input.W, Height: a.Input.H, PixelDivisor: 255}
	}
	for _, u := range us {
		in, out := u.Fan()
		l := &Layer{
			Linear: Linear{
				In: in, Out: out,
				W: tensor.New(tensor.WithShape(in, out), tensor.WithBacking(make([]float32, in*out))),
				B: tensor.New(tensor.WithShape(out), tensor.WithBacking(make([]float32, out))),
			},
			Pool: u.Pool,
		}
		if u.Kind == arch.Conv2D {
			l.Conv = u.Conv
		}
		if u.ReLU {
			l.Act = ReLU
		}
		if u.BatchNorm >= 0 {
			l.BN = newBatchNorm(out)
		}
		m.Layers = append(m.Layers, l)
	}
	return m, nil
}

// newBatchNorm returns a BatchNorm of c channels in its initial state (scale 1, shift 0,
// autograd.NewBatchNormState's statistics and PyTorch's momentum and eps).
func newBatchNorm(c int) *BatchNorm {
	ones := make([]float32, c)
	for i := range ones {
		ones[i] = 1
	}
	return &BatchNorm{
		Gamma: tensor.New(tensor.WithShape(c), tensor.WithBacking(ones)),
		Beta:  tensor.New(tensor.WithShape(c), tensor.WithBacking(make([]float32, c))),
		State: *autograd.NewBatchNormState(c),
	}
}

// clone returns a deep copy of the BatchNorm (nil for nil).
func (b *BatchNorm) clone() *BatchNorm {
	if b == nil {
		return nil
	}
	c := *b
	c.Gamma = tensor.New(tensor.WithShape(b.Gamma.Shape()...), tensor.WithBacking(append([]float32(nil), b.Gamma.Data().([]float32)...)))
	c.Beta = tensor.New(tensor.WithShape(b.Beta.Shape()...), tensor.WithBacking(append([]float32(nil), b.Beta.Data().([]float32)...)))
	c.State.Mean = append([]float32(nil), b.State.Mean...)
	c.State.Var = append([]float32(nil), b.State.Var...)
	return &c
}

// Architecture returns m's description (arch.Arch): a Flatten is put before a fully
// connected layer that reads an image.
func (m *MLP) Architecture() arch.Arch {
	var a arch.Arch
	if len(m.Layers) == 0 {
		return a
	}
	if f := m.Layers[0]; f.IsConv() {
		a.Input = arch.Shape{H: f.Conv.H, W: f.Conv.W, C: f.Conv.C}
	} else {
		a.Input = arch.Vector(f.In)
	}
	image := !a.Input.Flat()
	for _, l := range m.Layers {
		relu := l.Act == ReLU
		if l.IsConv() {
			a.Layers = append(a.Layers, arch.Layer{Kind: arch.Conv2D, Out: l.Out, Kernel: l.Conv.Kernel, Stride: l.Conv.Stride, Pad: l.Conv.Pad, ReLU: relu && l.BN == nil})
			image = true
		} else {
			if image {
				a.Layers = append(a.Layers, arch.Layer{Kind: arch.Flatten})
				image = false
			}
			a.Layers = append(a.Layers, arch.Layer{Kind: arch.Dense, Out: l.Out, ReLU: relu && l.BN == nil})
		}
		if l.BN != nil {
			a.Layers = append(a.Layers, arch.Layer{Kind: arch.BatchNorm, ReLU: relu})
		}
		if l.Pool.Kernel != 0 {
			a.Layers = append(a.Layers, arch.Layer{Kind: arch.MaxPool, Kernel: l.Pool.Kernel, Stride: l.Pool.Stride})
		}
	}
	return a
}

// ParamSizes returns the element counts of the learned parameters in graph order: for
// each layer its weight and bias, then its BatchNorm's scale and shift if it has one (the
// order of Net.Params and of a solver's moments).
func (m *MLP) ParamSizes() []int {
	var n []int
	for _, l := range m.Layers {
		n = append(n, l.In*l.Out, l.Out)
		if l.BN != nil {
			n = append(n, l.Out, l.Out)
		}
	}
	return n
}

// NewMLP returns an MLP with the given layer sizes (input, hidden..., output), ReLU between
// layers and none after the last. Weights are drawn with He (Kaiming) normal initialisation,
// N(0, 2/fan_in), from rng; biases start at zero. The same rng state gives the same model.
func NewMLP(sizes []int, rng *rand.Rand) (*MLP, error) {
	if len(sizes) < 2 {
		return nil, fmt.Errorf("nn: layer sizes %v: want at least input and output", sizes)
	}
	for i, s := range sizes {
		if s <= 0 {
			return nil, fmt.Errorf("nn: layer sizes %v: size %d is %d, want > 0", sizes, i, s)
		}
	}
	if rng == nil {
		return nil, errors.New("nn: NewMLP needs a seeded *rand.Rand")
	}
	m := &MLP{}
	for i := 0; i+1 < len(sizes); i++ {
		in, out := sizes[i], sizes[i+1]
		w := make([]float32, in*out)
		std := math.Sqrt(2 / float64(in))
		for j := range w {
			w[j] = float32(rng.NormFloat64() * std)
		}
		act := ReLU
		if i+2 == len(sizes) {
			act = Identity
		}
		m.Layers = append(m.Layers, &Layer{
			Linear: Linear{
				In: in, Out: out,
				W: tensor.New(tensor.WithShape(in, out), tensor.WithBacking(w)),
				B: tensor.New(tensor.WithShape(out), tensor.WithBacking(make([]float32, out))),
			},
			Act: act,
		})
	}
	return m, nil
}

// NewMLPFrom returns an MLP of the given sizes and per-layer activations ("relu" or
// "identity") with all parameters zero, to be filled from a file.
func NewMLPFrom(sizes []int, activations []string) (*MLP, error) {
	if len(sizes) < 2 || len(activations) != len(sizes)-1 {
		return nil, fmt.Errorf("nn: %d sizes and %d activations", len(sizes), len(activations))
	}
	m := &MLP{}
	for i, a := range activations {
		in, out := sizes[i], sizes[i+1]
		if in <= 0 || out <= 0 {
			return nil, fmt.Errorf("nn: layer %d: size %dx%d", i, in, out)
		}
		var act Activation
		switch a {
		case ReLU.String():
			act = ReLU
		case Identity.String():
			act = Identity
		default:
			return nil, fmt.Errorf("nn: layer %d: activation %q, want relu or identity", i, a)
		}
		m.Layers = append(m.Layers, &Layer{
			Linear: Linear{
				In: in, Out: out,
				W: tensor.New(tensor.WithShape(in, out), tensor.WithBacking(make([]float32, in*out))),
				B: tensor.New(tensor.WithShape(out), tensor.WithBacking(make([]float32, out))),
			},
			Act: act,
		})
	}
	return m, nil
}

// Sizes returns the layer sizes: input, then each layer's output.
func (m *MLP) Sizes() []int {
	if len(m.Layers) == 0 {
		return nil
	}
	s := []int{m.InputSize()}
	for _, l := range m.Layers {
		s = append(s, l.Out)
	}
	return s
}

// NumParams returns the number of weights and biases.
func (m *MLP) NumParams() int {
	n := 0
	for _, k := range m.ParamSizes() {
		n += k
	}
	return n
}

// Clone returns a deep copy of the parameters and architecture, without hooks.
func (m *MLP) Clone() *MLP {
	c := &MLP{Input: m.Input}
	for _, l := range m.Layers {
		c.Layers = append(c.Layers, &Layer{
			Linear: Linear{
				In: l.In, Out: l.Out,
				W: tensor.New(tensor.WithShape(l.In, l.Out), tensor.WithBacking(append([]float32(nil), l.Weights()...))),
				B: tensor.New(tensor.WithShape(l.Out), tensor.WithBacking(append([]float32(nil), l.Bias()...))),
			},
			Conv: l.Conv, BN: l.BN.clone(), Act: l.Act, Pool: l.Pool,
		})
	}
	return c
}

// Validate checks that consecutive layers fit together, that parameters have the declared
// sizes and hold only finite values, and that the input record fits the first layer.
func (m *MLP) Validate() error {
	if len(m.Layers) == 0 {
		return errors.New("nn: model has no layers")
	}
	for i, l := range m.Layers {
		if l.In <= 0 || l.Out <= 0 {
			return fmt.Errorf("nn: layer %d: size %dx%d", i, l.In, l.Out)
		}
		if i > 0 && m.Layers[i-1].OutSize() != l.InSize() {
			return fmt.Errorf("nn: layer %d takes %d inputs, layer %d gives %d", i, l.InSize(), i-1, m.Layers[i-1].OutSize())
		}
		if err := l.checkShape(); err != nil {
			return fmt.Errorf("nn: layer %d: %w", i, err)
		}
		if l.W == nil || len(l.Weights()) != l.In*l.Out {
			return fmt.Errorf("nn: layer %d: weight is not %dx%d", i, l.In, l.Out)
		}
		if l.B == nil || len(l.Bias()) != l.Out {
			return fmt.Errorf("nn: layer %d: bias is not %d long", i, l.Out)
		}
		for _, p := range [][]float32{l.Weights(), l.Bias()} {
			if j := quant.FirstNonFinite(p); j >= 0 {
				return fmt.Errorf("nn: layer %d: parameter %d is %v", i, j, p[j])
			}
		}
	}
	if err := m.InputRecord().Check(m.InputSize()); err != nil {
		return fmt.Errorf("nn: input: %w", err)
	}
	return nil
}

// checkShape checks a layer's convolution, pooling and BatchNorm against its sizes.
func (l *Layer) checkShape() error {
	if l.IsConv() {
		if err := l.Conv.Check(); err != nil {
			return err
		}
		if l.In != l.Conv.PatchLen() {
			return fmt.Errorf("%d inputs for a %d-value patch", l.In, l.Conv.PatchLen())
		}
	}
	if l.Pool.Kernel != 0 {
		if !l.IsConv() {
			return errors.New("max pooling after a fully connected layer")
		}
		if err := l.Pool.Check(); err != nil {
			return err
		}
		if l.Pool.H != l.Conv.OutH() || l.Pool.W != l.Conv.OutW() || l.Pool.C != l.Out || l.Pool.Pad != 0 {
			return fmt.Errorf("pooling window %+v does not fit the %dx%dx%d output", l.Pool, l.Conv.OutH(), l.Conv.OutW(), l.Out)
		}
	}
	if b := l.BN; b != nil {
		if b.Gamma == nil || b.Beta == nil || len(b.Gamma.Data().([]float32)) != l.Out || len(b.Beta.Data().([]float32)) != l.Out || len(b.State.Mean) != l.Out || len(b.State.Var) != l.Out {
			return fmt.Errorf("batch norm is not %d channels", l.Out)
		}
		for _, p := range [][]float32{b.Gamma.Data().([]float32), b.Beta.Data().([]float32), b.State.Mean, b.State.Var} {
			if j := quant.FirstNonFinite(p); j >= 0 {
				return fmt.Errorf("batch norm value %d is %v", j, p[j])
			}
		}
		for j, v := range b.State.Var {
			if v < 0 {
				return fmt.Errorf("batch norm running variance %d is %v", j, v)
			}
		}
		if !(b.State.Eps > 0) {
			return fmt.Errorf("batch norm eps %v, want > 0", b.State.Eps)
		}
	}
	return nil
}

// LayerName is the name of layer i in graphs and files: "fc1", "fc2", ...
func LayerName(i int) string { return modelfile.LayerName(i) }

// Net is an MLP built into a gorgonia graph for one batch size.
type Net struct {
	Graph  *G.ExprGraph
	Batch  int
	X      *G.Node // [batch, in], bind with Let
	Logits *G.Node // [batch, out]
	Params G.Nodes // w1, b1, [bn1 gamma, beta,] w2, b2, ... sharing the model's tensors (ParamSizes' order)
	Inputs G.Nodes // the input of each Linear, after hooks
	Model  *MLP
}

// Build builds the model's forward graph for a fixed batch size. Parameter nodes share the
// model's tensors, so several graphs of one model (training, evaluation) see the same weights.
// Its products run on tinyq/gemm: Build installs it as gorgonia's BLAS (autograd.UseBLAS).
func (m *MLP) Build(batch int) (*Net, error) { return m.build(batch, true) }

// build builds the forward graph; training selects BatchNorm's batch statistics (and the
// update of its running statistics) over its running statistics.
func (m *MLP) build(batch int, training bool) (*Net, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if batch <= 0 {
		return nil, fmt.Errorf("nn: batch size %d, want > 0", batch)
	}
	autograd.UseBLAS() // the graph's products run on tinyq/gemm (once per process)
	g := G.NewGraph()
	net := &Net{Graph: g, Batch: batch, Model: m}
	net.X = G.NewMatrix(g, tensor.Float32, G.WithShape(batch, m.InputSize()), G.WithName("x"))
	h, err := apply(m.InputHook, net.X)
	if err != nil {
		return nil, fmt.Errorf("nn: input hook: %w", err)
	}
	for i, l := range m.Layers {
		name := LayerName(i)
		w := G.NewMatrix(g, tensor.Float32, G.WithShape(l.In, l.Out), G.WithName(name+".w"), G.WithValue(l.W))
		b := G.NewVector(g, tensor.Float32, G.WithShape(l.Out), G.WithName(name+".b"), G.WithValue(l.B))
		net.Params = append(net.Params, w, b)
		folded := l.BN != nil && l.FoldBN
		var gamma, beta *G.Node
		var st *autograd.BatchNormState
		if l.BN != nil {
			gamma = G.NewVector(g, tensor.Float32, G.WithShape(l.Out), G.WithName(name+".bn.gamma"), G.WithValue(l.BN.Gamma))
			beta = G.NewVector(g, tensor.Float32, G.WithShape(l.Out), G.WithName(name+".bn.beta"), G.WithValue(l.BN.Beta))
			net.Params = append(net.Params, gamma, beta)
			st = &l.BN.State // training graphs update the model's running statistics in place
			if !training {
				eval := l.BN.State // a copy reading the same statistics
				eval.Training = false
				st = &eval
			} else if !folded {
				st.Training = true // (the ConvBn form leaves it to its owner: frozen statistics)
			}
		}
		wIn, bIn := w, b
		if folded {
			if wIn, err = autograd.BNScale(name+".bn.w", w, gamma, st, false); err != nil {
				return nil, err
			}
			// The layer's bias b·f: divided by f with the layer's output, it leaves b.
			if bIn, err = autograd.BNScale(name+".bn.b", b, gamma, st, false); err != nil {
				return nil, err
			}
		}
		wq, err := apply(l.WeightHook, wIn)
		if err != nil {
			return nil, fmt.Errorf("nn: %s weight hook: %w", name, err)
		}
		bq := bIn
		if !folded {
			if bq, err = apply(l.BiasHook, b); err != nil {
				return nil, fmt.Errorf("nn: %s bias hook: %w", name, err)
			}
		}
		net.Inputs = append(net.Inputs, h)
		if l.IsConv() {
			h, err = autograd.Conv2D(name, h, wq, bq, l.Conv)
		} else {
			h, err = autograd.Linear(name, h, wq, bq)
		}
		if err != nil {
			return nil, err
		}
		if folded {
			if h, err = autograd.BNScale(name+".bn.unfold", h, gamma, st, true); err != nil {
				return nil, err
			}
		}
		if l.BN != nil {
			if h, err = autograd.BatchNorm(name+".bn", h, gamma, beta, st); err != nil {
				return nil, err
			}
		}
		// Max pooling before ReLU: max commutes with the monotonic ReLU, so the values are
		// those of ReLU then pooling, and ReLU runs on a quarter of the values (2x2 pooling).
		// The gradients are the same too: where a window's maximum is positive the same
		// element wins either way, and otherwise ReLU passes no gradient.
		if l.Pool.Kernel != 0 {
			if h, err = autograd.MaxPool(name+".pool", h, l.Pool); err != nil {
				return nil, err
			}
		}
		if l.Act == ReLU {
			if h, err = autograd.ReLU(name+".relu", h); err != nil {
				return nil, err
			}
		}
		if h, err = apply(l.OutputHook, h); err != nil {
			return nil, fmt.Errorf("nn: %s output hook: %w", name, err)
		}
	}
	net.Logits = h
	return net, nil
}

// Loss adds the mean softmax cross-entropy of the logits against target ([batch, classes],
// one-hot; all-zero rows are padding and ignored) to the net's graph and returns the scalar
// loss node.
func (n *Net) Loss(target *G.Node) (*G.Node, error) {
	return autograd.SoftmaxCrossEntropy("loss", n.Logits, target)
}

// DistillationLoss returns the training loss against labels target and a teacher's logits
// teacher (both [batch, classes]): (1-alpha)·cross-entropy plus alpha·T²·KL between the
// teacher's and the model's softmax at temperature T (autograd.DistillationLoss).
func (n *Net) DistillationLoss(target, teacher *G.Node, temperature, alpha float64) (*G.Node, error) {
	return autograd.DistillationLoss("loss", n.Logits, target, teacher, autograd.Distillation{Temperature: temperature, Alpha: alpha})
}

func apply(h Hook, n *G.Node) (*G.Node, error) {
	if h == nil {
		return n, nil
	}
	return h(n)
}
