package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"

	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/quant"
	"tinyq/safetensors"
)

// stateJSON is the non-tensor part of a checkpoint (metadata key train_state).
type stateJSON struct {
	Epochs     int     `json:"epochs"`
	Optimizer  string  `json:"optimizer"`
	Steps      int     `json:"steps"`
	ExtraSteps int     `json:"extra_steps,omitempty"`
	History    []Epoch `json:"history"`
}

// StateMetadata returns the train_state metadata value of st.
func StateMetadata(st State) (string, error) {
	kind := st.Solver.Kind
	if kind == 0 {
		kind = Adam
	}
	return modelfile.MarshalString(stateJSON{Epochs: st.Epochs, Optimizer: kind.String(), Steps: st.Solver.Steps, ExtraSteps: st.Extra.Steps, History: st.History})
}

// SolverTensors appends a solver's moments as <prefix>.m.<k> and <prefix>.v.<k>.
func SolverTensors(ts []safetensors.Tensor, prefix string, s SolverState) []safetensors.Tensor {
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

// ParamSizes returns the element counts of w1, b1, w2, b2, ... (the order of a solver's
// moments).
func ParamSizes(m *nn.MLP) []int {
	var n []int
	for _, l := range m.Layers {
		n = append(n, l.In*l.Out, l.Out)
	}
	return n
}

// MaxEpochs bounds the epochs a checkpoint may record: far more than any run trains, small
// enough that replaying the shuffles of every epoch on resume takes no noticeable time.
const MaxEpochs = 100_000

// checkHistory returns an error naming the first history entry whose values are not finite
// and in range, if any.
func checkHistory(h []Epoch) error {
	ok := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0 }
	for i, e := range h {
		if !ok(e.TrainLoss) || !ok(e.TestLoss) || !ok(e.Seconds) || !ok(e.TestAccuracy) || e.TestAccuracy > 100 {
			return fmt.Errorf("history entry %d is not finite and in range: %+v", i+1, e)
		}
	}
	return nil
}

// checkSolver refuses a solver state no training can produce: a non-finite moment, or a
// negative Adam second moment (a mean of squares).
func checkSolver(s SolverState, prefix string) error {
	for k, v := range s.M {
		if i := quant.FirstNonFinite(v); i >= 0 {
			return fmt.Errorf("tensor %s.m.%d: element %d is %v", prefix, k, i, v[i])
		}
	}
	for k, v := range s.V {
		for i, x := range v {
			if !(x >= 0) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("tensor %s.v.%d: element %d is %v, want a finite value >= 0", prefix, k, i, x)
			}
		}
	}
	return nil
}

// CheckState refuses a state that a loader would refuse: epochs, steps and history
// inconsistent, or non-finite (or negative second) moments. Writers call it, so that no
// file is written that cannot be read back.
func CheckState(st State) error {
	if st.Epochs < 0 || st.Epochs > MaxEpochs || len(st.History) != st.Epochs || st.Solver.Steps < st.Epochs {
		return fmt.Errorf("train: state of %d epochs, %d steps, %d history entries: inconsistent", st.Epochs, st.Solver.Steps, len(st.History))
	}
	if err := checkHistory(st.History); err != nil {
		return fmt.Errorf("train: state: %w", err)
	}
	if err := checkSolver(st.Solver, "opt"); err != nil {
		return fmt.Errorf("train: state: %w", err)
	}
	if err := checkSolver(st.Extra, "opt.extra"); err != nil {
		return fmt.Errorf("train: state: %w", err)
	}
	return nil
}

// ReadSolver reads a solver state of the given kind and step count for parameters of sizes.
func ReadSolver(f *safetensors.File, prefix string, kind Optimizer, steps int, sizes []int) (SolverState, error) {
	s := SolverState{Kind: kind, Steps: steps}
	if steps == 0 {
		return s, nil
	}
	for k, n := range sizes {
		m, err := modelfile.F32(f, fmt.Sprintf("%s.m.%d", prefix, k), n)
		if err != nil {
			return s, err
		}
		s.M = append(s.M, m)
		if kind == Adam {
			v, err := modelfile.F32(f, fmt.Sprintf("%s.v.%d", prefix, k), n)
			if err != nil {
				return s, err
			}
			s.V = append(s.V, v)
		}
	}
	return s, checkSolver(s, prefix)
}

// ReadState reads train_state and the main solver (prefix) for parameters of sizes; with
// extraSizes (learned scales) also the extra solver (prefix.extra).
func ReadState(f *safetensors.File, prefix string, sizes, extraSizes []int) (State, error) {
	var sj stateJSON
	if err := json.Unmarshal([]byte(f.Metadata[modelfile.KeyState]), &sj); err != nil {
		return State{}, fmt.Errorf("train_state: %w", err)
	}
	if sj.Epochs < 0 || sj.Epochs > MaxEpochs || sj.Steps < 0 || sj.ExtraSteps < 0 || len(sj.History) != sj.Epochs ||
		(sj.Epochs > 0) != (sj.Steps > 0) || sj.Steps < sj.Epochs {
		return State{}, fmt.Errorf("train_state: %d epochs, %d steps, %d history entries: inconsistent", sj.Epochs, sj.Steps, len(sj.History))
	}
	if err := checkHistory(sj.History); err != nil {
		return State{}, fmt.Errorf("train_state: %w", err)
	}
	kind, err := ParseOptimizer(sj.Optimizer)
	if err != nil {
		return State{}, err
	}
	st := State{Epochs: sj.Epochs, History: sj.History}
	if st.Solver, err = ReadSolver(f, prefix, kind, sj.Steps, sizes); err != nil {
		return st, err
	}
	if extraSizes != nil {
		st.Extra, err = ReadSolver(f, prefix+".extra", Adam, sj.ExtraSteps, extraSizes)
	}
	return st, err
}

// SaveCheckpoint writes a model and a trainer's state (optimizer moments as opt.m.<k> and
// opt.v.<k>, k the parameter index in w1, b1, w2, ... order; epochs, step count and history in
// the metadata). training is the run's configuration as JSON; resuming compares it.
func SaveCheckpoint(path string, m *nn.MLP, st State, training string) error {
	if err := CheckState(st); err != nil {
		return fmt.Errorf("train: %s not written: %w", path, err)
	}
	md, err := modelfile.Header(modelfile.Checkpoint, m.Arch(), modelfile.DefaultInput(m.Layers[0].In), training)
	if err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	if md[modelfile.KeyState], err = StateMetadata(st); err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	ts := SolverTensors(modelfile.FloatTensors(nil, m.Arch(), m.Params()), "opt", st.Solver)
	return modelfile.Write(path, &safetensors.File{Metadata: md, Tensors: ts})
}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint.
func LoadCheckpoint(path string) (*nn.MLP, State, modelfile.Info, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, State{}, modelfile.Info{}, err
	}
	m, st, info, err := DecodeCheckpoint(f)
	if err != nil {
		return nil, State{}, modelfile.Info{}, fmt.Errorf("train: %s: %w", path, err)
	}
	return m, st, info, nil
}

// DecodeCheckpoint is LoadCheckpoint from a decoded file.
func DecodeCheckpoint(f *safetensors.File) (*nn.MLP, State, modelfile.Info, error) {
	m, info, err := nn.Decode(f, modelfile.Checkpoint)
	if err != nil {
		return nil, State{}, info, err
	}
	st, err := ReadState(f, "opt", ParamSizes(m), nil)
	return m, st, info, err
}

// Checkpoints says where Run keeps its state and how: after every epoch Save writes it to
// Path; with Resume, Run first continues from Path.
type Checkpoints struct {
	Path   string // "" for none
	Resume bool
	// Required makes a missing file an error when resuming (otherwise training starts from
	// the beginning, for example for a phase the interrupted run never reached).
	Required bool
	Save     func(path string, st State) error
	Load     func(path string) (State, error)
}

// FloatCheckpoints returns checkpoints of a plain float model at path: Load refuses a file
// written with another training configuration or architecture and restores the parameters
// into m.
func FloatCheckpoints(m *nn.MLP, path, training string, resume bool) Checkpoints {
	return Checkpoints{
		Path: path, Resume: resume, Required: true,
		Save: func(p string, st State) error { return SaveCheckpoint(p, m, st, training) },
		Load: func(p string) (State, error) {
			cm, st, info, err := LoadCheckpoint(p)
			if err != nil {
				return st, err
			}
			if info.Training != training {
				return st, fmt.Errorf("train: %s was written with training settings %s, this run has %s", p, info.Training, training)
			}
			if err := m.SetParams(cm); err != nil {
				return st, fmt.Errorf("train: %s: %w", p, err)
			}
			return st, nil
		},
	}
}

// Run trains t until it has done Config.Epochs epochs, evaluating on testSet after each, and returns
// the history (restored epochs included). With ck.Resume it first restores ck.Path; with
// ck.Path it saves after every epoch. This is the one epoch loop of tinyq.
func (t *Trainer) Run(trainSet, testSet Data, ck Checkpoints) (*History, error) {
	hist := &History{}
	if ck.Resume && ck.Path != "" {
		_, statErr := os.Stat(ck.Path)
		if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
			return nil, fmt.Errorf("train: resume: %w", statErr)
		}
		if ck.Required || statErr == nil {
			st, err := ck.Load(ck.Path)
			if err != nil {
				return nil, err
			}
			if err := t.Restore(st); err != nil {
				return nil, fmt.Errorf("train: resume %s: %w", ck.Path, err)
			}
			// Every epoch runs ceil(n/batch) optimizer steps: a state that disagrees was not
			// written by this configuration.
			perEpoch := (trainSet.Len() + t.cfg.Batch - 1) / t.cfg.Batch
			if want := st.Epochs * perEpoch; st.Solver.Steps != want || (t.extraS != nil && st.Extra.Steps != want) {
				return nil, fmt.Errorf("train: resume %s: %d optimizer steps (%d extra) for %d epochs, want %d", ck.Path, st.Solver.Steps, st.Extra.Steps, st.Epochs, want)
			}
			hist.Epochs = st.History
			if t.cfg.Log != nil {
				fmt.Fprintf(t.cfg.Log, "%s: resumed from %s after epoch %d\n", t.cfg.Name, ck.Path, st.Epochs)
			}
		}
	}
	for t.EpochsDone() < t.cfg.Epochs {
		ep, err := t.Epoch(trainSet, testSet)
		if err != nil {
			return nil, err
		}
		hist.Epochs = append(hist.Epochs, ep)
		if ck.Path != "" {
			if err := ck.Save(ck.Path, t.State(hist)); err != nil {
				return nil, err
			}
		}
	}
	return hist, nil
}
