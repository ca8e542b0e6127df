package qat

import (
	"fmt"

	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/quant"
	"tinyq/safetensors"
	"tinyq/train"
)

// quantRecord returns the file form of the model's configuration (weights are [in, out] in
// QAT files, so a per-channel weight has axis 1).
func (m *Model) quantRecord() (modelfile.QATQuant, error) {
	if m.Config.Spec.PerLayer() {
		return modelfile.QATQuant{}, fmt.Errorf("a mixed-precision model (%s) cannot be stored as a QAT file (one width for all layers): save its integer conversion", m.Config.Name())
	}
	q := modelfile.QATQuant{
		Weight: m.Config.Spec.Layer(0).Weight, Activation: m.Config.Spec.Layer(0).Activation,
		FreezeObserversAfter: m.Config.FreezeObserversAfter, LearnScales: m.Config.LearnScales,
	}
	if m.Config.LearnScales {
		if m.Config.LSQInit != InitRange {
			q.LSQInit = m.Config.LSQInit.String()
		}
		q.FixInputScale = m.Config.FixInputScale
	}
	if m.Config.Observer.Kind != 0 {
		q.Observer = m.Config.Observer.Kind.String()
	}
	return q, nil
}

// file returns what a QAT file holds of the model: the float model, the configuration and
// every quantizer's scales and zero points.
func (m *Model) file(training string) (modelfile.QATFile, error) {
	q, err := m.quantRecord()
	if err != nil {
		return modelfile.QATFile{}, err
	}
	f := modelfile.QATFile{FloatFile: m.MLP.File(training), Quant: q}
	for i := range m.Layers {
		f.Weights = append(f.Weights, m.Weights[i].Params())
		f.Inputs = append(f.Inputs, m.Inputs[i].Params())
	}
	return f, nil
}

// Save writes the model (kind "qat", a modelfile.QATFile): its float parameters and every
// quantizer's scales and zero points, with the QAT configuration in the metadata. The runtime
// (infer.Load) runs such a file as its fake-quant simulation; Load continues it here. A
// model whose BatchNorms are not folded yet (Config.FreezeBNAfter) is refused.
func (m *Model) Save(path, training string) error {
	if err := m.checkFolded("save"); err != nil {
		return modelfile.WrapFile("qat", path, err)
	}
	qf, err := m.file(training)
	if err != nil {
		return modelfile.WrapFile("qat", path, err)
	}
	f, err := qf.Encode(modelfile.QAT)
	if err != nil {
		return modelfile.WrapFile("qat", path, err)
	}
	return modelfile.Write(path, f)
}

// Load reads a QAT model with its saved scales; its observers are off (the model is ready
// for evaluation and conversion; further QAT training starts new range statistics).
func Load(path string) (*Model, modelfile.Info, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, modelfile.Info{}, modelfile.WrapFile("qat", path, err)
	}
	m, info, err := Decode(f)
	if err != nil {
		return nil, modelfile.Info{}, modelfile.WrapFile("qat", path, err)
	}
	return m, info, nil
}

// Decode reads a QAT model from a decoded file (see Load). Every setting of the
// configuration is read strictly (modelfile.ParseQATQuant): training continues with them.
func Decode(f *safetensors.File) (*Model, modelfile.Info, error) {
	qf, err := modelfile.DecodeQAT(f, modelfile.QAT)
	if err != nil {
		return nil, qf.Info, err
	}
	info := qf.Info
	fm, err := nn.FromFile(qf.FloatFile)
	if err != nil {
		return nil, info, err
	}
	q, err := modelfile.ParseQATQuant(f.Metadata[modelfile.KeyQuant], info.Version)
	if err != nil {
		return nil, info, err
	}
	cfg := Config{Spec: quant.Uniform(quant.LayerSpec{Weight: q.Weight, Activation: q.Activation}), FreezeObserversAfter: q.FreezeObserversAfter, LearnScales: q.LearnScales, FixInputScale: q.FixInputScale}
	if q.LSQInit != "" { // files before learned-scale initialisation: range
		if cfg.LSQInit, err = ParseLSQInit(q.LSQInit); err != nil {
			return nil, info, fmt.Errorf("qat: quantization: unknown lsq_init %q", q.LSQInit)
		}
	}
	if q.Observer != "" {
		if cfg.Observer.Kind, err = quant.ParseObserverKind(q.Observer); err != nil {
			return nil, info, err
		}
	}
	qm, err := Prepare(fm, cfg)
	if err != nil {
		return nil, info, err
	}
	if err := qm.setParams(qf); err != nil {
		return nil, info, err
	}
	qm.SetObserving(false)
	return qm, info, nil
}

// setParams sets every quantizer's scales and zero points from a file's (validated when
// it was read).
func (m *Model) setParams(qf modelfile.QATFile) error {
	for i := range m.Layers {
		if err := m.Weights[i].SetParams(qf.Weights[i]); err != nil {
			return err
		}
		if err := m.Inputs[i].SetParams(qf.Inputs[i]); err != nil {
			return err
		}
	}
	return nil
}

// SaveCheckpoint writes the model in training with the trainer's state, so that
// LoadCheckpoint can continue it exactly (a modelfile.QATCheckpointFile): parameters,
// scales, observer ranges (as <site>.obs.min and .obs.max) and the optimizers' moments.
// Every observer must keep its state as a range (quant.RangeState: MinMax or
// MovingAverage); histogram observers cannot be checkpointed.
func (m *Model) SaveCheckpoint(path string, st train.State, training string) error {
	fail := func(err error) error { return modelfile.WrapFile("qat", path, err) }
	if err := train.CheckState(st); err != nil {
		return fmt.Errorf("qat: %s not written: %w", path, err)
	}
	qf, err := m.file(training)
	if err != nil {
		return fail(err)
	}
	c := modelfile.QATCheckpointFile{QATFile: qf, State: train.StateRecord(st), Solver: train.Moments(st.Solver), Extra: train.Moments(st.Extra)}
	for _, q := range m.Quantizers() {
		if q.Observer == nil {
			continue
		}
		rs, ok := q.Observer.(quant.RangeState)
		if !ok && q.LSQ && q.Observed() {
			continue // a learned scale's observer gave its initial value and is done
		}
		if !ok {
			return fail(fmt.Errorf("%s: its observer keeps a histogram, which checkpoints do not hold (use minmax or moving-average)", q.Name))
		}
		if mins, maxs, ok := rs.Range(); ok {
			c.Ranges = append(c.Ranges, modelfile.ObserverRange{Site: q.Name, Min: mins, Max: maxs})
		}
	}
	f, err := c.Encode()
	if err != nil {
		return fail(err)
	}
	return modelfile.Write(path, f)
}

// LoadCheckpoint restores a checkpoint written by SaveCheckpoint into m, which must have the
// same architecture and configuration, and returns the trainer state to pass to
// train.Trainer.Restore. A bad file leaves m untouched.
func (m *Model) LoadCheckpoint(path string) (train.State, modelfile.Info, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return train.State{}, modelfile.Info{}, modelfile.WrapFile("qat", path, err)
	}
	st, info, err := m.DecodeCheckpoint(f)
	if err != nil {
		return train.State{}, modelfile.Info{}, modelfile.WrapFile("qat", path, err)
	}
	return st, info, nil
}

// DecodeCheckpoint is LoadCheckpoint from a decoded file.
func (m *Model) DecodeCheckpoint(f *safetensors.File) (train.State, modelfile.Info, error) {
	fail := func(err error) (train.State, modelfile.Info, error) { return train.State{}, modelfile.Info{}, err }
	var extraSizes []int
	for _, q := range m.LearnedScales() {
		extraSizes = append(extraSizes, len(q.Scales()))
	}
	c, err := modelfile.DecodeQATCheckpoint(f, extraSizes)
	if err != nil {
		return fail(err)
	}
	info := c.Info
	// A version 4 file (a network with convolutions or BatchNorm) records its network; its
	// Arch is derived from it (values per sample), not the MLP sizes m.Arch gives.
	if info.IsNet() {
		if a := m.Architecture(); !info.Net.Equal(a) {
			return fail(fmt.Errorf("architecture %v, this model is %v", info.Net, a))
		}
	} else if fmt.Sprint(info.Arch) != fmt.Sprint(m.Arch()) {
		return fail(fmt.Errorf("architecture %v, this model is %v", info.Arch, m.Arch()))
	}
	q, err := m.quantRecord()
	if err != nil {
		return fail(err)
	}
	want, err := q.String()
	if err != nil {
		return fail(err)
	}
	if got := f.Metadata[modelfile.KeyQuant]; got != want {
		return fail(fmt.Errorf("quantization %s, this model uses %s", got, want))
	}
	fm, err := nn.FromFile(c.FloatFile)
	if err != nil {
		return fail(err)
	}
	// Check everything first, then apply it.
	type rangeSet struct {
		rs     quant.RangeState
		lo, hi []float32
	}
	var ranges []rangeSet
	saved := map[string]modelfile.ObserverRange{}
	for _, r := range c.Ranges {
		saved[r.Site] = r
	}
	for _, q := range m.Quantizers() {
		r, ok := saved[q.Name]
		if !ok || q.Observer == nil {
			continue
		}
		rs, ok := q.Observer.(quant.RangeState)
		if !ok {
			return fail(fmt.Errorf("%s: the file has an observer range, the model's observer keeps a histogram", q.Name))
		}
		ranges = append(ranges, rangeSet{rs, r.Min, r.Max})
	}
	var extra *modelfile.Moments
	if extraSizes != nil {
		extra = &c.Extra
	}
	st, err := train.StateFrom(c.State, c.Solver, extra)
	if err != nil {
		return fail(err)
	}
	if err := m.SetParams(fm); err != nil { // into the tensors the model's graphs are bound to
		return fail(err)
	}
	if err := m.setParams(c.QATFile); err != nil {
		return fail(err) // cannot happen: the parameters were validated when read
	}
	for _, r := range ranges {
		if err := r.rs.SetRange(r.lo, r.hi); err != nil {
			return fail(err) // cannot happen: checked when read (F32 rejects NaN and Inf)
		}
	}
	return st, info, nil
}

// Checkpoints returns the checkpoints of a QAT phase at path for train.Trainer.Run: Load
// refuses a file written with another training configuration. A missing file starts the
// phase from the beginning.
func (m *Model) Checkpoints(path, training string, resume bool) train.Checkpoints {
	return train.Checkpoints{
		Path: path, Resume: resume,
		Save: func(p string, st train.State) error { return m.SaveCheckpoint(p, st, training) },
		Load: func(p string) (train.State, error) {
			st, info, err := m.LoadCheckpoint(p)
			if err == nil && info.Training != training {
				err = fmt.Errorf("qat: %s was written with training settings %s, this run has %s", p, info.Training, training)
			}
			return st, err
		},
	}
}
