package qat

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"

	"tinyq/autograd"
	"tinyq/nn"
	"tinyq/quant"
)

// Config says how to fake-quantize a model. Validate is called by Prepare before anything is
// built.
type Config struct {
	// Spec is how each layer is quantized (quant.ModelSpec: one layer spec for every layer,
	// or one per layer, mixed precision). Weights: default symmetric per-channel along the
	// output axis (axis 1 of a [in, out] weight). Activations (the network input and each
	// ReLU output): default affine per-tensor (unsigned, zero point from the range). Widths
	// must be set. A per-layer model trains, simulates and converts (static mode) to a mixed
	// integer model; Save refuses it (a QAT file has one width for every layer: save its
	// integer conversion).
	Spec quant.ModelSpec
	// Observer gathers activation ranges; the zero value is PyTorch's QAT default, a moving
	// average of min/max (momentum 0.01). Weights always use the current tensor's min/max.
	Observer quant.ObserverConfig
	// FreezeObserversAfter stops updating ranges after this many epochs (0: never).
	FreezeObserversAfter int
	// LearnScales learns every scale with LSQ (Esser et al. 2019) after initialising it from
	// the first batch (see LSQInit).
	LearnScales bool
	// LSQInit chooses the initial learned scales (with LearnScales only); the zero value is
	// InitRange.
	LSQInit LSQInit
	// FixInputScale, with LearnScales, keeps the network input's scale at its initial value
	// instead of learning it. The input (an image) has a fixed distribution, and learning its
	// scale costs a matrix product in every step: the gradient through the first layer to its
	// input, the largest product of the backward pass, which training otherwise skips.
	FixInputScale bool
	// ScaleLR is the Adam learning rate of learned scales (default 1e-4; Adam ignores LSQ's
	// gradient scaling, so scales need a smaller rate than weights, shared/GORGONIA.md).
	ScaleLR float64
}

// LSQInit is where learned (LSQ) scales start.
type LSQInit int

const (
	// InitRange starts from the first batch's range: the weight's min/max, and for
	// activations the configured Observer after one batch.
	InitRange LSQInit = iota
	// InitMeanAbs starts from the LSQ paper's 2·mean|x|/sqrt(Qp) (quant.MeanAbsObserver):
	// per channel for weights, from the first batch for activations. At 2 and 3 bits it keeps
	// most weights off the zero level, where a max-based scale rounds them to 0.
	InitMeanAbs
)

// String returns "range" or "meanabs".
func (i LSQInit) String() string {
	switch i {
	case InitRange:
		return "range"
	case InitMeanAbs:
		return "meanabs"
	}
	return fmt.Sprintf("LSQInit(%d)", int(i))
}

// ParseLSQInit parses String's names, "range" and "meanabs".
func ParseLSQInit(s string) (LSQInit, error) {
	for _, i := range []LSQInit{InitRange, InitMeanAbs} {
		if s == i.String() {
			return i, nil
		}
	}
	return 0, fmt.Errorf("qat: lsq_init %q, want range or meanabs", s)
}

// Spec returns the usual specs for wBits-bit weights and aBits-bit activations in every
// layer: weights symmetric per-channel (axis 1), activations affine per-tensor
// (quant.LayerSpecFor).
func Spec(wBits, aBits int) Config {
	w := quant.Widths{Weight: wBits, Activation: aBits}
	return Config{Spec: quant.Uniform(quant.LayerSpecFor(w, quant.PerChannel))}
}

// WithWidths returns c with the layers at widths ws (one entry: every layer; else one per
// layer, mixed precision), each layer otherwise as c's first.
func (c Config) WithWidths(ws []quant.Widths) Config {
	c.Spec = c.Spec.WithWidths(ws)
	return c
}

// Validate reports the first inconsistent setting.
func (c Config) Validate() error {
	if err := c.Spec.Validate(); err != nil {
		return fmt.Errorf("qat: %w", err)
	}
	l := c.Spec.Layer(0) // the layers differ only in widths
	if l.Weight.Granularity == quant.PerChannel && l.Weight.Axis != 1 {
		return fmt.Errorf("qat: weight spec: per-channel axis %d, want 1 (the output axis of a [in, out] weight)", l.Weight.Axis)
	}
	if l.Activation.Granularity != quant.PerTensor {
		return errors.New("qat: activation spec: want per-tensor (one scale per layer input)")
	}
	if c.FreezeObserversAfter < 0 {
		return fmt.Errorf("qat: FreezeObserversAfter %d, want >= 0", c.FreezeObserversAfter)
	}
	if c.LSQInit != InitRange && c.LSQInit != InitMeanAbs {
		return fmt.Errorf("qat: unknown LSQInit %d", int(c.LSQInit))
	}
	if c.ScaleLR < 0 {
		return fmt.Errorf("qat: ScaleLR %v, want >= 0", c.ScaleLR)
	}
	if _, err := quant.NewObserver(l.Activation, c.Observer); err != nil {
		return fmt.Errorf("qat: activation observer: %w", err)
	}
	return nil
}

// Name returns the variant name "wXaY" (for example "w4a8"), or one per layer joined by "-"
// for a per-layer spec (quant.ModelSpec.Name).
func (c Config) Name() string { return c.Spec.Name() }

// Model is a model prepared for quantization-aware training: a copy of the float model whose
// graphs fake-quantize each weight and each layer input, and the quantizers holding the scales.
type Model struct {
	*nn.MLP
	Config Config
	// Inputs[i] quantizes the input of layer i (Inputs[0]: the network input).
	Inputs []*autograd.Quantizer
	// Weights[i] quantizes the weight of layer i.
	Weights []*autograd.Quantizer

	frozen bool
}

// Prepare returns a new model that fake-quantizes m's weights and layer inputs; m is not
// modified (its parameters are copied). A BatchNorm is folded into the layer before it
// first (nn.MLP.FoldBatchNorm, with its running statistics), so the fake-quantized weights
// are the folded ones the integer model holds and the statistics stay frozen during QAT.
func Prepare(m *nn.MLP, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	if cfg.ScaleLR == 0 {
		cfg.ScaleLR = 1e-4
	}
	if cfg.Observer.Kind == 0 {
		cfg.Observer.Kind = quant.MovingAverageObserver // the documented default
	}
	if err := cfg.Spec.CheckLayers(len(m.Layers)); err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	folded, err := m.FoldBatchNorm() // a copy, BatchNorm folded: what the integer model computes
	if err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	qm := &Model{MLP: folded, Config: cfg}
	inObs, wObs := cfg.Observer, quant.ObserverConfig{Kind: quant.MinMaxObserver}
	if cfg.LearnScales && cfg.LSQInit == InitMeanAbs {
		inObs = quant.ObserverConfig{Kind: quant.MeanAbsObserver}
		wObs = inObs
	}
	for i, l := range qm.Layers {
		name := nn.LayerName(i)
		ls := cfg.Spec.Layer(i)
		wspec, aspec := ls.Weight, ls.Activation
		obs, err := quant.NewObserver(aspec, inObs)
		if err != nil {
			return nil, fmt.Errorf("qat: %s input observer: %w", name, err)
		}
		in, err := autograd.NewQuantizer(name+".in", aspec, 1, obs)
		if err != nil {
			return nil, fmt.Errorf("qat: %w", err)
		}
		wch := 1
		if wspec.Granularity == quant.PerChannel {
			wch = l.Out
		}
		wobs, err := quant.NewObserver(wspec, wObs)
		if err != nil {
			return nil, fmt.Errorf("qat: %s weight observer: %w", name, err)
		}
		w, err := autograd.NewQuantizer(name+".w", wspec, wch, wobs)
		if err != nil {
			return nil, fmt.Errorf("qat: %w", err)
		}
		w.ResetEachStep = true
		in.LSQ, w.LSQ = cfg.LearnScales, cfg.LearnScales
		qm.Inputs = append(qm.Inputs, in)
		qm.Weights = append(qm.Weights, w)
		l.WeightHook = hook(w)
		l.BiasHook = biasHook(name+".b", in, w)
		if i == 0 {
			qm.MLP.InputHook = hook(in)
		} else {
			qm.Layers[i-1].OutputHook = hook(in)
		}
	}
	// Observers start off: they observe only inside training steps (NewTrainer switches them
	// on and off), so evaluating a prepared model never moves its ranges.
	qm.SetObserving(false)
	return qm, nil
}

func hook(q *autograd.Quantizer) nn.Hook {
	return func(n *G.Node) (*G.Node, error) { return autograd.FakeQuant(n, q) }
}

// biasHook rounds the bias to the integer runtime's int32 grid (scale s_in·s_w), so that the
// fake-quant simulation computes what the converted model computes.
func biasHook(name string, in, w *autograd.Quantizer) nn.Hook {
	return func(b *G.Node) (*G.Node, error) {
		g := b.Graph()
		sIn, sW := autograd.ScaleNode(g, in), autograd.ScaleNode(g, w)
		if sIn == nil || sW == nil {
			return nil, fmt.Errorf("qat: %s: scale nodes of %s and %s not built yet", name, in.Name, w.Name)
		}
		return autograd.FakeQuantBias(name, b, sIn, sW)
	}
}

// LearnedScales returns the quantizers whose scales the trainer learns (with LearnScales:
// every quantizer, in the order of Quantizers, but the network input's with FixInputScale;
// without LearnScales: none).
func (m *Model) LearnedScales() []*autograd.Quantizer {
	if !m.Config.LearnScales {
		return nil
	}
	qs := m.Quantizers()
	if m.Config.FixInputScale {
		qs = qs[1:] // Inputs[0], the network input, comes first
	}
	return qs
}

// Quantizers returns every quantizer: layer inputs, then weights.
func (m *Model) Quantizers() []*autograd.Quantizer {
	return append(append([]*autograd.Quantizer(nil), m.Inputs...), m.Weights...)
}

// SetObserving turns range observation on or off for every quantizer (off for evaluation;
// a frozen model stays off). With learned scales, a quantizer observes only until it has
// its initial range.
func (m *Model) SetObserving(on bool) {
	for _, q := range m.Quantizers() {
		q.Observe = on && !m.frozen && q.Observer != nil && !(q.LSQ && q.Observed())
	}
}
