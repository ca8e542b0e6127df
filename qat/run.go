package qat

import (
	"fmt"

	"tinyq/infer"
	"tinyq/modelfile"
	"tinyq/nn"
	"tinyq/train"
)

// Phase is one QAT training run: the float model it starts from, its quantization, its
// training settings and where its checkpoints go.
type Phase struct {
	// Start is the float model QAT begins from (the trained FP32 model to fine-tune, or a
	// freshly initialised one); Prepare copies it.
	Start *nn.MLP
	// Config is the quantization to learn.
	Config Config
	// Train is the training configuration (Name, LR, Schedule, Distill, ...). Its Log, if
	// non-nil, also receives the note that a stale checkpoint's phase is redone.
	Train train.Config
	// Checkpoint, if not "", is the phase's checkpoint file, written after every epoch.
	Checkpoint string
	// Training is the training record written into the checkpoints (a
	// modelfile.QATTraining): a checkpoint with another record is refused on resume.
	Training string
	// Resume continues from Checkpoint if it exists. A checkpoint fine-tuned from another
	// FP32 model (its record's fp32_model differs from Training's) is not resumed: the
	// phase is redone, with a note to Train.Log.
	Resume bool
}

// Result is a finished QAT phase.
type Result struct {
	Model      *Model            // the trained QAT model, observers off (for Save)
	History    *train.History    // its training history
	Simulation *infer.FloatModel // its fake-quant simulation in the float runtime
	Int        *infer.IntModel   // its conversion to integers, static activation scales
	Name       string            // the phase's name (its Train.Name)
}

// Run prepares p.Start for QAT, trains it (checkpointing after every epoch and resuming as
// p says), and converts it: its fake-quant simulation and its integer model (Static). If
// training succeeds and a conversion fails (a model trained into absurd scales), the error
// comes with the trained model and its history (for a divergence warning), without
// Simulation or Int.
func Run(p Phase, trainSet, testSet train.Data) (*Result, error) {
	qm, err := Prepare(p.Start, p.Config)
	if err != nil {
		return nil, err
	}
	tr, err := qm.NewTrainer(p.Train)
	if err != nil {
		return nil, fmt.Errorf("train %s: %w", p.Train.Name, err)
	}
	resume := p.Resume
	if resume && p.Checkpoint != "" {
		if old, stale := staleBase(p.Checkpoint, p.Training); stale {
			if old == "" {
				old = "an unrecorded one"
			}
			if p.Train.Log != nil {
				want, _ := modelfile.ParseQATTraining(p.Training)
				fmt.Fprintf(p.Train.Log, "%s: %s was fine-tuned from another FP32 model (%s, this run has %s); redoing the phase\n", p.Train.Name, p.Checkpoint, old, want.FP32Model)
			}
			resume = false
		}
	}
	hist, err := tr.Run(trainSet, testSet, qm.Checkpoints(p.Checkpoint, p.Training, resume))
	qm.SetObserving(false)
	if err != nil {
		return nil, err
	}
	if err := qm.FoldBatchNorm(); err != nil { // Config.FreezeBNAfter: what converts is folded
		return nil, err
	}
	r := &Result{Model: qm, History: hist, Name: p.Train.Name}
	if r.Simulation, err = qm.Simulation(); err != nil {
		return r, err
	}
	if r.Int, err = qm.Convert(infer.Static); err != nil {
		return r, err
	}
	return r, nil
}

// Divergence is train.Divergence of the phase's history, under the phase's name: a warning
// if it diverged, else "" (also for a nil Result: a phase that failed before training).
func (r *Result) Divergence() string {
	if r == nil {
		return ""
	}
	return train.Divergence(r.Name, r.History)
}

// staleBase reports whether the QAT checkpoint at path was fine-tuned from another FP32
// model than the record want says (modelfile.QATTraining's FP32Model): such a phase must be
// redone, not resumed. A missing or unreadable file, or a record that does not parse, is not
// stale: the trainer reports it (or starts the phase).
func staleBase(path, want string) (old string, stale bool) {
	_, info, err := nn.Load(path)
	if err != nil {
		return "", false
	}
	a, errA := modelfile.ParseQATTraining(info.Training)
	b, errB := modelfile.ParseQATTraining(want)
	if errA != nil || errB != nil {
		return "", false
	}
	return a.FP32Model, a.FP32Model != b.FP32Model
}
