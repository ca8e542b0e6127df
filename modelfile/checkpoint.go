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
	Epochs     int           `json:"epochs"`
	Optimizer  string        `json:"optimizer"`
	Steps      int           `json:"steps"`
	ExtraSteps int           `json:"extra_steps,omitempty"`
	History    []train.Epoch `json:"history"`
}

func stateJSONOf(st train.State) (string, error) {
	kind := st.Solver.Kind
	if kind == 0 {
		kind = train.Adam
	}
	b, err := json.Marshal(stateJSON{Epochs: st.Epochs, Optimizer: kind.String(), Steps: st.Solver.Steps, ExtraSteps: st.Extra.Steps, History: st.History})
	return string(b), err
}

// solverTensors appends a solver's moments as <prefix>.m.<k> and <prefix>.v.<k>.
func solverTensors(ts []safetensors.Tensor, prefix string, s train.SolverState) []safetensors.Tensor {
	for k, v := range s.M {
		ts = append(ts, safetensors.FromF32(fmt.Sprintf("%s.m.%d", prefix, k), []int{len(v)}, v))
	}
	for k, v := range s.V {
		if v != nil {
			ts = append(ts, safetensors.FromF32(fmt.Sprintf("%s.v.%d", prefix, k), []int{len(v)}, v))
		}
	}
	return ts
}

// paramSizes returns the element counts of w1, b1, w2, b2, ...
func paramSizes(m *nn.MLP) []int {
	var n []int
	for _, l := range m.Layers {
		n = append(n, l.In*l.Out, l.Out)
	}
	return n
}

// readSolver reads a solver state of the given kind and step count for parameters of sizes.
func readSolver(f *safetensors.File, prefix string, kind train.Optimizer, steps int, sizes []int) (train.SolverState, error) {
	s := train.SolverState{Kind: kind, Steps: steps}
	if steps == 0 {
		return s, nil
	}
	for k, n := range sizes {
		m, err := f32(f, fmt.Sprintf("%s.m.%d", prefix, k), n)
		if err != nil {
			return s, err
		}
		s.M = append(s.M, m)
		if kind == train.Adam {
			v, err := f32(f, fmt.Sprintf("%s.v.%d", prefix, k), n)
			if err != nil {
				return s, err
			}
			s.V = append(s.V, v)
		}
	}
	return s, nil
}

// readState reads train_state and the main solver (prefix) for parameters of sizes.
func readState(f *safetensors.File, prefix string, sizes []int) (train.State, error) {
	var sj stateJSON
	if err := json.Unmarshal([]byte(f.Metadata[keyState]), &sj); err != nil {
		return train.State{}, fmt.Errorf("train_state: %w", err)
	}
	if sj.Epochs < 0 || sj.Steps < 0 || sj.ExtraSteps < 0 || len(sj.History) > sj.Epochs {
		return train.State{}, fmt.Errorf("train_state: %d epochs, %d steps, %d history entries", sj.Epochs, sj.Steps, len(sj.History))
	}
	kind, err := train.ParseOptimizer(sj.Optimizer)
	if err != nil {
		return train.State{}, err
	}
	st := train.State{Epochs: sj.Epochs, History: sj.History}
	st.Solver, err = readSolver(f, prefix, kind, sj.Steps, sizes)
	return st, err
}

// SaveCheckpoint writes a model and a trainer's state (optimizer moments as opt.m.<k> and
// opt.v.<k>, k the parameter index in w1, b1, w2, ... order; epochs, step count and history in
// the metadata). training is the run's configuration as JSON; Resume compares it.
func SaveCheckpoint(path string, m *nn.MLP, st train.State, training string) error {
	md, err := header(Checkpoint, m, training)
	if err != nil {
		return fmt.Errorf("modelfile: %s: %w", path, err)
	}
	if md[keyState], err = stateJSONOf(st); err != nil {
		return fmt.Errorf("modelfile: %s: %w", path, err)
	}
	ts := solverTensors(floatTensors(nil, m), "opt", st.Solver)
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
	info, err := readInfo(f, Checkpoint)
	if err != nil {
		return nil, train.State{}, Info{}, err
	}
	m, err := readFloat(f, info.Arch)
	if err != nil {
		return nil, train.State{}, Info{}, err
	}
	st, err := readState(f, "opt", paramSizes(m))
	if err != nil {
		return nil, train.State{}, Info{}, err
	}
	return m, st, info, nil
}
