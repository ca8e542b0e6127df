package train

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/safetensors"
)

// MaxEpochs bounds the epochs a checkpoint may record (modelfile.MaxEpochs).
const MaxEpochs = modelfile.MaxEpochs

// StateRecord returns st's training state record, as a checkpoint stores it (the
// optimizers' moments are Moments(st.Solver) and Moments(st.Extra)).
func StateRecord(st State) modelfile.TrainState {
	kind := st.Solver.Kind
	if kind == 0 {
		kind = Adam
	}
	rec := modelfile.TrainState{Epochs: st.Epochs, Optimizer: kind.String(), Steps: st.Solver.Steps, ExtraSteps: st.Extra.Steps}
	if st.History != nil {
		rec.History = make([]modelfile.EpochRecord, len(st.History))
		for i, e := range st.History {
			rec.History[i] = modelfile.EpochRecord(e)
		}
	}
	return rec
}

// Moments returns a solver's moments as a checkpoint stores them (shared, not copies).
func Moments(s SolverState) modelfile.Moments { return modelfile.Moments{M: s.M, V: s.V} }

// StateFrom returns the trainer state a checkpoint holds: its training state record, its
// main solver's moments and, when the model has extra parameters (extra, the learned
// scales' Adam solver), theirs.
func StateFrom(rec modelfile.TrainState, solver modelfile.Moments, extra *modelfile.Moments) (State, error) {
	kind, err := ParseOptimizer(rec.Optimizer)
	if err != nil {
		return State{}, err
	}
	st := State{Epochs: rec.Epochs, Solver: SolverState{Kind: kind, Steps: rec.Steps, M: solver.M, V: solver.V}}
	if rec.History != nil {
		st.History = make([]Epoch, len(rec.History))
		for i, e := range rec.History {
			st.History[i] = Epoch(e)
		}
	}
	if extra != nil {
		st.Extra = SolverState{Kind: Adam, Steps: rec.ExtraSteps, M: extra.M, V: extra.V}
	}
	return st, nil
}

// CheckState refuses a state that a loader would refuse: epochs, steps and history
// inconsistent, or non-finite (or negative second) moments. Writers call it, so that no
// file is written that cannot be read back.
func CheckState(st State) error {
	if st.Epochs < 0 || st.Epochs > MaxEpochs || len(st.History) != st.Epochs || st.Solver.Steps < st.Epochs {
		return fmt.Errorf("train: state of %d epochs, %d steps, %d history entries: inconsistent", st.Epochs, st.Solver.Steps, len(st.History))
	}
	if err := modelfile.CheckHistory(StateRecord(st).History); err != nil {
		return fmt.Errorf("train: state: %w", err)
	}
	if err := Moments(st.Solver).Check("opt"); err != nil {
		return fmt.Errorf("train: state: %w", err)
	}
	if err := Moments(st.Extra).Check("opt.extra"); err != nil {
		return fmt.Errorf("train: state: %w", err)
	}
	return nil
}

// ParamSizes returns the element counts of w1, b1, w2, b2, ... (the order of a solver's
// moments).
func ParamSizes(m *nn.MLP) []int {
	return m.ParamSizes()
}

// SaveCheckpoint writes a model and a trainer's state (a modelfile.CheckpointFile: optimizer
// moments as opt.m.<k> and opt.v.<k>, k the parameter index in w1, b1, w2, ... order; epochs,
// step count and history in the metadata). training is the run's configuration as JSON;
// resuming compares it.
func SaveCheckpoint(path string, m *nn.MLP, st State, training string) error {
	if err := CheckState(st); err != nil {
		return fmt.Errorf("train: %s not written: %w", path, err)
	}
	info := modelfile.Info{Arch: m.Arch(), Input: modelfile.DefaultInput(m.InputSize()), Training: training}
	if a := m.Architecture(); !a.IsMLP() {
		info.Net, info.Input = a, m.InputRecord()
	}
	f, err := modelfile.CheckpointFile{
		FloatFile: modelfile.FloatFile{Info: info, Params: m.Params()},
		State:     StateRecord(st), Solver: Moments(st.Solver),
	}.Encode()
	if err != nil {
		return modelfile.WrapFile("train", path, err)
	}
	return modelfile.Write(path, f)
}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint.
func LoadCheckpoint(path string) (*nn.MLP, State, modelfile.Info, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, State{}, modelfile.Info{}, modelfile.WrapFile("train", path, err)
	}
	m, st, info, err := DecodeCheckpoint(f)
	if err != nil {
		return nil, State{}, modelfile.Info{}, modelfile.WrapFile("train", path, err)
	}
	return m, st, info, nil
}

// DecodeCheckpoint is LoadCheckpoint from a decoded file.
func DecodeCheckpoint(f *safetensors.File) (*nn.MLP, State, modelfile.Info, error) {
	c, err := modelfile.DecodeCheckpoint(f)
	if err != nil {
		return nil, State{}, c.Info, err
	}
	m, err := nn.FromFile(c.FloatFile)
	if err != nil {
		return nil, State{}, c.Info, err
	}
	st, err := StateFrom(c.State, c.Solver, nil)
	return m, st, c.Info, err
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
				return st, modelfile.WrapFile("train", p, err)
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
