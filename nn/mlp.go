package nn

import (
	"errors"
	"fmt"
	"math"
	"math/rand"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

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

// Layer is a Linear followed by an activation.
type Layer struct {
	Linear
	Act Activation
	// OutputHook, if set, transforms the layer's output (after the activation).
	OutputHook Hook
}

// MLP is a multilayer perceptron: Layers applied in order to a [batch, Layers[0].In] input.
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
		return modelfile.DefaultInput(m.Layers[0].In)
	}
	return m.Input
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
	s := []int{m.Layers[0].In}
	for _, l := range m.Layers {
		s = append(s, l.Out)
	}
	return s
}

// NumParams returns the number of weights and biases.
func (m *MLP) NumParams() int {
	n := 0
	for _, l := range m.Layers {
		n += l.In*l.Out + l.Out
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
			Act: l.Act,
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
		if i > 0 && m.Layers[i-1].Out != l.In {
			return fmt.Errorf("nn: layer %d takes %d inputs, layer %d gives %d", i, l.In, i-1, m.Layers[i-1].Out)
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
	if err := m.InputRecord().Check(m.Layers[0].In); err != nil {
		return fmt.Errorf("nn: input: %w", err)
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
	Params G.Nodes // w1, b1, w2, b2, ... sharing the model's tensors
	Inputs G.Nodes // the input of each Linear, after hooks
	Model  *MLP
}

// Build builds the model's forward graph for a fixed batch size. Parameter nodes share the
// model's tensors, so several graphs of one model (training, evaluation) see the same weights.
// Its products run on tinyq/gemm: Build installs it as gorgonia's BLAS (autograd.UseBLAS).
func (m *MLP) Build(batch int) (*Net, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if batch <= 0 {
		return nil, fmt.Errorf("nn: batch size %d, want > 0", batch)
	}
	autograd.UseBLAS() // the graph's products run on tinyq/gemm (once per process)
	g := G.NewGraph()
	net := &Net{Graph: g, Batch: batch, Model: m}
	net.X = G.NewMatrix(g, tensor.Float32, G.WithShape(batch, m.Layers[0].In), G.WithName("x"))
	h, err := apply(m.InputHook, net.X)
	if err != nil {
		return nil, fmt.Errorf("nn: input hook: %w", err)
	}
	for i, l := range m.Layers {
		name := LayerName(i)
		w := G.NewMatrix(g, tensor.Float32, G.WithShape(l.In, l.Out), G.WithName(name+".w"), G.WithValue(l.W))
		b := G.NewVector(g, tensor.Float32, G.WithShape(l.Out), G.WithName(name+".b"), G.WithValue(l.B))
		net.Params = append(net.Params, w, b)
		wq, err := apply(l.WeightHook, w)
		if err != nil {
			return nil, fmt.Errorf("nn: %s weight hook: %w", name, err)
		}
		bq, err := apply(l.BiasHook, b)
		if err != nil {
			return nil, fmt.Errorf("nn: %s bias hook: %w", name, err)
		}
		net.Inputs = append(net.Inputs, h)
		if h, err = autograd.Linear(name, h, wq, bq); err != nil {
			return nil, err
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
