package ptq

import (
	"errors"
	"fmt"

	"tinyq/infer"
	"tinyq/quant"
)

// Plan carries quantization parameters chosen elsewhere into Convert.
type Plan struct {
	// Inputs are the parameters of each layer's input (Static mode): from Calibrate, or the
	// ranges a QAT model observed or learned. Ignored in Dynamic mode.
	Inputs []quant.Params
	// Weights, if set, are the parameters of each layer's weight (a QAT model's); otherwise
	// they are chosen from each weight's own values with the layer's weight spec, as
	// Config.WeightRange says (WeightParams).
	Weights []quant.Params
	// Calibration names where the input ranges came from, recorded in the model (default:
	// the observer's name, followed by "; weights mse" when Config.WeightRange is MSE).
	Calibration string
}

// Convert returns an integer version of the float model m, with m's input record; m is not
// modified. Parameters in plan must be those of cfg's specs (the same integer ranges and
// granularity): a 4-bit range in an 8-bit configuration is an error, never a mislabelled
// model. Calibrate with the same cfg gives the input ranges. An fp16 model is converted from
// its (widened) values; a QAT simulation is refused (qat.Model.Convert converts QAT models).
func Convert(m *infer.FloatModel, cfg Config, plan Plan) (*infer.IntModel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkModel(m); err != nil {
		return nil, fmt.Errorf("ptq: convert: %w", err)
	}
	nl := len(m.Layers)
	if err := CheckDynamic(m, cfg.Mode); err != nil {
		return nil, fmt.Errorf("ptq: convert: %w", err)
	}
	if cfg.Mode == Static && len(plan.Inputs) != nl {
		return nil, fmt.Errorf("ptq: convert: %d input ranges for %d layers (calibrate first)", len(plan.Inputs), nl)
	}
	if plan.Weights != nil && len(plan.Weights) != nl {
		return nil, fmt.Errorf("ptq: convert: %d weight parameter sets for %d layers", len(plan.Weights), nl)
	}
	if err := cfg.Spec.CheckLayers(nl); err != nil {
		return nil, fmt.Errorf("ptq: convert: %w", err)
	}
	var layers []*infer.IntLayer
	for i, l := range m.Layers {
		ql, err := convertLayer(l, cfg, i, plan)
		if err != nil {
			return nil, fmt.Errorf("ptq: convert %s: %w", l.Name, err)
		}
		layers = append(layers, ql)
	}
	im, err := infer.NewIntModel(cfg.Runtime(), layers)
	if err != nil {
		return nil, fmt.Errorf("ptq: convert: %w", err)
	}
	if err := im.SetInput(m.Input()); err != nil {
		return nil, fmt.Errorf("ptq: convert: %w", err)
	}
	im.Calibration = plan.Calibration
	if im.Calibration == "" && cfg.Mode == Static {
		k := cfg.Observer.Kind
		if k == 0 {
			k = quant.MinMaxObserver
		}
		im.Calibration = k.String()
		if plan.Weights == nil && cfg.WeightRange == quant.MSEObserver {
			im.Calibration += "; weights mse"
		}
	}
	return im, nil
}

// checkPlanParams reports parameters that do not belong to spec: another integer range
// (another bit width or scheme) or another number of scales.
func checkPlanParams(what string, p quant.Params, spec quant.Spec, channels int) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s params: %w", what, err)
	}
	qmin, qmax := spec.QRange()
	if p.QMin != qmin || p.QMax != qmax {
		return fmt.Errorf("%s params have integer range [%d, %d], the configuration's %v has [%d, %d]", what, p.QMin, p.QMax, spec, qmin, qmax)
	}
	want := 1
	if spec.Granularity == quant.PerChannel {
		want = channels
	}
	if len(p.Scales) != want {
		return fmt.Errorf("%s params have %d scales, the configuration's %v needs %d", what, len(p.Scales), spec, want)
	}
	return nil
}

func convertLayer(l infer.FloatLayer, c Config, i int, plan Plan) (*infer.IntLayer, error) {
	mode, cfg := c.Mode, c.Spec.Layer(i)
	if len(l.W) != l.In*l.Out || len(l.B) != l.Out {
		return nil, fmt.Errorf("%d weights and %d biases for %dx%d", len(l.W), len(l.B), l.In, l.Out)
	}
	ql := &infer.IntLayer{Name: l.Name, In: l.In, Out: l.Out, ReLU: l.ReLU, Conv: l.Conv, Pool: l.Pool}
	w := l.W // [In, Out]
	shape := []int{l.In, l.Out}
	var wp quant.Params
	if plan.Weights != nil {
		wp = plan.Weights[i]
	} else {
		var err error
		if wp, err = WeightParams(l, cfg.Weight, c.WeightRange); err != nil {
			return nil, err
		}
	}
	if err := checkPlanParams("weight", wp, cfg.Weight, l.Out); err != nil {
		return nil, err
	}
	for _, z := range wp.ZeroPoints {
		if z != 0 {
			return nil, errors.New("weight params: non-zero zero point (weights must be symmetric)")
		}
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
	pk, err := quant.PackingFor(cfg.Weight.Bits)
	if err != nil {
		return nil, err
	}
	ql.Weights = make([]byte, pk.Len(len(t)))
	if err := pk.Pack(ql.Weights, t); err != nil {
		return nil, fmt.Errorf("weight: %w", err)
	}
	ql.WeightScales = append([]float32(nil), wp.Scales...)

	if mode == Dynamic {
		ql.BiasF = append([]float32(nil), l.B...)
		return ql, nil
	}
	ip := plan.Inputs[i]
	if err := checkPlanParams("input", ip, cfg.Activation, 1); err != nil {
		return nil, err
	}
	ql.InScale, ql.InZP, ql.InQMin, ql.InQMax = ip.Scales[0], ip.ZeroPoints[0], ip.QMin, ip.QMax
	ql.Bias = make([]int32, l.Out)
	if err := quant.QuantizeBias(ql.Bias, l.B, ql.InScale, ql.WeightScales); err != nil {
		return nil, fmt.Errorf("bias: %w", err)
	}
	return ql, nil
}

// WeightParams returns the parameters Convert gives layer l's weight under spec when no QAT
// model supplies them: from the weight's own range (per output channel or per tensor), its
// min/max for quant.MinMaxObserver (or 0), its MSE-clipped range (quant.MSERanges) for
// quant.MSEObserver.
func WeightParams(l infer.FloatLayer, spec quant.Spec, kind quant.ObserverKind) (quant.Params, error) {
	ranges := quant.MinMax
	switch kind {
	case 0, quant.MinMaxObserver:
	case quant.MSEObserver:
		ranges = quant.MSERanges
	default:
		return quant.Params{}, fmt.Errorf("weight range %v, want minmax or mse", kind)
	}
	mins, maxs, err := ranges(l.W, []int{l.In, l.Out}, spec)
	if err != nil {
		return quant.Params{}, fmt.Errorf("weight: %w", err)
	}
	wp, err := quant.ChooseParams(spec, mins, maxs)
	if err != nil {
		return quant.Params{}, fmt.Errorf("weight: %w", err)
	}
	return wp, nil
}

// CheckDynamic reports whether mode applies to m: Dynamic mode (activation scales per input
// row at run time, PyTorch's quantize_dynamic) quantizes fully connected layers only, as in
// PyTorch, so a model with convolutions is refused; Static applies to every model.
func CheckDynamic(m *infer.FloatModel, mode Mode) error {
	if mode != Dynamic {
		return nil
	}
	for _, l := range m.Layers {
		if l.Conv.Kernel != 0 {
			return fmt.Errorf("dynamic mode quantizes fully connected layers only; %s is a convolution (use static mode)", l.Name)
		}
	}
	return nil
}
