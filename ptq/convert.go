package ptq

import (
	"errors"
	"fmt"
	"math"

	"tinyq/nn"
	"tinyq/qkernel"
	"tinyq/quant"
)

// Plan carries quantization parameters chosen elsewhere into Convert.
type Plan struct {
	// Inputs are the parameters of each layer's input (Static mode): from Calibrate, or the
	// ranges a QAT model observed or learned. Ignored in Dynamic mode.
	Inputs []quant.Params
	// Weights, if set, are the parameters of each layer's weight (a QAT model's); otherwise
	// they are chosen from each weight's own min/max with Config.Weight.
	Weights []quant.Params
}

// Layer is one converted fully connected layer. Offline data (scales) is float; everything
// the kernels touch at run time is integer.
type Layer struct {
	Name    string
	In, Out int
	ReLU    bool

	WeightBits   int
	Weights      []int8    // [Out, In] quantized weights (nil when packed)
	Packed       []byte    // [Out, In] packed: int4 two per byte, low nibble first (bits 3-4); int2 four per byte (bits <= 2)
	WeightScales []float32 // [Out] per channel, or [1] per tensor

	InScale float32 // Static: scale and zero point of this layer's uint8 input
	InZP    int32
	InQMin  int32 // Static: the input's integer range
	InQMax  int32

	Bias  []int32   // Static: bias at scale InScale·WeightScales[o]
	BiasF []float32 // Dynamic: float bias

	// Derived by NewModel (not stored).
	// Static, hidden layers: requantization to the next layer's input, out = OutZP +
	// M[o]·(acc + Bias[o]) with M[o] = InScale·WeightScales[o]/OutScale = Mult[o]·2^(Shift[o]-31),
	// rounded once (qkernel.MultiplyBySingleRounding), clamped to [OutQMin, OutQMax]
	// (OutQMin = OutZP fuses the ReLU).
	OutScale         float32
	OutZP            int32
	OutQMin, OutQMax int32
	Mult             []int32
	Shift            []int

	// Static, last layer: logits = float32(acc + Bias[o]) · LogitScale[o].
	LogitScale []float32

	kern *qkernel.Weights
}

// Model is an integer model produced by Convert. Its Forward is safe for concurrent use.
type Model struct {
	Config Config
	Layers []*Layer
	// Workers is the number of goroutines Forward spreads rows over (<= 0: GOMAXPROCS).
	Workers int
}

// Convert returns an integer version of m; m is not modified.
func Convert(m *nn.MLP, cfg Config, plan Plan) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("ptq: convert: %w", err)
	}
	nl := len(m.Layers)
	if cfg.Mode == Static && len(plan.Inputs) != nl {
		return nil, fmt.Errorf("ptq: convert: %d input ranges for %d layers (calibrate first)", len(plan.Inputs), nl)
	}
	if plan.Weights != nil && len(plan.Weights) != nl {
		return nil, fmt.Errorf("ptq: convert: %d weight parameter sets for %d layers", len(plan.Weights), nl)
	}
	var layers []*Layer
	for i, l := range m.Layers {
		name := nn.LayerName(i)
		ql, err := convertLayer(name, l, cfg, plan, i)
		if err != nil {
			return nil, fmt.Errorf("ptq: convert %s: %w", name, err)
		}
		layers = append(layers, ql)
	}
	return NewModel(cfg, layers)
}

// NewModel assembles an integer model from stored layers (as Convert produces them or a file
// holds them): it checks them and derives what the runtime needs (kernels, requantization
// multipliers and shifts, logit scales). The layers are used, not copied.
func NewModel(cfg Config, layers []*Layer) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		return nil, errors.New("ptq: model has no layers")
	}
	for i, l := range layers {
		if err := l.prepare(cfg, i, layers); err != nil {
			return nil, fmt.Errorf("ptq: layer %s: %w", l.Name, err)
		}
	}
	return &Model{Config: cfg, Layers: layers}, nil
}

// prepare checks layer i and derives its kernel and output stage.
func (l *Layer) prepare(cfg Config, i int, layers []*Layer) error {
	if l.In <= 0 || l.Out <= 0 || (i > 0 && layers[i-1].Out != l.In) {
		return fmt.Errorf("size %dx%d does not follow the previous layer", l.In, l.Out)
	}
	if l.In > MaxIn {
		return fmt.Errorf("%d inputs: an int32 accumulator holds at most %d products of 255·127", l.In, MaxIn)
	}
	if l.WeightBits != cfg.Weight.Bits {
		return fmt.Errorf("%d-bit weights in a %d-bit model", l.WeightBits, cfg.Weight.Bits)
	}
	if len(l.WeightScales) != 1 && len(l.WeightScales) != l.Out {
		return fmt.Errorf("%d weight scales for %d outputs", len(l.WeightScales), l.Out)
	}
	for o, s := range l.WeightScales {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("weight scale %d is %v, want finite and > 0", o, s)
		}
	}
	var err error
	qmin, qmax := cfg.Weight.QRange()
	if cfg.Weight.Bits <= 4 {
		if want := PackedLen(cfg.Weight.Bits, l.In*l.Out); len(l.Packed) != want {
			return fmt.Errorf("%d packed weight bytes, want %d", len(l.Packed), want)
		}
		w, err := l.Unpacked()
		if err != nil {
			return err
		}
		if err := checkRange(w, qmin, qmax); err != nil {
			return err
		}
		if cfg.Weight.Bits <= 2 {
			l.kern, err = qkernel.NewWeightsInt2(l.Packed, l.Out, l.In)
		} else {
			l.kern, err = qkernel.NewWeightsInt4(l.Packed, l.Out, l.In)
		}
		if err != nil {
			return err
		}
	} else {
		if len(l.Weights) != l.In*l.Out {
			return fmt.Errorf("%d weights, want %d", len(l.Weights), l.In*l.Out)
		}
		if err := checkRange(l.Weights, qmin, qmax); err != nil {
			return err
		}
		l.kern, err = qkernel.NewWeights(l.Weights, l.Out, l.In)
	}
	if err != nil {
		return err
	}
	if cfg.Mode == Dynamic {
		if len(l.BiasF) != l.Out {
			return fmt.Errorf("%d float biases, want %d", len(l.BiasF), l.Out)
		}
		for o, b := range l.BiasF {
			if math.IsNaN(float64(b)) || math.IsInf(float64(b), 0) {
				return fmt.Errorf("bias %d is %v", o, b)
			}
		}
		return nil
	}
	if len(l.Bias) != l.Out {
		return fmt.Errorf("%d int32 biases, want %d", len(l.Bias), l.Out)
	}
	ip := quant.Params{Scales: []float32{l.InScale}, ZeroPoints: []int32{l.InZP}, QMin: l.InQMin, QMax: l.InQMax, Axis: -1}
	if err := ip.Validate(); err != nil {
		return fmt.Errorf("input params: %w", err)
	}
	if l.InQMin < 0 || l.InQMax > 255 {
		return fmt.Errorf("input range [%d, %d] does not fit uint8", l.InQMin, l.InQMax)
	}
	return l.requantization(layers, i)
}

// MaxIn is the widest layer input the runtime accepts: the int32 accumulator must hold In
// products of |q_in - zp| <= 255 and |q_w| <= 128, so In <= (2^31-1)/(255·128) = 65793.
const MaxIn = (1<<31 - 1) / (255 * 128)

// PackedLen returns the stored bytes of n packed weights of the given bit width: four per
// byte up to 2 bits, two per byte up to 4 bits.
func PackedLen(bits, n int) int {
	if bits <= 2 {
		return quant.PackedLen2(n)
	}
	return quant.PackedLen(n)
}

// Unpacked returns the layer's weights as int8 [Out, In], unpacking packed ones.
func (l *Layer) Unpacked() ([]int8, error) {
	if l.Packed == nil {
		return l.Weights, nil
	}
	w := make([]int8, l.In*l.Out)
	if l.WeightBits <= 2 {
		return w, quant.UnpackInt2(w, l.Packed)
	}
	return w, quant.UnpackInt4(w, l.Packed)
}

// checkRange reports the first weight outside [qmin, qmax].
func checkRange(w []int8, qmin, qmax int32) error {
	for i, v := range w {
		if int32(v) < qmin || int32(v) > qmax {
			return fmt.Errorf("weight %d is %d, outside [%d, %d]", i, v, qmin, qmax)
		}
	}
	return nil
}

func convertLayer(name string, l *nn.Layer, cfg Config, plan Plan, i int) (*Layer, error) {
	if l.Act != nn.ReLU && l.Act != nn.Identity {
		return nil, fmt.Errorf("activation %v is not supported", l.Act)
	}
	ql := &Layer{Name: name, In: l.In, Out: l.Out, ReLU: l.Act == nn.ReLU, WeightBits: cfg.Weight.Bits}
	w := l.Weights() // [In, Out]
	shape := []int{l.In, l.Out}
	var wp quant.Params
	if plan.Weights != nil {
		wp = plan.Weights[i]
	} else {
		mins, maxs, err := quant.MinMax(w, shape, cfg.Weight)
		if err != nil {
			return nil, fmt.Errorf("weight: %w", err)
		}
		if wp, err = quant.ChooseParams(cfg.Weight, mins, maxs); err != nil {
			return nil, fmt.Errorf("weight: %w", err)
		}
	}
	if err := wp.Validate(); err != nil {
		return nil, fmt.Errorf("weight params: %w", err)
	}
	for _, z := range wp.ZeroPoints {
		if z != 0 {
			return nil, errors.New("weight params: non-zero zero point (weights must be symmetric)")
		}
	}
	if wp.QMin < -128 || wp.QMax > 127 {
		return nil, fmt.Errorf("weight params: range [%d, %d] does not fit int8", wp.QMin, wp.QMax)
	}
	q := make([]int32, len(w))
	if err := quant.Quantize(q, w, shape, wp); err != nil {
		return nil, fmt.Errorf("weight: %w", err)
	}
	t := make([]int8, len(w)) // transpose to [Out, In] for the kernels
	for r := 0; r < l.In; r++ {
		for c := 0; c < l.Out; c++ {
			t[c*l.In+r] = int8(q[r*l.Out+c])
		}
	}
	switch {
	case cfg.Weight.Bits <= 2:
		ql.Packed = make([]byte, quant.PackedLen2(len(t)))
		if err := quant.PackInt2(ql.Packed, t); err != nil {
			return nil, fmt.Errorf("weight: %w", err)
		}
	case cfg.Weight.Bits <= 4:
		ql.Packed = make([]byte, quant.PackedLen(len(t)))
		if err := quant.PackInt4(ql.Packed, t); err != nil {
			return nil, fmt.Errorf("weight: %w", err)
		}
	default:
		ql.Weights = t
	}
	ql.WeightScales = append([]float32(nil), wp.Scales...)

	if cfg.Mode == Dynamic {
		ql.BiasF = append([]float32(nil), l.Bias()...)
		return ql, nil
	}
	ip := plan.Inputs[i]
	if err := ip.Validate(); err != nil {
		return nil, fmt.Errorf("input params: %w", err)
	}
	if len(ip.Scales) != 1 || ip.QMin < 0 || ip.QMax > 255 {
		return nil, fmt.Errorf("input params: want per-tensor within [0, 255], got %d scales in [%d, %d]", len(ip.Scales), ip.QMin, ip.QMax)
	}
	ql.InScale, ql.InZP, ql.InQMin, ql.InQMax = ip.Scales[0], ip.ZeroPoints[0], ip.QMin, ip.QMax
	ql.Bias = make([]int32, l.Out)
	for o, b := range l.Bias() {
		// Bias at scale s_in·s_w (TFLite spec), rounded half to even, saturated to int32.
		s := float64(ql.InScale) * float64(ql.wscale(o))
		v := math.RoundToEven(float64(b) / s)
		if v < math.MinInt32 || v > math.MaxInt32 {
			return nil, fmt.Errorf("bias %d is %v = %g steps of s_in·s_w (%g), more than int32 holds", o, b, v, s)
		}
		ql.Bias[o] = int32(v)
	}
	return ql, nil
}

// wscale returns the weight scale of output channel o.
func (l *Layer) wscale(o int) float32 {
	if len(l.WeightScales) == 1 {
		return l.WeightScales[0]
	}
	return l.WeightScales[o]
}

// requantization derives the output stage of static layer i.
func (l *Layer) requantization(layers []*Layer, i int) error {
	if i == len(layers)-1 {
		l.LogitScale = make([]float32, l.Out)
		for o := range l.LogitScale {
			l.LogitScale[o] = l.InScale * l.wscale(o)
		}
		return nil
	}
	next := layers[i+1]
	l.OutScale, l.OutZP, l.OutQMin, l.OutQMax = next.InScale, next.InZP, next.InQMin, next.InQMax
	if l.ReLU {
		l.OutQMin = max(l.OutQMin, l.OutZP) // fused ReLU: nothing below real 0
	}
	l.Mult = make([]int32, l.Out)
	l.Shift = make([]int, l.Out)
	for o := range l.Mult {
		real := float64(l.InScale) * float64(l.wscale(o)) / float64(l.OutScale)
		m, sh, err := quant.QuantizeMultiplier(real)
		if err != nil {
			return fmt.Errorf("requantization multiplier %d: %w", o, err)
		}
		if sh < -31 {
			m, sh = 0, 0 // a multiplier below 2^-32 rounds every accumulator to 0
		}
		if sh > 30 {
			return fmt.Errorf("requantization multiplier %g is too large (input scale %g, output scale %g)", real, l.InScale, l.OutScale)
		}
		l.Mult[o], l.Shift[o] = m, sh
	}
	return nil
}

// WeightBytes is the stored size of the model: weights (packed for 4 bits), biases, weight
// scales and zero points, and each layer's activation scale and zero point. Requantization
// multipliers are derived from the scales and not counted.
func (m *Model) WeightBytes() int {
	n := 0
	for _, l := range m.Layers {
		n += l.kern.Bytes() + 4*l.Out + 8*len(l.WeightScales)
		if m.Config.Mode == Static {
			n += 8
		}
	}
	return n
}
