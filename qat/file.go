package qat

import (
	"fmt"

	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/quant"
	"tinyq/safetensors"
	"tinyq/train"
)

// quantJSON returns the file form of the model's configuration (infer.QATJSON: the runtime
// reads QAT files too). Weights are [in, out] in these files, so a per-channel weight has
// axis 1.
func (m *Model) quantJSON() (string, error) {
	if m.Config.mixed() {
		return "", fmt.Errorf("a mixed-precision model (%s) cannot be stored as a QAT file (one width for all layers): save its integer conversion", m.Config.Name())
	}
	cfg := infer.QATJSON{
		Weight:     modelfile.ToSpecJSON(m.Config.Weight, 1),
		Activation: modelfile.ToSpecJSON(m.Config.Activation, 0),
		Freeze:     m.Config.FreezeObserversAfter, LearnScales: m.Config.LearnScales,
	}
	if m.Config.LearnScales {
		if m.Config.LSQInit != InitRange {
			cfg.LSQInit = m.Config.LSQInit.String()
		}
		cfg.FixInputScale = m.Config.FixInputScale
	}
	if m.Config.Observer.Kind != 0 {
		cfg.Observer = m.Config.Observer.Kind.String()
	}
	return modelfile.MarshalString(cfg)
}

// header returns the metadata and tensors every QAT file (model or checkpoint) starts with:
// the float parameters and every quantizer's scales and zero points.
func (m *Model) header(kind modelfile.Kind, training string) (map[string]string, []safetensors.Tensor, error) {
	md, err := modelfile.Header(kind, m.Arch(), m.InputRecord(), training)
	if err != nil {
		return nil, nil, err
	}
	if md[modelfile.KeyQuant], err = m.quantJSON(); err != nil {
		return nil, nil, err
	}
	specs := map[string]modelfile.SpecJSON{}
	ts := modelfile.FloatTensors(nil, m.Arch(), m.Params())
	for i := range m.Layers {
		n := nn.LayerName(i)
		ts = modelfile.ParamsTensors(ts, n+".w", m.Weights[i].Params())
		ts = modelfile.ParamsTensors(ts, n+".in", m.Inputs[i].Params())
		specs[n+".w"] = modelfile.ToSpecJSON(m.Config.Weight, 1)
		specs[n+".in"] = modelfile.ToSpecJSON(m.Config.Activation, 0)
	}
	if md[modelfile.KeySpecs], err = modelfile.MarshalString(specs); err != nil {
		return nil, nil, err
	}
	return md, ts, nil
}

// Save writes the model (kind "qat"): its float parameters and every quantizer's scales and
// zero points, with the QAT configuration in the metadata. The runtime (infer.Load) runs
// such a file as its fake-quant simulation; Load continues it here.
func (m *Model) Save(path, training string) error {
	md, ts, err := m.header(modelfile.QAT, training)
	if err != nil {
		return fmt.Errorf("qat: %s: %w", path, err)
	}
	return modelfile.Write(path, &safetensors.File{Metadata: md, Tensors: ts})
}

// Load reads a QAT model with its saved scales; its observers are off (the model is ready
// for evaluation and conversion; further QAT training starts new range statistics).
func Load(path string) (*Model, modelfile.Info, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, modelfile.Info{}, err
	}
	m, info, err := Decode(f)
	if err != nil {
		return nil, modelfile.Info{}, fmt.Errorf("qat: %s: %w", path, err)
	}
	return m, info, nil
}

// Decode reads a QAT model from a decoded file (see Load).
func Decode(f *safetensors.File) (*Model, modelfile.Info, error) {
	fm, info, err := nn.Decode(f, modelfile.QAT)
	if err != nil {
		return nil, info, err
	}
	cj, ws, as, err := infer.QATSpecs(f)
	if err != nil {
		return nil, info, err
	}
	cfg := Config{Weight: ws, Activation: as, FreezeObserversAfter: cj.Freeze, LearnScales: cj.LearnScales, FixInputScale: cj.FixInputScale}
	if cj.LSQInit != "" { // files before learned-scale initialisation: range
		if cfg.LSQInit, err = ParseLSQInit(cj.LSQInit); err != nil {
			return nil, info, fmt.Errorf("qat: quantization: unknown lsq_init %q", cj.LSQInit)
		}
	}
	if cj.Observer != "" {
		if cfg.Observer.Kind, err = quant.ParseObserverKind(cj.Observer); err != nil {
			return nil, info, err
		}
	}
	qm, err := Prepare(fm, cfg)
	if err != nil {
		return nil, info, err
	}
	params, err := qm.readParams(f)
	if err != nil {
		return nil, info, err
	}
	for i, q := range qm.Quantizers() {
		if err := q.SetParams(params[i]); err != nil {
			return nil, info, err
		}
	}
	qm.SetObserving(false)
	return qm, info, nil
}

// readParams reads and checks every quantizer's saved scales and zero points (in Quantizers
// order) without applying them.
func (m *Model) readParams(f *safetensors.File) ([]quant.Params, error) {
	var out []quant.Params
	for _, q := range m.Quantizers() {
		p := q.Params()
		r, err := modelfile.ReadParams(f, q.Name, len(p.Scales), p.QMin, p.QMax, p.Axis)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// SaveCheckpoint writes the model in training with the trainer's state, so that
// LoadCheckpoint can continue it exactly: parameters, scales, observer ranges (as
// <site>.obs.min and .obs.max) and the optimizers' moments. Every observer must keep its state
// as a range (quant.RangeState: MinMax or MovingAverage); histogram observers cannot be
// checkpointed.
func (m *Model) SaveCheckpoint(path string, st train.State, training string) error {
	fail := func(err error) error { return fmt.Errorf("qat: %s: %w", path, err) }
	if err := train.CheckState(st); err != nil {
		return fmt.Errorf("qat: %s not written: %w", path, err)
	}
	md, ts, err := m.header(modelfile.QATCheckpoint, training)
	if err != nil {
		return fail(err)
	}
	if md[modelfile.KeyState], err = train.StateMetadata(st); err != nil {
		return fail(err)
	}
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
			ts = append(ts,
				safetensors.FromF32(q.Name+".obs.min", []int{len(mins)}, mins),
				safetensors.FromF32(q.Name+".obs.max", []int{len(maxs)}, maxs))
		}
	}
	ts = train.SolverTensors(ts, "opt", st.Solver)
	ts = train.SolverTensors(ts, "opt.extra", st.Extra)
	return modelfile.Write(path, &safetensors.File{Metadata: md, Tensors: ts})
}

// LoadCheckpoint restores a checkpoint written by SaveCheckpoint into m, which must have the
// same architecture and configuration, and returns the trainer state to pass to
// train.Trainer.Restore. A bad file leaves m untouched.
func (m *Model) LoadCheckpoint(path string) (train.State, modelfile.Info, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return train.State{}, modelfile.Info{}, err
	}
	st, info, err := m.DecodeCheckpoint(f)
	if err != nil {
		return train.State{}, modelfile.Info{}, fmt.Errorf("qat: %s: %w", path, err)
	}
	return st, info, nil
}

// DecodeCheckpoint is LoadCheckpoint from a decoded file.
func (m *Model) DecodeCheckpoint(f *safetensors.File) (train.State, modelfile.Info, error) {
	fail := func(err error) (train.State, modelfile.Info, error) { return train.State{}, modelfile.Info{}, err }
	fm, info, err := nn.Decode(f, modelfile.QATCheckpoint)
	if err != nil {
		return fail(err)
	}
	if fmt.Sprint(info.Arch) != fmt.Sprint(m.Arch()) {
		return fail(fmt.Errorf("architecture %v, this model is %v", info.Arch, m.Arch()))
	}
	want, err := m.quantJSON()
	if err != nil {
		return fail(err)
	}
	if got := f.Metadata[modelfile.KeyQuant]; got != want {
		return fail(fmt.Errorf("quantization %s, this model uses %s", got, want))
	}
	// Read and check everything first, then apply it.
	params, err := m.readParams(f)
	if err != nil {
		return fail(err)
	}
	type rangeSet struct {
		rs     quant.RangeState
		lo, hi []float32
	}
	var ranges []rangeSet
	var extraSizes []int
	for _, q := range m.LearnedScales() {
		extraSizes = append(extraSizes, len(q.Scales()))
	}
	for _, q := range m.Quantizers() {
		if _, ok := f.Tensor(q.Name + ".obs.min"); !ok || q.Observer == nil {
			continue
		}
		rs, ok := q.Observer.(quant.RangeState)
		if !ok {
			return fail(fmt.Errorf("%s: the file has an observer range, the model's observer keeps a histogram", q.Name))
		}
		c := len(q.Scales())
		if q.Spec.Granularity == quant.PerTensor {
			c = 1
		}
		lo, err := modelfile.F32(f, q.Name+".obs.min", c)
		if err != nil {
			return fail(err)
		}
		hi, err := modelfile.F32(f, q.Name+".obs.max", c)
		if err != nil {
			return fail(err)
		}
		for i := range lo {
			if lo[i] > hi[i] {
				return fail(fmt.Errorf("%s: observer range %d: min %v > max %v", q.Name, i, lo[i], hi[i]))
			}
		}
		ranges = append(ranges, rangeSet{rs, lo, hi})
	}
	st, err := train.ReadState(f, "opt", train.ParamSizes(m.MLP), extraSizes)
	if err != nil {
		return fail(err)
	}
	if err := m.SetParams(fm); err != nil { // into the tensors the model's graphs are bound to
		return fail(err)
	}
	for i, q := range m.Quantizers() {
		if err := q.SetParams(params[i]); err != nil {
			return fail(err) // cannot happen: params were validated above
		}
	}
	for _, r := range ranges {
		if err := r.rs.SetRange(r.lo, r.hi); err != nil {
			return fail(err) // cannot happen: checked above (F32 rejects NaN and Inf)
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
