package nn

import (
	"fmt"

	"tinyq/arch"
	"tinyq/modelfile"
	"tinyq/safetensors"
)

// Arch returns the architecture of m as files record it.
func (m *MLP) Arch() modelfile.Arch {
	a := modelfile.Arch{Sizes: m.Sizes()}
	for _, l := range m.Layers {
		a.Activations = append(a.Activations, l.Act.String())
	}
	return a
}

// Params returns m's parameters as files store them (shared, not copies).
func (m *MLP) Params() modelfile.FloatParams {
	var p modelfile.FloatParams
	for _, l := range m.Layers {
		p.Weights = append(p.Weights, l.Weights())
		p.Biases = append(p.Biases, l.Bias())
	}
	for i, l := range m.Layers {
		if l.BN == nil {
			continue
		}
		if p.BatchNorms == nil {
			p.BatchNorms = make([]*modelfile.BatchNorm, len(m.Layers))
		}
		p.BatchNorms[i] = l.BN.record()
	}
	return p
}

// record returns the BatchNorm as files store it (shared, not copies).
func (b *BatchNorm) record() *modelfile.BatchNorm {
	return &modelfile.BatchNorm{
		Gamma: b.Gamma.Data().([]float32), Beta: b.Beta.Data().([]float32),
		Mean: b.State.Mean, Var: b.State.Var, Eps: b.State.Eps,
	}
}

// info returns what a file records about m besides its tensors: an MLP's sizes and
// activations (format versions 2 and 3) or any other network's arch.Arch (version 4).
func (m *MLP) info(training string) modelfile.Info {
	info := modelfile.Info{Arch: m.Arch(), Input: m.InputRecord(), Training: training}
	if a := m.Architecture(); !a.IsMLP() {
		info.Net = a
	}
	return info
}

// fromNet returns the network a version 4 file describes with copies of its parameters.
func fromNet(a arch.Arch, p modelfile.FloatParams) (*MLP, error) {
	m, err := NewFrom(a)
	if err != nil {
		return nil, err
	}
	if len(p.Weights) != len(m.Layers) || len(p.Biases) != len(m.Layers) || (p.BatchNorms != nil && len(p.BatchNorms) != len(m.Layers)) {
		return nil, fmt.Errorf("nn: %d weights, %d biases and %d batch norms for %d layers", len(p.Weights), len(p.Biases), len(p.BatchNorms), len(m.Layers))
	}
	for i, l := range m.Layers {
		if len(p.Weights[i]) != l.In*l.Out || len(p.Biases[i]) != l.Out {
			return nil, fmt.Errorf("nn: layer %d: %d weights and %d biases for %dx%d", i+1, len(p.Weights[i]), len(p.Biases[i]), l.In, l.Out)
		}
		copy(l.Weights(), p.Weights[i])
		copy(l.Bias(), p.Biases[i])
		var bn *modelfile.BatchNorm
		if p.BatchNorms != nil {
			bn = p.BatchNorms[i]
		}
		if (bn != nil) != (l.BN != nil) {
			return nil, fmt.Errorf("nn: layer %d: batch norm parameters do not match the architecture", i+1)
		}
		if bn == nil {
			continue
		}
		dst := l.BN.record()
		for _, c := range [][2][]float32{{dst.Gamma, bn.Gamma}, {dst.Beta, bn.Beta}, {dst.Mean, bn.Mean}, {dst.Var, bn.Var}} {
			if len(c[1]) != l.Out {
				return nil, fmt.Errorf("nn: layer %d: batch norm of %d channels for %d", i+1, len(c[1]), l.Out)
			}
			copy(c[0], c[1])
		}
		l.BN.State.Eps = bn.Eps
	}
	return m, m.Validate()
}

// FromParams returns an MLP of the architecture with copies of the parameters.
func FromParams(a modelfile.Arch, p modelfile.FloatParams) (*MLP, error) {
	m, err := NewMLPFrom(a.Sizes, a.Activations)
	if err != nil {
		return nil, err
	}
	if len(p.Weights) != len(m.Layers) || len(p.Biases) != len(m.Layers) {
		return nil, fmt.Errorf("nn: %d weights and %d biases for %d layers", len(p.Weights), len(p.Biases), len(m.Layers))
	}
	for i, l := range m.Layers {
		if len(p.Weights[i]) != l.In*l.Out || len(p.Biases[i]) != l.Out {
			return nil, fmt.Errorf("nn: layer %d: %d weights and %d biases for %dx%d", i+1, len(p.Weights[i]), len(p.Biases[i]), l.In, l.Out)
		}
		copy(l.Weights(), p.Weights[i])
		copy(l.Bias(), p.Biases[i])
	}
	return m, nil
}

// SetParams copies the parameters of src (same architecture) into m's own tensors, which
// built graphs are bound to.
func (m *MLP) SetParams(src *MLP) error {
	if a, b := src.Architecture(), m.Architecture(); !a.Equal(b) {
		return fmt.Errorf("nn: architecture %v, want %v", a, b)
	}
	for i, l := range m.Layers {
		copy(l.Weights(), src.Layers[i].Weights())
		copy(l.Bias(), src.Layers[i].Bias())
		if b, sb := l.BN, src.Layers[i].BN; b != nil && sb != nil {
			copy(b.Gamma.Data().([]float32), sb.Gamma.Data().([]float32))
			copy(b.Beta.Data().([]float32), sb.Beta.Data().([]float32))
			copy(b.State.Mean, sb.State.Mean)
			copy(b.State.Var, sb.State.Var)
		}
	}
	return nil
}

// File returns m as a float model file's content (modelfile.FloatFile) with its input
// record (InputRecord); the parameters are shared, not copied. training is the training
// configuration as JSON (may be "").
func (m *MLP) File(training string) modelfile.FloatFile {
	return modelfile.FloatFile{
		Info:   m.info(training),
		Params: m.Params(),
	}
}

// Save writes m as a float model file (kind "float", F32; see docs/FORMAT.md) with its input
// record (InputRecord). training is the training configuration as JSON (may be "").
func (m *MLP) Save(path string, training string) error {
	if err := m.Validate(); err != nil {
		return modelfile.WrapFile("nn", path, err)
	}
	f, err := m.File(training).Encode(modelfile.Float)
	if err != nil {
		return modelfile.WrapFile("nn", path, err)
	}
	return modelfile.Write(path, f)
}

// Load reads the float parameters of a float, QAT or checkpoint file (an F16 float file is
// widened to float32).
func Load(path string) (*MLP, modelfile.Info, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, modelfile.Info{}, modelfile.WrapFile("nn", path, err)
	}
	m, info, err := Decode(f, modelfile.Float, modelfile.QAT, modelfile.Checkpoint, modelfile.QATCheckpoint)
	if err != nil {
		return nil, modelfile.Info{}, modelfile.WrapFile("nn", path, err)
	}
	return m, info, nil
}

// Decode reads the float model of a decoded file of one of the kinds, with its input record.
func Decode(f *safetensors.File, kinds ...modelfile.Kind) (*MLP, modelfile.Info, error) {
	ff, err := modelfile.DecodeFloat(f, kinds...)
	if err != nil {
		return nil, ff.Info, err
	}
	m, err := FromFile(ff)
	return m, ff.Info, err
}

// FromFile returns the MLP a file holds, with copies of its parameters and its input record.
func FromFile(ff modelfile.FloatFile) (*MLP, error) {
	if ff.Info.IsNet() {
		m, err := fromNet(ff.Info.Net, ff.Params)
		if err != nil {
			return nil, err
		}
		m.Input = ff.Info.Input
		return m, nil
	}
	m, err := FromParams(ff.Info.Arch, ff.Params)
	if err != nil {
		return nil, err
	}
	m.Input = ff.Info.Input
	return m, nil
}
