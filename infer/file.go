package infer

import (
	"fmt"

	"tinyq/modelfile"
	"tinyq/quant"
	"tinyq/safetensors"
)

// Load reads any model file the runtime runs: a float model (fp32 or fp16), a QAT model
// (run as its float fake-quant simulation) or an integer model. The file is checked
// completely (docs/FORMAT.md); a problem is an error naming the file.
func Load(path string) (Model, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, modelfile.WrapFile("infer", path, err)
	}
	m, err := decode(f)
	if err != nil {
		return nil, modelfile.WrapFile("infer", path, err)
	}
	return m, nil
}

// Decode builds a model from a decoded file (see Load).
func Decode(f *safetensors.File) (Model, error) {
	m, err := decode(f)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	return m, nil
}

func decode(f *safetensors.File) (Model, error) {
	// The kind chooses the schema; each decoder checks the whole header (an unknown kind is
	// reported by ReadInfo, after the version).
	switch modelfile.Kind(f.Metadata[modelfile.KeyKind]) {
	case modelfile.Int:
		mf, err := modelfile.DecodeInt(f)
		if err != nil {
			return nil, err
		}
		return intModel(mf)
	case modelfile.QAT:
		qf, err := modelfile.DecodeQAT(f, modelfile.QAT)
		if err != nil {
			return nil, err
		}
		return qatModel(qf)
	case modelfile.Float:
		ff, err := modelfile.DecodeFloat(f, modelfile.Float)
		if err != nil {
			return nil, err
		}
		return floatModel(ff, nil)
	}
	_, err := modelfile.ReadInfo(f, modelfile.Float, modelfile.QAT, modelfile.Int)
	if err == nil { // cannot happen: ReadInfo refuses every other kind
		err = fmt.Errorf("kind %q", f.Metadata[modelfile.KeyKind])
	}
	return nil, err
}

// LoadInt reads an integer model file.
func LoadInt(path string) (*IntModel, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, modelfile.WrapFile("infer", path, err)
	}
	mf, err := modelfile.DecodeInt(f)
	if err == nil {
		var m *IntModel
		if m, err = intModel(mf); err == nil {
			return m, nil
		}
	}
	return nil, modelfile.WrapFile("infer", path, err)
}

// floatModel builds the runtime's float model of a float file's content, folding each
// BatchNorm into the unit before it (FoldBatchNorm).
func floatModel(ff modelfile.FloatFile, sim *Simulation) (*FloatModel, error) {
	us, err := ff.Info.Units()
	if err != nil {
		return nil, err
	}
	var layers []FloatLayer
	for i, u := range us {
		in, out, conv, pool, relu := UnitWindows(u)
		w, b := ff.Params.Weights[i], ff.Params.Biases[i]
		if ff.Params.BatchNorms != nil && ff.Params.BatchNorms[i] != nil {
			if w, b, err = FoldBatchNorm(w, b, in, out, *ff.Params.BatchNorms[i]); err != nil {
				return nil, fmt.Errorf("layer %s: %w", modelfile.LayerName(i), err)
			}
		}
		layers = append(layers, FloatLayer{
			Name: modelfile.LayerName(i), In: in, Out: out, ReLU: relu, Conv: conv, Pool: pool, W: w, B: b,
		})
	}
	prec := F32
	if ff.Params.Half {
		prec = F16
	}
	m, err := NewFloatModel(prec, layers, sim)
	if err != nil {
		return nil, err
	}
	m.input = ff.Info.Input
	return m, nil
}

// floatFile returns what a float file holds of m (the parameters shared, not copied): an
// MLP's layers (format version 2), or for a model with convolutions its architecture
// (version 4; any BatchNorm is folded already).
func floatFile(m *FloatModel, training string) modelfile.FloatFile {
	ff := modelfile.FloatFile{Info: modelfile.Info{Arch: modelfile.Arch{Sizes: []int{m.Layers[0].InSize()}}, Input: m.input, Training: training}}
	if a := m.Arch(); !a.IsMLP() {
		ff.Info.Net = a
	}
	ff.Params.Half = m.Precision == F16
	for _, l := range m.Layers {
		ff.Info.Arch.Sizes = append(ff.Info.Arch.Sizes, l.Out)
		ff.Info.Arch.Activations = append(ff.Info.Arch.Activations, activation(l.ReLU))
		ff.Params.Weights = append(ff.Params.Weights, l.W)
		ff.Params.Biases = append(ff.Params.Biases, l.B)
	}
	return ff
}

// qatModel builds a QAT file's float simulation. Only the weight and activation specs
// decide the simulation; the training settings beside them are informative here
// (docs/FORMAT.md section 3).
func qatModel(qf modelfile.QATFile) (*FloatModel, error) {
	q := qf.Quant
	sim := &Simulation{Name: quant.Widths{Weight: q.Weight.Bits, Activation: q.Activation.Bits}.String(), Weights: qf.Weights, Inputs: qf.Inputs}
	m, err := floatModel(qf.FloatFile, sim)
	if err != nil {
		return nil, err
	}
	if err := CheckScales(m); err != nil {
		return nil, err
	}
	return m, nil
}

// SaveFloat writes a float model (fp32 or fp16 by its Precision; a modelfile.FloatFile). A
// simulation cannot be saved here: its QAT model is saved by the qat package. training is
// the training configuration as JSON (may be "").
func SaveFloat(path string, m *FloatModel, training string) error {
	fail := func(err error) error { return modelfile.WrapFile("infer", path, err) }
	if m.Sim != nil {
		return fail(fmt.Errorf("a QAT simulation is saved as a QAT model (qat.Save)"))
	}
	f, err := floatFile(m, training).Encode(modelfile.Float)
	if err != nil {
		return fail(err)
	}
	return modelfile.Write(path, f)
}

func activation(relu bool) string {
	if relu {
		return "relu"
	}
	return "identity"
}

// SaveInt writes an integer model (a modelfile.IntFile): weights [out, in] as I8, or U8
// bytes packed as quant.PackingFor says; F32 scales, I32 zero points, I32 biases (static) or
// F32 (dynamic). training is the training configuration as JSON (may be "").
func SaveInt(path string, m *IntModel, training string) error {
	cfg := m.Config
	mf := modelfile.IntFile{
		Info: modelfile.Info{Arch: modelfile.Arch{Sizes: []int{m.Layers[0].InSize()}}, Input: m.input, Training: training},
		// The file's weight and activation specs carry every layer's scheme and granularity
		// (the layers differ only in widths); with per-layer widths, layer_bits the widths.
		Quant: modelfile.IntQuant{Mode: cfg.Mode.String(), Weight: cfg.Spec.Layer(0).Weight, Calibration: m.Calibration},
	}
	if a := m.Arch(); !a.IsMLP() {
		mf.Info.Net = a // format version 4
	}
	if cfg.Mode == Static {
		mf.Quant.Activation = cfg.Spec.Layer(0).Activation
	}
	if cfg.Spec.PerLayer() {
		mf.Quant.LayerBits = cfg.Spec.Widths()
	}
	for _, l := range m.Layers {
		mf.Info.Arch.Sizes = append(mf.Info.Arch.Sizes, l.Out)
		mf.Info.Arch.Activations = append(mf.Info.Arch.Activations, activation(l.ReLU))
		mf.Layers = append(mf.Layers, modelfile.IntLayer{
			Weights: l.Weights, WeightScales: l.WeightScales,
			Bias: l.Bias, InScale: l.InScale, InZP: l.InZP, InQMin: l.InQMin, InQMax: l.InQMax,
			BiasF: l.BiasF,
		})
	}
	f, err := mf.Encode()
	if err != nil {
		return modelfile.WrapFile("infer", path, err)
	}
	return modelfile.Write(path, f)
}

// intModel builds the runtime's integer model of an integer file's content.
func intModel(mf modelfile.IntFile) (*IntModel, error) {
	q := mf.Quant
	mode, err := ParseMode(q.Mode)
	if err != nil {
		return nil, err
	}
	widths := []quant.Widths{{Weight: q.Weight.Bits, Activation: q.Activation.Bits}}
	if mode == Dynamic {
		widths[0].Activation = 8 // quantized per row at run time
	}
	if q.LayerBits != nil {
		widths = q.LayerBits
	}
	spec := quant.Uniform(quant.LayerSpecFor(widths[0], q.Weight.Granularity)).WithWidths(widths)
	cfg := IntConfig{Mode: mode, Spec: spec}
	us, err := mf.Info.Units()
	if err != nil {
		return nil, err
	}
	var layers []*IntLayer
	for i, fl := range mf.Layers {
		in, out, conv, pool, relu := UnitWindows(us[i])
		layers = append(layers, &IntLayer{
			Name: modelfile.LayerName(i), In: in, Out: out, ReLU: relu, Conv: conv, Pool: pool,
			Weights: fl.Weights, WeightScales: fl.WeightScales,
			Bias: fl.Bias, InScale: fl.InScale, InZP: fl.InZP, InQMin: fl.InQMin, InQMax: fl.InQMax,
			BiasF: fl.BiasF,
		})
	}
	m, err := NewIntModel(cfg, layers)
	if err != nil {
		return nil, err
	}
	m.Calibration = q.Calibration
	m.input = mf.Info.Input
	if err := CheckScales(m); err != nil {
		return nil, err
	}
	return m, nil
}
