package infer

import (
	"errors"
	"fmt"
	"math"

	"tinyq/arch"
	"tinyq/qkernel"
	"tinyq/quant"
)

// Mode says where an integer model's activation scales come from.
type Mode int

const (
	// Static activations use scales calibrated offline; everything between quantizing the
	// input and dequantizing the logits is integer arithmetic.
	Static Mode = iota + 1
	// Dynamic activations are quantized per input row at run time from the row's own range;
	// each layer's output is dequantized to float32 (PyTorch's dynamic quantization).
	Dynamic
)

// String returns "static" or "dynamic".
func (m Mode) String() string {
	switch m {
	case Static:
		return "static"
	case Dynamic:
		return "dynamic"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "static" or "dynamic".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "static":
		return Static, nil
	case "dynamic":
		return Dynamic, nil
	}
	return 0, fmt.Errorf("infer: mode %q, want static or dynamic", s)
}

// IntConfig is what the runtime needs to know about an integer model as a whole.
type IntConfig struct {
	Mode Mode
	// Spec is how each layer is quantized (quant.ModelSpec: one layer spec for every layer,
	// or one per layer, mixed precision, Static mode only). Weights are symmetric: q in
	// [-(2^(b-1)-1), 2^(b-1)-1], zero point 0, stored as quant.PackingFor says, with one scale
	// per output channel (PerChannel) or per layer. Layer inputs are affine per tensor (uint8
	// storage, q in [0, 2^b-1]) in Static mode; Dynamic mode quantizes them to 8 bits per row
	// at run time, so its activation widths are 8.
	Spec quant.ModelSpec
}

// Validate reports the first inconsistent setting.
func (c IntConfig) Validate() error {
	if c.Mode != Static && c.Mode != Dynamic {
		return fmt.Errorf("infer: mode %v, want Static or Dynamic", c.Mode)
	}
	if err := c.Spec.Validate(); err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	l := c.Spec.Layer(0) // the layers differ only in widths
	if l.Weight.Scheme != quant.Symmetric {
		return fmt.Errorf("infer: weight spec %v, want symmetric", l.Weight)
	}
	if l.Activation.Scheme != quant.Affine || l.Activation.Granularity != quant.PerTensor {
		return fmt.Errorf("infer: activation spec %v, want affine per-tensor", l.Activation)
	}
	if c.Mode == Dynamic {
		if c.Spec.PerLayer() {
			return errors.New("infer: per-layer widths need static mode")
		}
		if l.Activation.Bits != 8 {
			return fmt.Errorf("infer: dynamic mode quantizes activations to 8 bits per row, not %d", l.Activation.Bits)
		}
	}
	return nil
}

// PerChannel reports whether weights have one scale per output channel (otherwise one per
// layer).
func (c IntConfig) PerChannel() bool { return c.Spec.Layer(0).Weight.Granularity == quant.PerChannel }

// Name returns the variant name, e.g. "w8a8-static", "w4a4-static-per-tensor",
// "w8-dynamic", or with per-layer widths "w2a8-w4a8-w8a8-static".
func (c IntConfig) Name() string {
	n := c.Spec.Name() + "-static"
	if c.Mode == Dynamic {
		n = c.Spec.WeightName() + "-dynamic"
	}
	if !c.PerChannel() {
		n += "-per-tensor"
	}
	return n
}

// IntLayer is one layer of an integer model (one arch.Unit): a fully connected layer, or
// with Conv set a convolution over NHWC uint8 images whose padding is the input's zero
// point (qkernel.(*Weights).Conv); then ReLU if set (fused into the requantization); then
// a max pooling if Pool is set, on the requantized uint8 values (exact: requantization is
// monotonic). The stored fields are what a file holds; the derived ones are computed by
// NewIntModel.
type IntLayer struct {
	Name    string
	In, Out int // the weight matrix's shape [Out, In]: In is the patch length for a convolution
	ReLU    bool

	// Conv is the convolution's window over the layer's input image (Conv.PatchLen() = In);
	// the zero Window means a fully connected layer. Weights are then [Out, KH, KW, C].
	Conv arch.Window
	// Pool is the max pooling after the activation, over the layer's output image; the
	// zero Window means none. The last layer has none (its output is the logits).
	Pool arch.Window

	// Weights are the quantized weights [Out, In], row-major, stored as
	// quant.PackingFor(the layer's weight width) says: one int8 per byte, two int4 per byte (low nibble
	// first) or four int2 per byte (lowest bits first).
	Weights      []byte
	WeightScales []float32 // [Out] per channel, or [1] per tensor

	InScale float32 // Static: scale and zero point of this layer's uint8 input
	InZP    int32
	InQMin  int32 // Static: the input's integer range
	InQMax  int32

	Bias  []int32   // Static: bias at scale InScale·WeightScales[o]
	BiasF []float32 // Dynamic: float bias

	// Derived by NewIntModel (not stored).
	// Static, hidden layers: requantization to the next layer's input, out = OutZP +
	// M[o]·(acc + Bias[o]) with M[o] = InScale·WeightScales[o]/OutScale = Mult[o]·2^(Shift[o]-31),
	// rounded once (quant.MultiplyByQuantizedMultiplier), clamped to [OutQMin, OutQMax]
	// (OutQMin = OutZP fuses the ReLU).
	OutScale         float32
	OutZP            int32
	OutQMin, OutQMax int32
	Mult             []int32
	Shift            []int

	// Static, last layer: logits = float32(acc + Bias[o]) · LogitScale[o].
	LogitScale []float32

	kern *qkernel.Weights
	req  *qkernel.Requantizer // Static, hidden layers: the requantization, prepared
	inZP []int32              // {InZP}, the zero point as Accumulate takes it
	geom geometry
}

// InSize returns the values one sample of the layer's input has: In for a fully connected
// layer, H·W·C for a convolution.
func (l *IntLayer) InSize() int {
	g, _ := layerGeometry(l.In, l.Out, l.Conv, l.Pool)
	return g.in
}

// OutSize returns the values one sample of the layer's output has (after the pooling).
func (l *IntLayer) OutSize() int {
	g, _ := layerGeometry(l.In, l.Out, l.Conv, l.Pool)
	return g.out
}

// Unit returns the layer as an arch.Unit (Layer and BatchNorm are 0 and -1).
func (l *IntLayer) Unit() arch.Unit { return layerUnit(l.In, l.Out, l.Conv, l.Pool, l.ReLU) }

// Arch returns the model's architecture (see FloatModel.Arch).
func (m *IntModel) Arch() arch.Arch {
	us := make([]arch.Unit, len(m.Layers))
	for i, l := range m.Layers {
		us[i] = l.Unit()
	}
	return unitArch(us)
}

// IntModel is an integer model: what ptq.Convert produces and an "int" file holds. It is
// immutable after NewIntModel and its Forward is safe for concurrent use.
type IntModel struct {
	Config IntConfig
	Layers []*IntLayer
	// Calibration names how the activation ranges were chosen (for example "minmax", "mse"
	// or "qat"); it is recorded in files and reports only.
	Calibration string
	// Workers is the number of goroutines Forward spreads rows over (<= 0: GOMAXPROCS).
	Workers int

	input Input
}

// NewIntModel assembles an integer model from stored layers (as a converter produces them or
// a file holds them): it checks them and derives what the runtime needs (kernels,
// requantization multipliers and shifts, logit scales). The layers are used, not copied.
func NewIntModel(cfg IntConfig, layers []*IntLayer) (*IntModel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		return nil, errors.New("infer: model has no layers")
	}
	if err := cfg.Spec.CheckLayers(len(layers)); err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	for i, l := range layers {
		if err := l.prepare(cfg, i, layers); err != nil {
			return nil, fmt.Errorf("infer: layer %s: %w", l.Name, err)
		}
	}
	return &IntModel{Config: cfg, Layers: layers, input: DefaultInput(layers[0].InSize())}, nil
}

// MaxIn is the widest layer input the runtime accepts: the int32 accumulator must hold In
// products of |q_in - zp| <= 255 and |q_w| <= 128, so In <= (2^31-1)/(255·128) = 65793.
const MaxIn = (1<<31 - 1) / (255 * 128)

// prepare checks layer i and derives its kernel and output stage.
func (l *IntLayer) prepare(cfg IntConfig, i int, layers []*IntLayer) error {
	g, err := layerGeometry(l.In, l.Out, l.Conv, l.Pool)
	if err != nil {
		return err
	}
	if i > 0 && layers[i-1].OutSize() != g.in {
		return fmt.Errorf("size %dx%d (%d inputs per sample) does not follow the previous layer", l.In, l.Out, g.in)
	}
	l.geom = g
	if i == len(layers)-1 && (l.Conv != (arch.Window{}) || l.Pool != (arch.Window{})) {
		return errors.New("the last layer must be fully connected without pooling (its output is the logits)")
	}
	if cfg.Mode == Dynamic && (l.Conv != (arch.Window{}) || l.Pool != (arch.Window{})) {
		return errors.New("dynamic quantization applies to fully connected layers only (as PyTorch's): quantize a convolutional model statically")
	}
	if l.In > MaxIn {
		return fmt.Errorf("%d inputs: an int32 accumulator holds at most %d products of 255·128", l.In, MaxIn)
	}
	nscales := 1
	if cfg.PerChannel() {
		nscales = l.Out
	}
	if len(l.WeightScales) != nscales {
		return fmt.Errorf("%d weight scales for %d outputs (per channel: %t)", len(l.WeightScales), l.Out, cfg.PerChannel())
	}
	for o, s := range l.WeightScales {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("weight scale %d is %v, want finite and > 0", o, s)
		}
	}
	ls := cfg.Spec.Layer(i)
	ws := ls.Weight
	pk, err := quant.PackingFor(ws.Bits)
	if err != nil {
		return err
	}
	if want := pk.Len(l.In * l.Out); len(l.Weights) != want {
		return fmt.Errorf("%d weight bytes, want %d (%d x %d %s)", len(l.Weights), want, l.Out, l.In, pk)
	}
	w, err := l.Unpacked(ws.Bits)
	if err != nil {
		return err
	}
	qmin, qmax := ws.QRange()
	for k, v := range w {
		if int32(v) < qmin || int32(v) > qmax {
			return fmt.Errorf("weight %d is %d, outside [%d, %d]", k, v, qmin, qmax)
		}
	}
	if l.kern, err = qkernel.NewWeightsPacked(pk, l.Weights, l.Out, l.In); err != nil {
		return err
	}
	if cfg.Mode == Dynamic {
		if len(l.BiasF) != l.Out {
			return fmt.Errorf("%d float biases, want %d", len(l.BiasF), l.Out)
		}
		if o := quant.FirstNonFinite(l.BiasF); o >= 0 {
			return fmt.Errorf("bias %d is %v", o, l.BiasF[o])
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
	as := ls.Activation
	if amin, amax := as.QRange(); l.InQMin != amin || l.InQMax != amax {
		return fmt.Errorf("input range [%d, %d] for %d-bit activations [%d, %d]", l.InQMin, l.InQMax, as.Bits, amin, amax)
	}
	l.inZP = []int32{l.InZP}
	return l.requantization(layers, i)
}

// Unpacked returns the layer's weights as int8 [Out, In].
func (l *IntLayer) Unpacked(bits int) ([]int8, error) {
	pk, err := quant.PackingFor(bits)
	if err != nil {
		return nil, err
	}
	w := make([]int8, l.In*l.Out)
	return w, pk.Unpack(w, l.Weights)
}

// WeightScale returns the weight scale of output channel o.
func (l *IntLayer) WeightScale(o int) float32 {
	if len(l.WeightScales) == 1 {
		return l.WeightScales[0]
	}
	return l.WeightScales[o]
}

// requantization derives the output stage of static layer i.
func (l *IntLayer) requantization(layers []*IntLayer, i int) error {
	if i == len(layers)-1 {
		l.LogitScale = make([]float32, l.Out)
		for o := range l.LogitScale {
			l.LogitScale[o] = l.InScale * l.WeightScale(o)
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
		real := float64(l.InScale) * float64(l.WeightScale(o)) / float64(l.OutScale)
		m, sh, err := quant.QuantizeMultiplier(real)
		if err != nil {
			return fmt.Errorf("requantization multiplier %d: %w", o, err)
		}
		if sh > 30 {
			return fmt.Errorf("requantization multiplier %g is too large (input scale %g, output scale %g)", real, l.InScale, l.OutScale)
		}
		l.Mult[o], l.Shift[o] = m, sh
	}
	// Constants qkernel refuses (a later layer's bad input record, which that layer's own
	// checks name) leave req nil: the forward then calls qkernel.Requantize, which
	// reports them, as before.
	l.req, _ = qkernel.NewRequantizer(l.Out, l.Bias, l.Mult, l.Shift, l.OutZP, l.OutQMin, l.OutQMax)
	return nil
}

// requantize requantizes rows rows of accumulators into dst.
func (l *IntLayer) requantize(dst []uint8, acc []int32, rows int) error {
	if l.req == nil {
		return qkernel.Requantize(dst, acc, rows, l.Out, l.Bias, l.Mult, l.Shift, l.OutZP, l.OutQMin, l.OutQMax)
	}
	return l.req.Apply(dst, acc, rows)
}

// WeightBytes is the stored size of the model: weights (packed below 5 bits), biases, weight
// scales and zero points, and each layer's activation scale and zero point. Requantization
// multipliers are derived from the scales and not counted.
func (m *IntModel) WeightBytes() int {
	n := 0
	for _, l := range m.Layers {
		n += layerBytes(len(l.Weights), l.Out, len(l.WeightScales), m.Config.Mode)
	}
	return n
}

// LayerBytes is what an in x out layer with bits-bit weights adds to IntModel.WeightBytes:
// its packed weights, int32 biases, a float32 scale and int32 zero point per weight scale,
// and in Static mode its input's scale and zero point. It sizes models not yet built (mixed
// precision searches).
func LayerBytes(in, out, bits int, perChannel bool, mode Mode) (int, error) {
	pk, err := quant.PackingFor(bits)
	if err != nil {
		return 0, err
	}
	scales := 1
	if perChannel {
		scales = out
	}
	return layerBytes(pk.Len(in*out), out, scales, mode), nil
}

func layerBytes(weightBytes, out, scales int, mode Mode) int {
	n := weightBytes + 4*out + 8*scales
	if mode == Static {
		n += 8
	}
	return n
}

// Shape returns the number of inputs and of output classes.
func (m *IntModel) Shape() (in, classes int) {
	return m.Layers[0].InSize(), m.Layers[len(m.Layers)-1].OutSize()
}

// Input returns how raw pixels become the model's input.
func (m *IntModel) Input() Input { return m.input }

// SetInput records how raw pixels become the model's input (saved with it). It refuses an
// input under which the model's scales are degenerate (CheckScales), for example one under
// which every pixel quantizes to the same integer.
func (m *IntModel) SetInput(in Input) error {
	if err := checkInput(in, m.Layers[0].InSize()); err != nil {
		return err
	}
	if err := m.checkScales(in); err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	m.input = in
	return nil
}

// Name returns "int " and the variant, e.g. "int w4a4-static".
func (m *IntModel) Name() string { return "int " + m.Config.Name() }

// Degenerate scales (docs/FORMAT.md section 10). A scale can be finite and > 0 and still
// make a model compute nothing: these are the rules, derived from the arithmetic of
// FORMAT.md section 7, in one place. The loader applies them to every integer and QAT model
// it reads (CheckScales); a converter can apply them to what it made.

// MinNormalScale is the smallest scale accepted anywhere: the smallest normal float32,
// 2^-126 ≈ 1.1754944e-38. Below it a float32 has fewer than 24 significant bits, and
// float32(x/s) overflows to ±Inf for every |x| >= s·2^128 (for s = 2^-149 ≈ 1.4e-45, every
// |x| >= 2^-21): quantizing saturates and dequantizing gives subnormal garbage. No tinyq
// writer produces one (every scale is at least quant.MinScale = 2^-23).
const MinNormalScale float32 = 0x1p-126

// MinDynamicWeightScale is the smallest weight scale of a dynamic model: the run-time
// product float32(s·s_w) (FORMAT.md 7.6), with s >= quant.MinScale = 2^-23, stays a normal
// float32 only if s_w >= 2^-126 / 2^-23 = 2^-103 ≈ 9.86e-32.
const MinDynamicWeightScale float32 = 0x1p-103

// scaleError reports a scale outside [lo, MaxFloat32] (finite), naming it.
func scaleError(name string, i int, s, lo float32) error {
	if s >= lo && s <= math.MaxFloat32 {
		return nil
	}
	return fmt.Errorf("tensor %s: element %d is %g, want a scale from %g to %g (a degenerate scale: docs/FORMAT.md section 10)", name, i, s, lo, math.MaxFloat32)
}

// CheckScales reports the first degenerate scale of an integer model or of a QAT model's
// simulation (a plain float model has none):
//
//   - every stored scale (weight and input) is a normal float32, at least MinNormalScale
//     (and a dynamic model's weight scales at least MinDynamicWeightScale);
//   - static, hidden layers: every requantization multiplier s_in·s_w/s_out is in
//     quant.QuantizeMultiplier's range: not flushed to 0 (real < 2^-32, where the channel
//     would output its zero point for every input) nor 2^30 or more (NewIntModel refuses
//     those);
//   - static, last layer: every logit scale float32(s_in·s_w) is a normal float32: below,
//     the logits lose precision and at 0 every logit is 0 for every image;
//   - the first layer's input quantization tells pixels apart: the brightest pixel,
//     float32(255/pixel_divisor), does not quantize to the zero point (otherwise every
//     pixel does, and every image gives the same logits).
func CheckScales(m Model) error {
	switch m := m.(type) {
	case *IntModel:
		return m.checkScales(m.input)
	case *FloatModel:
		return m.checkScales(m.input)
	}
	return nil
}

// checkScales is CheckScales for an integer model with the input record in.
func (m *IntModel) checkScales(in Input) error {
	lo := MinNormalScale
	if m.Config.Mode == Dynamic {
		lo = MinDynamicWeightScale
	}
	for i, l := range m.Layers {
		for o, s := range l.WeightScales {
			if err := scaleError(l.Name+".w.scale", o, s, lo); err != nil {
				return err
			}
		}
		if m.Config.Mode == Dynamic {
			continue
		}
		if err := scaleError(l.Name+".in.scale", 0, l.InScale, MinNormalScale); err != nil {
			return err
		}
		if i == 0 {
			if err := inputSteps(l.Name, in, l.InScale, l.InZP, l.InQMin, l.InQMax); err != nil {
				return err
			}
		}
		for o, mult := range l.Mult {
			if mult == 0 {
				real := float64(l.InScale) * float64(l.WeightScale(o)) / float64(l.OutScale)
				return fmt.Errorf("layer %s: requantization multiplier %d is %g = %s.in.scale·%s.w.scale/%s.in.scale, below 2^-32: it flushes to 0 and the channel outputs its zero point for every input (a degenerate scale: docs/FORMAT.md section 10)",
					l.Name, o, real, l.Name, l.Name, m.Layers[i+1].Name)
			}
		}
		for o, s := range l.LogitScale {
			if s < MinNormalScale || s > math.MaxFloat32 {
				return fmt.Errorf("layer %s: logit scale %d, float32(%s.in.scale·%s.w.scale) = %g, is not a normal float32 (%g to %g): the logits would be 0 or infinite (a degenerate scale: docs/FORMAT.md section 10)",
					l.Name, o, l.Name, l.Name, s, MinNormalScale, math.MaxFloat32)
			}
		}
	}
	return nil
}

// checkScales is CheckScales for a float model with the input record in: only a QAT
// simulation has scales.
func (m *FloatModel) checkScales(in Input) error {
	if m.Sim == nil {
		return nil
	}
	for i, l := range m.Layers {
		if m.Sim.Float(i) {
			continue
		}
		for o, s := range m.Sim.Weights[i].Scales {
			if err := scaleError(l.Name+".w.scale", o, s, MinNormalScale); err != nil {
				return err
			}
		}
		ip := m.Sim.Inputs[i]
		if err := scaleError(l.Name+".in.scale", 0, ip.Scales[0], MinNormalScale); err != nil {
			return err
		}
		if i == 0 {
			if err := inputSteps(l.Name, in, ip.Scales[0], ip.ZeroPoints[0], ip.QMin, ip.QMax); err != nil {
				return err
			}
		}
	}
	return nil
}

// inputSteps reports first-layer input parameters under which every pixel quantizes to the
// same integer: quantization is monotone, pixel 0 gives x = 0 and the zero point, so it is
// enough that the brightest pixel, x = float32(255/pixel_divisor), does too.
func inputSteps(layer string, in Input, s float32, zp, qmin, qmax int32) error {
	top := 255 / in.PixelDivisor
	if q := quant.QuantizeValue(top, s, zp, qmin, qmax); q != quant.QuantizeValue(0, s, zp, qmin, qmax) {
		return nil
	}
	return fmt.Errorf("tensor %s.in.scale: %g is too large for inputs from 0 to %g (255/pixel_divisor): every pixel quantizes to %d and every image gives the same logits (a degenerate scale: docs/FORMAT.md section 10)",
		layer, s, top, zp)
}
