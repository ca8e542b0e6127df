package study

import (
	"runtime"
	"time"

	"tinyq/ptq"
	"tinyq/report"
	"tinyq/study/schema"
)

// Full returns the settings of the full study (issue 12's grid).
func Full() schema.Settings {
	return schema.Settings{
		CalibrationImages: ptq.DefaultCalibrationSize, ValidationImages: ptq.DefaultValidationSize,
		PTQWeightBits:       []int{8, 6, 5, 4, 3, 2},
		PTQActivationBits:   []int{8, 6, 4, 3, 2},
		Observers:           []string{"minmax", "percentile", "mse"},
		QATBits:             []schema.Pair{{W: 8, A: 8}, {W: 6, A: 6}, {W: 4, A: 4}, {W: 3, A: 3}, {W: 2, A: 2}, {W: 4, A: 8}, {W: 2, A: 4}},
		QATLSQ:              []bool{false, true},
		QATEpochs:           5,
		SensitivityBits:     []int{8, 4, 3, 2},
		MixedWeightBits:     []int{8, 6, 5, 4, 3, 2},
		MixedActivationBits: []int{8, 4},
		Budgets:             []int{64 << 10, 100 << 10, 128 << 10},
		KneeQATEpochs:       2,
	}
}

// Quick returns the subset for a first look (about a minute on 2 cores after FP32
// training): bits 8, 4 and 2, uniform QAT for one epoch with observed scales only (no LSQ
// points); the mixed-precision fine-tuning keeps the default recipe.
func Quick() schema.Settings {
	s := Full()
	s.Quick = true
	s.PTQWeightBits = []int{8, 4, 2}
	s.PTQActivationBits = []int{8, 4, 2}
	s.QATBits = []schema.Pair{{W: 8, A: 8}, {W: 4, A: 4}, {W: 2, A: 2}}
	s.QATLSQ = []bool{false}
	s.QATEpochs = 1
	s.SensitivityBits = []int{8, 4, 2}
	s.MixedWeightBits = []int{8, 4, 2}
	s.MixedActivationBits = []int{8}
	s.KneeQATEpochs = 1
	return s
}

// EvalBatch is the batch at which the study's training runs, its FP32 model's (cmd/mnist
// -study) and every QAT run's, evaluate the test set after each epoch, instead of train's
// default of 1000 rows: a training run's evaluation graph holds the activations of a whole
// batch, for the CNN about 150 KB a row (QAT, measured: 153 MB at 1000 rows, 34 MB at 200),
// and the study trains one run after another (18 in the full study), each on top of the
// last run's garbage, with Go's collector letting the heap grow to twice what was live.
// Each row's logits do not depend on the rows evaluated with it (tinyq/gemm), so the
// accuracies and losses are the same at any batch; at 200 rows the graph's fixed cost per
// batch stays small beside the rows' work.
const EvalBatch = 200

// MinHeldOut is the fewest training images, apart from calibration's, the study scores its
// choices on: below that a choice's logit MSE rests on too few images to rank methods.
const MinHeldOut = 1000

// HoldOut fits s to n training images: the validation images become the last ones not
// calibrated on (ptq.HeldOut), at most s.ValidationImages. It returns false, leaving s as it
// was, when n has fewer than s.CalibrationImages + MinHeldOut images.
func HoldOut(s *schema.Settings, n int) bool {
	if n < s.CalibrationImages+MinHeldOut {
		return false
	}
	_, s.ValidationImages = ptq.HeldOut(n, s.CalibrationImages, s.ValidationImages)
	return true
}

// NewRunInfo describes this run of command for study.json and the report: the date (UTC),
// the machine (report.Machine), the kernel paths that run and the Go version.
func NewRunInfo(command string) schema.RunInfo {
	return schema.RunInfo{
		Command: command,
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: report.Machine(),
		Kernels: report.ActiveKernels().String(),
		Go:      runtime.Version(),
	}
}

// For returns the settings of the full study, or with quick of Quick, for an FP32 run of
// run's Seed, Hidden, Arch, Shift, Epochs, Batch, LR, TrainLimit, Load and QATLR (the other
// fields of run are ignored): the full study's uniform QAT trains run.Epochs epochs too, and
// with Load the file decides Hidden, Arch and Epochs (left empty).
func For(quick bool, run schema.Settings) schema.Settings {
	s := Full()
	if quick {
		s = Quick()
	} else {
		s.QATEpochs = run.Epochs
	}
	s.Seed, s.Hidden, s.Epochs, s.Batch, s.LR, s.TrainLimit, s.Load = run.Seed, run.Hidden, run.Epochs, run.Batch, run.LR, run.TrainLimit, run.Load
	s.QATLR, s.Arch, s.Shift = run.QATLR, run.Arch, run.Shift
	if run.Load != "" {
		s.Hidden, s.Arch, s.Epochs = nil, "", 0
	}
	return s
}
