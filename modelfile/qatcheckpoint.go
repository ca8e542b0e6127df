package modelfile

import (
	"encoding/json"
	"fmt"

	"tinyq/qat"
	"tinyq/quant"
	"tinyq/safetensors"
	"tinyq/train"
)

// QATCheckpoint is a QAT model in training: parameters, quantizer scales, observer ranges and
// the optimizers' state.
const QATCheckpoint Kind = "qat-checkpoint"

// qatConfigJSON returns the file form of a QAT model's configuration.
func qatConfigJSON(m *qat.Model) (string, error) {
	cfg := qatJSON{
		Weight: toSpecJSON(m.Config.Weight), Activation: toSpecJSON(m.Config.Activation),
		Freeze: m.Config.FreezeObserversAfter, LearnScales: m.Config.LearnScales,
	}
	if m.Config.Observer.Kind != 0 {
		cfg.Observer = m.Config.Observer.Kind.String()
	}
	b, err := json.Marshal(cfg)
	return string(b), err
}

// SaveQATCheckpoint writes a QAT model in training with the trainer's state, so that
// LoadQATCheckpoint can continue it exactly. Every observer must keep its state as a range
// (quant.RangeState: MinMax or MovingAverage); histogram observers cannot be checkpointed.
func SaveQATCheckpoint(path string, m *qat.Model, st train.State, training string) error {
	fail := func(err error) error { return fmt.Errorf("modelfile: %s: %w", path, err) }
	md, err := header(QATCheckpoint, m.MLP, training)
	if err != nil {
		return fail(err)
	}
	if md[keyQuant], err = qatConfigJSON(m); err != nil {
		return fail(err)
	}
	if md[keyState], err = stateJSONOf(st); err != nil {
		return fail(err)
	}
	ts := floatTensors(nil, m.MLP)
	for _, q := range m.Quantizers() {
		ts = quantizerTensors(ts, q.Name, q)
		if q.Observer == nil {
			continue
		}
		rs, ok := q.Observer.(quant.RangeState)
		if !ok {
			return fail(fmt.Errorf("%s: its observer keeps a histogram, which checkpoints do not hold (use minmax or moving-average)", q.Name))
		}
		if mins, maxs, ok := rs.Range(); ok {
			ts = append(ts,
				safetensors.FromF32(q.Name+".obs.min", []int{len(mins)}, mins),
				safetensors.FromF32(q.Name+".obs.max", []int{len(maxs)}, maxs))
		}
	}
	ts = solverTensors(ts, "opt", st.Solver)
	ts = solverTensors(ts, "opt.extra", st.Extra)
	return write(path, &safetensors.File{Metadata: md, Tensors: ts})
}

// LoadQATCheckpoint restores a checkpoint written by SaveQATCheckpoint into m, a model
// prepared (qat.Prepare) with the same architecture and configuration, and returns the trainer
// state to pass to train.Trainer.Restore.
func LoadQATCheckpoint(path string, m *qat.Model) (train.State, Info, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return train.State{}, Info{}, fmt.Errorf("modelfile: %w", err)
	}
	st, info, err := qatCheckpointInto(f, m)
	if err != nil {
		return train.State{}, Info{}, fmt.Errorf("modelfile: %s: %w", path, err)
	}
	return st, info, nil
}

func qatCheckpointInto(f *safetensors.File, m *qat.Model) (train.State, Info, error) {
	fail := func(err error) (train.State, Info, error) { return train.State{}, Info{}, err }
	info, err := readInfo(f, QATCheckpoint)
	if err != nil {
		return fail(err)
	}
	if fmt.Sprint(info.Arch) != fmt.Sprint(archOf(m.MLP)) {
		return fail(fmt.Errorf("architecture %v, this model is %v", info.Arch, archOf(m.MLP)))
	}
	want, err := qatConfigJSON(m)
	if err != nil {
		return fail(err)
	}
	if got := f.Metadata[keyQuant]; got != want {
		return fail(fmt.Errorf("quantization %s, this model uses %s", got, want))
	}
	// Read and check everything first, then apply it: a bad file leaves m untouched.
	fm, err := readFloat(f, info.Arch)
	if err != nil {
		return fail(err)
	}
	type rangeSet struct {
		rs     quant.RangeState
		lo, hi []float32
	}
	var params []quant.Params
	var ranges []rangeSet
	var extraSizes []int
	for _, q := range m.Quantizers() {
		p, err := quantizerParams(f, q, q.Name)
		if err != nil {
			return fail(err)
		}
		params = append(params, p)
		extraSizes = append(extraSizes, len(q.Scales()))
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
		lo, err := f32(f, q.Name+".obs.min", c)
		if err != nil {
			return fail(err)
		}
		hi, err := f32(f, q.Name+".obs.max", c)
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
	st, err := readState(f, "opt", paramSizes(m.MLP))
	if err != nil {
		return fail(err)
	}
	if m.Config.LearnScales {
		var sj stateJSON
		if err := json.Unmarshal([]byte(f.Metadata[keyState]), &sj); err != nil {
			return fail(fmt.Errorf("train_state: %w", err))
		}
		if st.Extra, err = readSolver(f, "opt.extra", train.Adam, sj.ExtraSteps, extraSizes); err != nil {
			return fail(err)
		}
	}
	for i, l := range m.Layers { // into the tensors the model's graphs are bound to
		copy(l.Weights(), fm.Layers[i].Weights())
		copy(l.Bias(), fm.Layers[i].Bias())
	}
	for i, q := range m.Quantizers() {
		if err := q.SetParams(params[i]); err != nil {
			return fail(err) // cannot happen: params were validated above
		}
	}
	for _, r := range ranges {
		if err := r.rs.SetRange(r.lo, r.hi); err != nil {
			return fail(err) // cannot happen: checked above (f32 rejects NaN and Inf)
		}
	}
	return st, info, nil
}
