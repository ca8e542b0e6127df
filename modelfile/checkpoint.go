package modelfile

import (
	"encoding/json"
	"fmt"

	"tinyq/nn"
	"tinyq/safetensors"
	"tinyq/train"
)

// stateJSON is the non-tensor part of a checkpoint.
type stateJSON struct {
	Epochs    int           `json:"epochs"`
	Optimizer string        `json:"optimizer"`
	Steps     int           `json:"steps"`
	History   []train.Epoch `json:"history"`
}

// SaveCheckpoint writes a model and a trainer's state (optimizer moments as opt.m.<k> and
// opt.v.<k>, k the parameter index in w1, b1, w2, ... order; epochs, step count and history in
// the metadata). training is the run's configuration as JSON; Resume compares it.
func SaveCheckpoint(path string, m *nn.MLP, st train.State, training string) error {
	md, err := header(Checkpoint, m, training)
	if err != nil {
		return fmt.Errorf("modelfile: %s: %w", path, err)
	}
	sj := stateJSON{Epochs: st.Epochs, Optimizer: st.Solver.Kind.String(), Steps: st.Solver.Steps, History: st.History}
	b, err := json.Marshal(sj)
	if err != nil {
		return fmt.Errorf("modelfile: %s: %w", path, err)
	}
	md[keyState] = string(b)
	ts := floatTensors(nil, m)
	for k, v := range st.Solver.M {
		ts = append(ts, safetensors.FromF32(fmt.Sprintf("opt.m.%d", k), []int{len(v)}, v))
	}
	for k, v := range st.Solver.V {
		if v != nil {
			ts = append(ts, safetensors.FromF32(fmt.Sprintf("opt.v.%d", k), []int{len(v)}, v))
		}
	}
	return write(path, &safetensors.File{Metadata: md, Tensors: ts})
}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint.
func LoadCheckpoint(path string) (*nn.MLP, train.State, Info, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, train.State{}, Info{}, fmt.Errorf("modelfile: %w", err)
	}
	m, st, info, err := checkpointFrom(f)
	if err != nil {
		return nil, train.State{}, Info{}, fmt.Errorf("modelfile: %s: %w", path, err)
	}
	return m, st, info, nil
}

func checkpointFrom(f *safetensors.File) (*nn.MLP, train.State, Info, error) {
	fail := func(err error) (*nn.MLP, train.State, Info, error) { return nil, train.State{}, Info{}, err }
	info, err := readInfo(f, Checkpoint)
	if err != nil {
		return fail(err)
	}
	m, err := readFloat(f, info.Arch)
	if err != nil {
		return fail(err)
	}
	var sj stateJSON
	if err := json.Unmarshal([]byte(f.Metadata[keyState]), &sj); err != nil {
		return fail(fmt.Errorf("train_state: %w", err))
	}
	if sj.Epochs < 0 || sj.Steps < 0 || len(sj.History) > sj.Epochs {
		return fail(fmt.Errorf("train_state: %d epochs, %d steps, %d history entries", sj.Epochs, sj.Steps, len(sj.History)))
	}
	st := train.State{Epochs: sj.Epochs, History: sj.History}
	if st.Solver.Kind, err = train.ParseOptimizer(sj.Optimizer); err != nil {
		return fail(err)
	}
	st.Solver.Steps = sj.Steps
	if sj.Steps > 0 {
		for k, l := range m.Layers {
			for j, n := range []int{l.In * l.Out, l.Out} {
				idx := 2*k + j
				mv, err := f32(f, fmt.Sprintf("opt.m.%d", idx), n)
				if err != nil {
					return fail(err)
				}
				st.Solver.M = append(st.Solver.M, mv)
				if st.Solver.Kind == train.Adam {
					vv, err := f32(f, fmt.Sprintf("opt.v.%d", idx), n)
					if err != nil {
						return fail(err)
					}
					st.Solver.V = append(st.Solver.V, vv)
				}
			}
		}
	}
	return m, st, info, nil
}
