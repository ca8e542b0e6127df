package modelfile

import (
	"encoding/json"
	"fmt"

	"tinyq/autograd"
	"tinyq/nn"
	"tinyq/ptq"
	"tinyq/qat"
	"tinyq/quant"
	"tinyq/safetensors"
)

// qatJSON is a qat.Config as written in files.
type qatJSON struct {
	Weight      specJSON `json:"weight"`
	Activation  specJSON `json:"activation"`
	Observer    string   `json:"observer"`
	Freeze      int      `json:"freeze_observers_after"`
	LearnScales bool     `json:"learn_scales"`
}

func quantizerTensors(ts []safetensors.Tensor, name string, q *autograd.Quantizer) []safetensors.Tensor {
	p := q.Params()
	return append(ts,
		safetensors.FromF32(name+".scale", []int{len(p.Scales)}, p.Scales),
		safetensors.FromI32(name+".zero_point", []int{len(p.ZeroPoints)}, p.ZeroPoints))
}

// SaveQAT writes a QAT model: its float parameters and every quantizer's scales and zero
// points, with the QAT configuration in the metadata.
func SaveQAT(path string, m *qat.Model, training string) error {
	md, err := header(QAT, m.MLP, training)
	if err != nil {
		return fmt.Errorf("modelfile: %s: %w", path, err)
	}
	if md[keyQuant], err = qatConfigJSON(m); err != nil {
		return fmt.Errorf("modelfile: %s: %w", path, err)
	}
	w, a := toSpecJSON(m.Config.Weight), toSpecJSON(m.Config.Activation)
	specs := map[string]specJSON{}
	ts := floatTensors(nil, m.MLP)
	for i := range m.Layers {
		n := nn.LayerName(i)
		ts = quantizerTensors(ts, n+".w", m.Weights[i])
		ts = quantizerTensors(ts, n+".in", m.Inputs[i])
		specs[n+".w"] = w
		specs[n+".in"] = a
	}
	b, err := json.Marshal(specs)
	if err != nil {
		return fmt.Errorf("modelfile: %s: %w", path, err)
	}
	md[keySpecs] = string(b)
	return write(path, &safetensors.File{Metadata: md, Tensors: ts})
}

// LoadQAT reads a QAT model with its saved scales; its observers are off (the model is ready
// for evaluation and conversion; further QAT training starts new range statistics).
func LoadQAT(path string) (*qat.Model, Info, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, Info{}, fmt.Errorf("modelfile: %w", err)
	}
	m, info, err := qatFrom(f)
	if err != nil {
		return nil, Info{}, fmt.Errorf("modelfile: %s: %w", path, err)
	}
	return m, info, nil
}

func qatFrom(f *safetensors.File) (*qat.Model, Info, error) {
	fail := func(err error) (*qat.Model, Info, error) { return nil, Info{}, err }
	info, err := readInfo(f, QAT)
	if err != nil {
		return fail(err)
	}
	m, err := readFloat(f, info.Arch)
	if err != nil {
		return fail(err)
	}
	var cj qatJSON
	if err := json.Unmarshal([]byte(f.Metadata[keyQuant]), &cj); err != nil {
		return fail(fmt.Errorf("quantization: %w", err))
	}
	cfg := qat.Config{FreezeObserversAfter: cj.Freeze, LearnScales: cj.LearnScales}
	if cfg.Weight, err = cj.Weight.spec(); err != nil {
		return fail(fmt.Errorf("weight spec: %w", err))
	}
	if cfg.Activation, err = cj.Activation.spec(); err != nil {
		return fail(fmt.Errorf("activation spec: %w", err))
	}
	if cj.Observer != "" {
		if cfg.Observer.Kind, err = quant.ParseObserverKind(cj.Observer); err != nil {
			return fail(err)
		}
	}
	qm, err := qat.Prepare(m, cfg)
	if err != nil {
		return fail(err)
	}
	for i := range qm.Layers {
		for _, q := range []*autograd.Quantizer{qm.Weights[i], qm.Inputs[i]} {
			if err := readQuantizer(f, q, q.Name); err != nil {
				return fail(err)
			}
		}
	}
	qm.SetObserving(false)
	return qm, info, nil
}

func readQuantizer(f *safetensors.File, q *autograd.Quantizer, name string) error {
	p, err := quantizerParams(f, q, name)
	if err != nil {
		return err
	}
	return q.SetParams(p)
}

// quantizerParams reads and checks a quantizer's saved scales and zero points without
// applying them.
func quantizerParams(f *safetensors.File, q *autograd.Quantizer, name string) (quant.Params, error) {
	c := len(q.Scales())
	s, err := f32(f, name+".scale", c)
	if err != nil {
		return quant.Params{}, err
	}
	z, err := i32(f, name+".zero_point", c)
	if err != nil {
		return quant.Params{}, err
	}
	p := q.Params()
	copy(p.Scales, s)
	copy(p.ZeroPoints, z)
	if err := p.Validate(); err != nil {
		return quant.Params{}, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// intJSON is a ptq.Config as written in files.
type intJSON struct {
	Mode       string   `json:"mode"`
	Weight     specJSON `json:"weight"`
	Activation specJSON `json:"activation"`
	Observer   string   `json:"observer,omitempty"`
}

// SaveInt writes an integer model: I8 weights [out, in] (or U8 packed int4 with the logical
// shape in tensor_specs), F32 scales, I32 zero points, I32 biases (static) or F32 (dynamic).
func SaveInt(path string, m *ptq.Model, training string) error {
	fail := func(err error) error { return fmt.Errorf("modelfile: %s: %w", path, err) }
	if len(m.Layers) == 0 {
		return fail(fmt.Errorf("empty model"))
	}
	arch := Arch{Sizes: []int{m.Layers[0].In}}
	for _, l := range m.Layers {
		arch.Sizes = append(arch.Sizes, l.Out)
		act := nn.Identity
		if l.ReLU {
			act = nn.ReLU
		}
		arch.Activations = append(arch.Activations, act.String())
	}
	ab, err := json.Marshal(arch)
	if err != nil {
		return fail(err)
	}
	ij := intJSON{Mode: m.Config.Mode.String(), Weight: toSpecJSON(m.Config.Weight), Activation: toSpecJSON(m.Config.Activation)}
	if m.Config.Mode == ptq.Static && m.Config.Observer.Kind != 0 {
		ij.Observer = m.Config.Observer.Kind.String()
	}
	qb, err := json.Marshal(ij)
	if err != nil {
		return fail(err)
	}
	md := map[string]string{keyVersion: fmt.Sprint(FormatVersion), keyTinyq: Version, keyKind: string(Int), keyArch: string(ab), keyQuant: string(qb)}
	if training != "" {
		md[keyTraining] = training
	}
	specs := map[string]specJSON{}
	var ts []safetensors.Tensor
	for _, l := range m.Layers {
		n := l.Name
		ws := ij.Weight
		if l.Packed != nil {
			ws.Packed, ws.LogicalShape, ws.PackedBits = true, []int{l.Out, l.In}, 4
			if l.WeightBits <= 2 {
				ws.PackedBits = 2
			}
			ts = append(ts, safetensors.FromU8(n+".w", []int{len(l.Packed)}, l.Packed))
		} else {
			ws.LogicalShape = []int{l.Out, l.In}
			ts = append(ts, safetensors.FromI8(n+".w", []int{l.Out, l.In}, l.Weights))
		}
		ws.Axis = 0 // stored [out, in]: the channel axis is 0
		specs[n+".w"] = ws
		ts = append(ts,
			safetensors.FromF32(n+".w.scale", []int{len(l.WeightScales)}, l.WeightScales),
			safetensors.FromI32(n+".w.zero_point", []int{len(l.WeightScales)}, make([]int32, len(l.WeightScales))))
		if m.Config.Mode == ptq.Dynamic {
			ts = append(ts, safetensors.FromF32(n+".b", []int{l.Out}, l.BiasF))
			continue
		}
		specs[n+".in"] = ij.Activation
		ts = append(ts,
			safetensors.FromI32(n+".b", []int{l.Out}, l.Bias),
			safetensors.FromF32(n+".in.scale", []int{1}, []float32{l.InScale}),
			safetensors.FromI32(n+".in.zero_point", []int{1}, []int32{l.InZP}),
			safetensors.FromI32(n+".in.qrange", []int{2}, []int32{l.InQMin, l.InQMax}))
	}
	sb, err := json.Marshal(specs)
	if err != nil {
		return fail(err)
	}
	md[keySpecs] = string(sb)
	return write(path, &safetensors.File{Metadata: md, Tensors: ts})
}

// LoadInt reads an integer model and checks it (ptq.NewModel).
func LoadInt(path string) (*ptq.Model, Info, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, Info{}, fmt.Errorf("modelfile: %w", err)
	}
	m, info, err := intFrom(f)
	if err != nil {
		return nil, Info{}, fmt.Errorf("modelfile: %s: %w", path, err)
	}
	return m, info, nil
}

func intFrom(f *safetensors.File) (*ptq.Model, Info, error) {
	fail := func(err error) (*ptq.Model, Info, error) { return nil, Info{}, err }
	info, err := readInfo(f, Int)
	if err != nil {
		return fail(err)
	}
	var ij intJSON
	if err := json.Unmarshal([]byte(f.Metadata[keyQuant]), &ij); err != nil {
		return fail(fmt.Errorf("quantization: %w", err))
	}
	var cfg ptq.Config
	switch ij.Mode {
	case ptq.Static.String():
		cfg.Mode = ptq.Static
		if cfg.Activation, err = ij.Activation.spec(); err != nil {
			return fail(fmt.Errorf("activation spec: %w", err))
		}
		if ij.Observer != "" {
			if cfg.Observer.Kind, err = quant.ParseObserverKind(ij.Observer); err != nil {
				return fail(err)
			}
		}
	case ptq.Dynamic.String():
		cfg.Mode = ptq.Dynamic
	default:
		return fail(fmt.Errorf("mode %q, want static or dynamic", ij.Mode))
	}
	if cfg.Weight, err = ij.Weight.spec(); err != nil {
		return fail(fmt.Errorf("weight spec: %w", err))
	}
	a := info.Arch
	var layers []*ptq.Layer
	for i := range a.Activations {
		n := nn.LayerName(i)
		in, out := a.Sizes[i], a.Sizes[i+1]
		l := &ptq.Layer{Name: n, In: in, Out: out, ReLU: a.Activations[i] == nn.ReLU.String(), WeightBits: cfg.Weight.Bits}
		if cfg.Weight.Bits <= 4 {
			t, err := tensor(f, n+".w", safetensors.U8, ptq.PackedLen(cfg.Weight.Bits, in*out))
			if err != nil {
				return fail(err)
			}
			if l.Packed, err = t.U8(); err != nil {
				return fail(err)
			}
		} else {
			t, err := tensor(f, n+".w", safetensors.I8, out, in)
			if err != nil {
				return fail(err)
			}
			if l.Weights, err = t.I8(); err != nil {
				return fail(err)
			}
		}
		c := out
		if cfg.Weight.Granularity == quant.PerTensor {
			c = 1
		}
		if l.WeightScales, err = f32(f, n+".w.scale", c); err != nil {
			return fail(err)
		}
		zp, err := i32(f, n+".w.zero_point", c)
		if err != nil {
			return fail(err)
		}
		for _, z := range zp {
			if z != 0 {
				return fail(fmt.Errorf("tensor %s.w.zero_point: non-zero zero point %d for symmetric weights", n, z))
			}
		}
		if cfg.Mode == ptq.Dynamic {
			if l.BiasF, err = f32(f, n+".b", out); err != nil {
				return fail(err)
			}
		} else {
			if l.Bias, err = i32(f, n+".b", out); err != nil {
				return fail(err)
			}
			s, err := f32(f, n+".in.scale", 1)
			if err != nil {
				return fail(err)
			}
			z, err := i32(f, n+".in.zero_point", 1)
			if err != nil {
				return fail(err)
			}
			r, err := i32(f, n+".in.qrange", 2)
			if err != nil {
				return fail(err)
			}
			l.InScale, l.InZP, l.InQMin, l.InQMax = s[0], z[0], r[0], r[1]
		}
		layers = append(layers, l)
	}
	m, err := ptq.NewModel(cfg, layers)
	if err != nil {
		return fail(err)
	}
	return m, info, nil
}
