package modelfile

import (
	"encoding/json"
	"fmt"
	"math"

	"tinyq/quant"
	"tinyq/safetensors"
)

// MaxEpochs bounds the epochs a checkpoint may record: far more than any run trains, small
// enough that replaying the shuffles of every epoch on resume takes no noticeable time.
const MaxEpochs = 100_000

// The optimizers a checkpoint may record ("optimizer" in its train_state).
const (
	OptimizerAdam = "adam" // first and second moments: <prefix>.m.<k> and <prefix>.v.<k>
	OptimizerSGD  = "sgd"  // momentum only: <prefix>.m.<k>
)

// EpochRecord is one epoch of a checkpoint's history. Its JSON names are the Go field names
// (TrainLoss, ...), as tinyq has always written them.
type EpochRecord struct {
	TrainLoss    float64 // mean training loss over the epoch
	TestAccuracy float64 // percent
	TestLoss     float64
	Seconds      float64 // training time, without evaluation
}

// TrainState is the training state record of a checkpoint (metadata key "train_state").
type TrainState struct {
	Epochs     int           `json:"epochs"`
	Optimizer  string        `json:"optimizer"` // OptimizerAdam or OptimizerSGD
	Steps      int           `json:"steps"`     // the main optimizer's steps
	ExtraSteps int           `json:"extra_steps,omitempty"`
	History    []EpochRecord `json:"history"` // one per epoch
}

// String returns the record as written.
func (s TrainState) String() (string, error) { return MarshalString(s) }

// CheckHistory returns an error naming the first history entry whose values are not finite
// and in range (losses and seconds >= 0, accuracy 0 to 100), if any.
func CheckHistory(h []EpochRecord) error {
	ok := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0 }
	for i, e := range h {
		if !ok(e.TrainLoss) || !ok(e.TestLoss) || !ok(e.Seconds) || !ok(e.TestAccuracy) || e.TestAccuracy > 100 {
			return fmt.Errorf("history entry %d is not finite and in range: %+v", i+1, e)
		}
	}
	return nil
}

// ParseTrainState parses and checks a train_state record: epochs 0 to MaxEpochs with one
// history entry each, step counts >= 0 with at least one step per epoch (and none without
// epochs), the history finite and in range, a known optimizer.
func ParseTrainState(s string) (TrainState, error) {
	var st TrainState
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return TrainState{}, fmt.Errorf("train_state: %w", err)
	}
	if st.Epochs < 0 || st.Epochs > MaxEpochs || st.Steps < 0 || st.ExtraSteps < 0 || len(st.History) != st.Epochs ||
		(st.Epochs > 0) != (st.Steps > 0) || st.Steps < st.Epochs {
		return TrainState{}, fmt.Errorf("train_state: %d epochs, %d steps, %d history entries: inconsistent", st.Epochs, st.Steps, len(st.History))
	}
	if err := CheckHistory(st.History); err != nil {
		return TrainState{}, fmt.Errorf("train_state: %w", err)
	}
	if st.Optimizer != OptimizerAdam && st.Optimizer != OptimizerSGD {
		return TrainState{}, fmt.Errorf("train_state: optimizer %q, want %s or %s", st.Optimizer, OptimizerAdam, OptimizerSGD)
	}
	return st, nil
}

// Moments are an optimizer's state in a checkpoint, per parameter k (w1, b1, w2, ... order):
// M[k] as <prefix>.m.<k> and, for Adam, V[k] as <prefix>.v.<k>, F32 of the parameter's size.
type Moments struct {
	M, V [][]float32
}

// Tensors appends the moments' tensors (a nil V[k] is not written).
func (m Moments) Tensors(ts []safetensors.Tensor, prefix string) []safetensors.Tensor {
	for k, v := range m.M {
		ts = append(ts, safetensors.FromF32(fmt.Sprintf("%s.m.%d", prefix, k), []int{len(v)}, v))
	}
	for k, v := range m.V {
		if v != nil {
			ts = append(ts, safetensors.FromF32(fmt.Sprintf("%s.v.%d", prefix, k), []int{len(v)}, v))
		}
	}
	return ts
}

// Check refuses moments no training can produce: a non-finite value, or a negative second
// moment (a mean of squares).
func (m Moments) Check(prefix string) error {
	for k, v := range m.M {
		if i := quant.FirstNonFinite(v); i >= 0 {
			return fmt.Errorf("tensor %s.m.%d: element %d is %v", prefix, k, i, v[i])
		}
	}
	for k, v := range m.V {
		for i, x := range v {
			if !(x >= 0) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("tensor %s.v.%d: element %d is %v, want a finite value >= 0", prefix, k, i, x)
			}
		}
	}
	return nil
}

// ReadMoments reads the moments of an optimizer (OptimizerAdam or OptimizerSGD) for
// parameters of sizes, and checks them. A state of zero steps holds none.
func ReadMoments(f *safetensors.File, prefix, optimizer string, steps int, sizes []int) (Moments, error) {
	var m Moments
	if steps == 0 {
		return m, nil
	}
	for k, n := range sizes {
		mk, err := F32(f, fmt.Sprintf("%s.m.%d", prefix, k), n)
		if err != nil {
			return Moments{}, err
		}
		m.M = append(m.M, mk)
		if optimizer == OptimizerAdam {
			vk, err := F32(f, fmt.Sprintf("%s.v.%d", prefix, k), n)
			if err != nil {
				return Moments{}, err
			}
			m.V = append(m.V, vk)
		}
	}
	return m, m.Check(prefix)
}

// CheckpointFile is a float checkpoint (kind "checkpoint"): the float model, the training
// state record and the optimizer's moments under the prefix "opt".
type CheckpointFile struct {
	FloatFile
	State  TrainState
	Solver Moments
}

// DecodeCheckpoint reads a float checkpoint.
func DecodeCheckpoint(f *safetensors.File) (CheckpointFile, error) {
	ff, err := DecodeFloat(f, Checkpoint)
	if err != nil {
		return CheckpointFile{FloatFile: ff}, err
	}
	st, err := ParseTrainState(f.Metadata[KeyState])
	if err != nil {
		return CheckpointFile{FloatFile: ff}, err
	}
	sizes, err := ff.Info.ParamSizes()
	if err != nil {
		return CheckpointFile{FloatFile: ff}, err
	}
	m, err := ReadMoments(f, "opt", st.Optimizer, st.Steps, sizes)
	return CheckpointFile{FloatFile: ff, State: st, Solver: m}, err
}

// Encode returns c as a file.
func (c CheckpointFile) Encode() (*safetensors.File, error) {
	f, err := c.FloatFile.Encode(Checkpoint)
	if err != nil {
		return nil, err
	}
	if f.Metadata[KeyState], err = c.State.String(); err != nil {
		return nil, err
	}
	f.Tensors = c.Solver.Tensors(f.Tensors, "opt")
	return f, nil
}
