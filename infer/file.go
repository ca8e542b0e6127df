package infer

import (
	"encoding/json"
	"fmt"
	"strconv"

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
		return nil, err
	}
	m, err := decode(f)
	if err != nil {
		return nil, fmt.Errorf("infer: %s: %w", path, err)
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
	info, err := modelfile.ReadInfo(f, modelfile.Float, modelfile.QAT, modelfile.Int)
	if err != nil {
		return nil, err
	}
	switch info.Kind {
	case modelfile.Int:
		return intFrom(f, info)
	case modelfile.QAT:
		return qatFrom(f, info)
	}
	return floatFrom(f, info, nil)
}

// LoadInt reads an integer model file.
func LoadInt(path string) (*IntModel, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, err
	}
	info, err := modelfile.ReadInfo(f, modelfile.Int)
	if err == nil {
		var m *IntModel
		if m, err = intFrom(f, info); err == nil {
			return m, nil
		}
	}
	return nil, fmt.Errorf("infer: %s: %w", path, err)
}

func floatLayers(f *safetensors.File, a modelfile.Arch) ([]FloatLayer, Precision, error) {
	p, err := modelfile.ReadFloatParams(f, a)
	if err != nil {
		return nil, 0, err
	}
	var layers []FloatLayer
	for i := range a.Activations {
		layers = append(layers, FloatLayer{
			Name: modelfile.LayerName(i), In: a.Sizes[i], Out: a.Sizes[i+1], ReLU: a.Activations[i] == "relu",
			W: p.Weights[i], B: p.Biases[i],
		})
	}
	prec := F32
	if p.Half {
		prec = F16
	}
	return layers, prec, nil
}

func floatFrom(f *safetensors.File, info modelfile.Info, sim *Simulation) (*FloatModel, error) {
	layers, prec, err := floatLayers(f, info.Arch)
	if err != nil {
		return nil, err
	}
	m, err := NewFloatModel(prec, layers, sim)
	if err != nil {
		return nil, err
	}
	m.input = info.Input
	return m, nil
}

// QATJSON is the quantization metadata of a QAT file: the fake-quant specs in the training
// layout (weights [in, out]: a per-channel weight has axis 1) and the training settings.
type QATJSON struct {
	Weight      modelfile.SpecJSON `json:"weight"`
	Activation  modelfile.SpecJSON `json:"activation"`
	Observer    string             `json:"observer,omitempty"`
	Freeze      int                `json:"freeze_observers_after"`
	LearnScales bool               `json:"learn_scales"`
	// LSQInit is where learned scales started ("meanabs"; absent: "range").
	LSQInit string `json:"lsq_init,omitempty"`
	// FixInputScale: with learned scales, the network input's scale was not learned.
	FixInputScale bool `json:"fix_input_scale,omitempty"`
}

// QATSpecs parses a QAT file's quantization metadata into the weight spec (per-channel
// along axis 1 of [in, out]) and the activation spec. Every field is type-checked: the
// training side, which continues the model with them, uses them all.
func QATSpecs(f *safetensors.File) (QATJSON, quant.Spec, quant.Spec, error) {
	var cj QATJSON
	if err := json.Unmarshal([]byte(f.Metadata[modelfile.KeyQuant]), &cj); err != nil {
		return cj, quant.Spec{}, quant.Spec{}, fmt.Errorf("quantization: %w", err)
	}
	w, a, err := qatSpecPair(cj.Weight, cj.Activation)
	return cj, w, a, err
}

// qatSpecPair checks and parses the weight and activation specs of a QAT file.
func qatSpecPair(wj, aj modelfile.SpecJSON) (quant.Spec, quant.Spec, error) {
	w, err := wj.Spec(1)
	if err != nil {
		return w, quant.Spec{}, fmt.Errorf("quantization: weight: %w", err)
	}
	a, err := aj.Spec(0)
	if err != nil {
		return w, a, fmt.Errorf("quantization: activation: %w", err)
	}
	if w.Scheme != quant.Symmetric || a.Scheme != quant.Affine || a.Granularity != quant.PerTensor {
		return w, a, fmt.Errorf("quantization: weight %v and activation %v, want symmetric weights and affine per-tensor activations", w, a)
	}
	return w, a, nil
}

// qatFrom reads a QAT file as its float simulation. Only the weight and activation specs
// decide the simulation; the training settings beside them are informative here and not
// read (docs/FORMAT.md section 3).
func qatFrom(f *safetensors.File, info modelfile.Info) (*FloatModel, error) {
	var cj struct {
		Weight     modelfile.SpecJSON `json:"weight"`
		Activation modelfile.SpecJSON `json:"activation"`
	}
	if err := json.Unmarshal([]byte(f.Metadata[modelfile.KeyQuant]), &cj); err != nil {
		return nil, fmt.Errorf("quantization: %w", err)
	}
	ws, as, err := qatSpecPair(cj.Weight, cj.Activation)
	if err != nil {
		return nil, err
	}
	if err := cj.Weight.CheckAxis(info.Version, 1); err != nil { // weights are stored [in, out]
		return nil, fmt.Errorf("quantization: weight: %w", err)
	}
	if err := cj.Activation.CheckAxis(info.Version, 0); err != nil {
		return nil, fmt.Errorf("quantization: activation: %w", err)
	}
	a := info.Arch
	sim := &Simulation{Name: fmt.Sprintf("w%da%d", ws.Bits, as.Bits)}
	wmin, wmax := ws.QRange()
	amin, amax := as.QRange()
	for i := range a.Activations {
		n := modelfile.LayerName(i)
		c, axis := 1, -1
		if ws.Granularity == quant.PerChannel {
			c, axis = a.Sizes[i+1], 1
		}
		wp, err := modelfile.ReadParams(f, n+".w", c, wmin, wmax, axis)
		if err != nil {
			return nil, err
		}
		for _, z := range wp.ZeroPoints {
			if z != 0 {
				return nil, fmt.Errorf("tensor %s.w.zero_point: %d, want 0 for symmetric weights", n, z)
			}
		}
		ip, err := modelfile.ReadParams(f, n+".in", 1, amin, amax, -1)
		if err != nil {
			return nil, err
		}
		sim.Weights = append(sim.Weights, wp)
		sim.Inputs = append(sim.Inputs, ip)
	}
	m, err := floatFrom(f, info, sim)
	if err != nil {
		return nil, err
	}
	if err := CheckScales(m); err != nil {
		return nil, err
	}
	return m, nil
}

// SaveFloat writes a float model (fp32 or fp16 by its Precision). A simulation cannot be
// saved here: its QAT model is saved by the qat package. training is the training
// configuration as JSON (may be "").
func SaveFloat(path string, m *FloatModel, training string) error {
	fail := func(err error) error { return fmt.Errorf("infer: %s: %w", path, err) }
	if m.Sim != nil {
		return fail(fmt.Errorf("a QAT simulation is saved as a QAT model (qat.Save)"))
	}
	arch := modelfile.Arch{Sizes: []int{m.Layers[0].In}}
	p := modelfile.FloatParams{Half: m.Precision == F16}
	for _, l := range m.Layers {
		arch.Sizes = append(arch.Sizes, l.Out)
		arch.Activations = append(arch.Activations, activation(l.ReLU))
		p.Weights = append(p.Weights, l.W)
		p.Biases = append(p.Biases, l.B)
	}
	md, err := modelfile.Header(modelfile.Float, arch, m.input, training)
	if err != nil {
		return fail(err)
	}
	return modelfile.Write(path, &safetensors.File{Metadata: md, Tensors: modelfile.FloatTensors(nil, arch, p)})
}

func activation(relu bool) string {
	if relu {
		return "relu"
	}
	return "identity"
}

// intJSON is the quantization metadata of an integer file, as SaveInt writes it (intFrom
// reads it more leniently: informative values are not type-checked).
type intJSON struct {
	Mode       string              `json:"mode"`
	Weight     modelfile.SpecJSON  `json:"weight"`
	Activation *modelfile.SpecJSON `json:"activation,omitempty"` // static only (version 1: always)
	// Calibration says how activation ranges were chosen; version 1 called it observer.
	Calibration string `json:"calibration,omitempty"`
	Observer    string `json:"observer,omitempty"`
	// LayerBits (version 3) are per-layer [weight, activation] widths; weight and activation
	// then carry the widest, and each tensor's spec its own.
	LayerBits [][2]int `json:"layer_bits,omitempty"`
}

// SaveInt writes an integer model: weights [out, in] as I8, or U8 bytes packed as
// quant.PackingFor says; F32 scales, I32 zero points, I32 biases (static) or F32 (dynamic).
// training is the training configuration as JSON (may be "").
func SaveInt(path string, m *IntModel, training string) error {
	fail := func(err error) error { return fmt.Errorf("infer: %s: %w", path, err) }
	cfg := m.Config
	arch := modelfile.Arch{Sizes: []int{m.Layers[0].In}}
	for _, l := range m.Layers {
		arch.Sizes = append(arch.Sizes, l.Out)
		arch.Activations = append(arch.Activations, activation(l.ReLU))
	}
	md, err := modelfile.Header(modelfile.Int, arch, m.input, training)
	if err != nil {
		return fail(err)
	}
	gw, ga := cfg.WeightSpec(), cfg.ActivationSpec()
	if cfg.Mixed() {
		md[modelfile.KeyVersion] = strconv.Itoa(modelfile.MixedVersion)
		gw.Bits, ga.Bits = 0, 0
		for i := range m.Layers {
			gw.Bits = max(gw.Bits, cfg.LayerWeightSpec(i).Bits)
			ga.Bits = max(ga.Bits, cfg.LayerActivationSpec(i).Bits)
		}
	}
	ij := intJSON{Mode: cfg.Mode.String(), Weight: modelfile.ToSpecJSON(gw, 0), Calibration: m.Calibration, LayerBits: cfg.LayerBits}
	if cfg.Mode == Static {
		a := modelfile.ToSpecJSON(ga, 0)
		ij.Activation = &a
	}
	if md[modelfile.KeyQuant], err = modelfile.MarshalString(ij); err != nil {
		return fail(err)
	}
	specs := map[string]modelfile.SpecJSON{}
	var ts []safetensors.Tensor
	for i, l := range m.Layers {
		n := l.Name
		ws := modelfile.ToSpecJSON(cfg.LayerWeightSpec(i), 0)
		as := modelfile.ToSpecJSON(cfg.LayerActivationSpec(i), 0)
		pk, err := quant.PackingFor(cfg.LayerWeightSpec(i).Bits)
		if err != nil {
			return fail(err)
		}
		ws.LogicalShape = []int{l.Out, l.In}
		if pk == quant.PackedInt8 {
			ts = append(ts, safetensors.Tensor{Name: n + ".w", DType: safetensors.I8, Shape: []int{l.Out, l.In}, Data: append([]byte(nil), l.Weights...)})
		} else {
			ws.Packed, ws.PackedBits = true, pk.ValueBits()
			ts = append(ts, safetensors.FromU8(n+".w", []int{len(l.Weights)}, l.Weights))
		}
		specs[n+".w"] = ws
		ts = modelfile.ParamsTensors(ts, n+".w", quant.Params{Scales: l.WeightScales, ZeroPoints: make([]int32, len(l.WeightScales))})
		if cfg.Mode == Dynamic {
			ts = append(ts, safetensors.FromF32(n+".b", []int{l.Out}, l.BiasF))
			continue
		}
		specs[n+".in"] = as
		ts = append(ts, safetensors.FromI32(n+".b", []int{l.Out}, l.Bias))
		ts = modelfile.ParamsTensors(ts, n+".in", quant.Params{Scales: []float32{l.InScale}, ZeroPoints: []int32{l.InZP}})
		ts = append(ts, safetensors.FromI32(n+".in.qrange", []int{2}, []int32{l.InQMin, l.InQMax}))
	}
	if md[modelfile.KeySpecs], err = modelfile.MarshalString(specs); err != nil {
		return fail(err)
	}
	return modelfile.Write(path, &safetensors.File{Metadata: md, Tensors: ts})
}

func intFrom(f *safetensors.File, info modelfile.Info) (*IntModel, error) {
	// intJSON as read: calibration and observer are informative (kept when they are
	// strings, never type-checked); layer_bits entries must be exact pairs.
	var ij struct {
		Mode        string              `json:"mode"`
		Weight      modelfile.SpecJSON  `json:"weight"`
		Activation  *modelfile.SpecJSON `json:"activation"`
		Calibration json.RawMessage     `json:"calibration"`
		Observer    json.RawMessage     `json:"observer"`
		LayerBits   [][]int             `json:"layer_bits"`
	}
	if err := json.Unmarshal([]byte(f.Metadata[modelfile.KeyQuant]), &ij); err != nil {
		return nil, fmt.Errorf("quantization: %w", err)
	}
	var cfg IntConfig
	var err error
	if cfg.Mode, err = ParseMode(ij.Mode); err != nil {
		return nil, fmt.Errorf("quantization: %w", err)
	}
	ws, err := ij.Weight.Spec(0)
	if err == nil {
		err = ij.Weight.CheckAxis(info.Version, 0) // weights are stored [out, in]
	}
	if err != nil {
		return nil, fmt.Errorf("quantization: weight: %w", err)
	}
	if ws.Scheme != quant.Symmetric {
		return nil, fmt.Errorf("quantization: weight scheme %v, want symmetric", ws.Scheme)
	}
	cfg.WeightBits, cfg.PerChannel = ws.Bits, ws.Granularity == quant.PerChannel
	if ij.LayerBits != nil {
		if info.Version < modelfile.MixedVersion {
			return nil, fmt.Errorf("quantization: layer_bits in a format_version %d file (per-layer widths are version %d)", info.Version, modelfile.MixedVersion)
		}
		if len(ij.LayerBits) != len(info.Arch.Activations) {
			return nil, fmt.Errorf("quantization: %d layer_bits for %d layers", len(ij.LayerBits), len(info.Arch.Activations))
		}
		cfg.LayerBits, cfg.WeightBits = make([][2]int, len(ij.LayerBits)), 0
		for i, b := range ij.LayerBits {
			if len(b) != 2 {
				return nil, fmt.Errorf("quantization: layer_bits entry %d is %v, want a pair [weight bits, activation bits]", i+1, b)
			}
			cfg.LayerBits[i] = [2]int{b[0], b[1]}
		}
	}
	if cfg.Mode == Static {
		if ij.Activation == nil {
			return nil, fmt.Errorf("quantization: static model without an activation spec")
		}
		as, err := ij.Activation.Spec(0)
		if err == nil {
			err = ij.Activation.CheckAxis(info.Version, 0)
		}
		if err != nil {
			return nil, fmt.Errorf("quantization: activation: %w", err)
		}
		if as.Scheme != quant.Affine || as.Granularity != quant.PerTensor {
			return nil, fmt.Errorf("quantization: activation %v, want affine per-tensor", as)
		}
		if !cfg.Mixed() {
			cfg.ActivationBits = as.Bits
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := info.Arch
	var layers []*IntLayer
	for i := range a.Activations {
		n := modelfile.LayerName(i)
		in, out := a.Sizes[i], a.Sizes[i+1]
		l := &IntLayer{Name: n, In: in, Out: out, ReLU: a.Activations[i] == "relu"}
		pk, err := quant.PackingFor(cfg.LayerWeightSpec(i).Bits)
		if err != nil {
			return nil, err
		}
		if pk == quant.PackedInt8 {
			t, err := modelfile.Tensor(f, n+".w", safetensors.I8, out, in)
			if err != nil {
				return nil, err
			}
			l.Weights = append([]byte(nil), t.Data...)
		} else {
			t, err := modelfile.Tensor(f, n+".w", safetensors.U8, pk.Len(in*out))
			if err != nil {
				return nil, err
			}
			if l.Weights, err = t.U8(); err != nil {
				return nil, err
			}
		}
		c := 1
		if cfg.PerChannel {
			c = out
		}
		wmin, wmax := cfg.LayerWeightSpec(i).QRange()
		wp, err := modelfile.ReadParams(f, n+".w", c, wmin, wmax, 0)
		if err != nil {
			return nil, err
		}
		for _, z := range wp.ZeroPoints {
			if z != 0 {
				return nil, fmt.Errorf("tensor %s.w.zero_point: non-zero zero point %d for symmetric weights", n, z)
			}
		}
		l.WeightScales = wp.Scales
		if cfg.Mode == Dynamic {
			if l.BiasF, err = modelfile.F32(f, n+".b", out); err != nil {
				return nil, err
			}
		} else {
			if l.Bias, err = modelfile.I32(f, n+".b", out); err != nil {
				return nil, err
			}
			s, err := modelfile.F32(f, n+".in.scale", 1)
			if err != nil {
				return nil, err
			}
			z, err := modelfile.I32(f, n+".in.zero_point", 1)
			if err != nil {
				return nil, err
			}
			r, err := modelfile.I32(f, n+".in.qrange", 2)
			if err != nil {
				return nil, err
			}
			l.InScale, l.InZP, l.InQMin, l.InQMax = s[0], z[0], r[0], r[1]
		}
		layers = append(layers, l)
	}
	m, err := NewIntModel(cfg, layers)
	if err != nil {
		return nil, err
	}
	modelfile.Informative(ij.Calibration, &m.Calibration)
	if m.Calibration == "" {
		modelfile.Informative(ij.Observer, &m.Calibration)
	}
	m.input = info.Input
	if err := CheckScales(m); err != nil {
		return nil, err
	}
	return m, nil
}
