package quant

import "fmt"

// LayerSpec is how one fully connected layer is quantized: its weight and its input.
type LayerSpec struct {
	Weight     Spec
	Activation Spec
}

// LayerSpecFor returns tinyq's usual layer spec at widths w: weights symmetric, per channel
// along axis 1 (the output axis of a [in, out] weight, the training and conversion layout) or
// per tensor; the input affine per tensor (unsigned, zero point from the range).
func LayerSpecFor(w Widths, weights Granularity) LayerSpec {
	l := LayerSpec{
		Weight:     Spec{Bits: w.Weight, Scheme: Symmetric, Granularity: weights},
		Activation: Spec{Bits: w.Activation, Scheme: Affine, Granularity: PerTensor},
	}
	if weights == PerChannel {
		l.Weight.Axis = 1
	}
	return l
}

// Widths returns the layer's widths.
func (l LayerSpec) Widths() Widths {
	return Widths{Weight: l.Weight.Bits, Activation: l.Activation.Bits}
}

// WithWidths returns l at widths w (schemes and granularity unchanged).
func (l LayerSpec) WithWidths(w Widths) LayerSpec {
	l.Weight.Bits, l.Activation.Bits = w.Weight, w.Activation
	return l
}

// ModelSpec is how a model is quantized, layer by layer. Layers holds one LayerSpec for
// every layer of any model (a uniform model: Uniform), or one per layer, in order (mixed
// precision: WithWidths). Layers differ only in their widths: schemes and granularity are
// the model's. A uniform model is a mixed one whose layers are all equal, stated once; the
// name and the file record how it was stated (Name).
type ModelSpec struct {
	Layers []LayerSpec
}

// Uniform returns the spec that quantizes every layer as l.
func Uniform(l LayerSpec) ModelSpec { return ModelSpec{Layers: []LayerSpec{l}} }

// WithWidths returns m with one layer per entry of ws, each as m's first layer at its own
// widths (one entry: every layer, uniform). m is not modified.
func (m ModelSpec) WithWidths(ws []Widths) ModelSpec {
	base := m.Layer(0)
	out := ModelSpec{Layers: make([]LayerSpec, len(ws))}
	for i, w := range ws {
		out.Layers[i] = base.WithWidths(w)
	}
	return out
}

// WithWeightGranularity returns m with every weight quantized per channel (along axis) or
// per tensor (axis ignored, set to 0). m is not modified.
func (m ModelSpec) WithWeightGranularity(g Granularity, axis int) ModelSpec {
	out := ModelSpec{Layers: append([]LayerSpec(nil), m.Layers...)}
	for i := range out.Layers {
		out.Layers[i].Weight.Granularity, out.Layers[i].Weight.Axis = g, axis
		if g != PerChannel {
			out.Layers[i].Weight.Axis = 0
		}
	}
	return out
}

// Layer returns layer i's spec: the one entry of a uniform spec, or entry i (the zero
// LayerSpec if there is none: Validate and CheckLayers refuse such specs).
func (m ModelSpec) Layer(i int) LayerSpec {
	switch {
	case len(m.Layers) == 1:
		return m.Layers[0]
	case i >= 0 && i < len(m.Layers):
		return m.Layers[i]
	}
	return LayerSpec{}
}

// PerLayer reports whether the layers are stated one by one (mixed precision) rather than
// once for every layer.
func (m ModelSpec) PerLayer() bool { return len(m.Layers) > 1 }

// Widths returns the widths as stated: one entry for a uniform spec, else one per layer.
func (m ModelSpec) Widths() []Widths {
	ws := make([]Widths, len(m.Layers))
	for i, l := range m.Layers {
		ws[i] = l.Widths()
	}
	return ws
}

// Narrowest returns the narrowest weight and activation widths of any layer.
func (m ModelSpec) Narrowest() Widths { return Narrowest(m.Widths()) }

// Name names the widths as stated: "w4a8" for a uniform spec, "w2a8-w2a8-w4a8" per layer
// (LayerWidthsName).
func (m ModelSpec) Name() string { return LayerWidthsName(m.Widths()) }

// WeightName names the weight widths alone, "w8" (or "w2-w4-w8" per layer): the name of a
// model whose activations are quantized at run time.
func (m ModelSpec) WeightName() string {
	s := ""
	for i, l := range m.Layers {
		if i > 0 {
			s += "-"
		}
		s += l.Widths().WeightName()
	}
	return s
}

// Validate reports the first invalid layer spec (Spec.Validate: widths, scheme,
// granularity), or layers that differ in more than their widths. Its errors name the spec
// ("weight spec: bits 9 outside 2..8", "layer 2 activation spec: ...") for the caller to
// prefix with its package, once: they carry no "quant: " of their own.
func (m ModelSpec) Validate() error {
	layers := m.Layers
	if len(layers) == 0 {
		layers = []LayerSpec{{}} // the zero spec: its widths are missing
	}
	for i, l := range layers {
		where := ""
		if m.PerLayer() {
			where = fmt.Sprintf("layer %d ", i)
		}
		if err := l.Weight.check(); err != nil {
			return fmt.Errorf("%sweight spec: %w", where, err)
		}
		if err := l.Activation.check(); err != nil {
			return fmt.Errorf("%sactivation spec: %w", where, err)
		}
		if l.WithWidths(layers[0].Widths()) != layers[0] {
			return fmt.Errorf("layer %d spec %v, %v: want layer 0's %v, %v at its own widths (layers differ only in widths)", i, l.Weight, l.Activation, layers[0].Weight, layers[0].Activation)
		}
	}
	return nil
}

// CheckLayers reports a per-layer spec whose number of layers is not n (a uniform spec fits
// any model).
func (m ModelSpec) CheckLayers(n int) error {
	if m.PerLayer() && len(m.Layers) != n {
		return fmt.Errorf("%d per-layer widths for %d layers", len(m.Layers), n)
	}
	return nil
}
