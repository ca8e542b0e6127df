package train

import (
	"fmt"
	"math"
)

// MaxTrainingBytes is the most memory a run may be estimated to need for training (see
// TrainingBytes): 2 GiB, so that a run fits in a 4 GB address space with room for the data
// (about 250 MB of float32 MNIST images) and the Go runtime.
const MaxTrainingBytes = 2 << 30

// evalBatch is the evaluation batch the estimate assumes: the Evaluator's 1,000 rows.
const evalBatch = 1000

// TrainingBytes estimates the memory that training an MLP of layer sizes (inputs, hidden
// layers, classes) at batch needs: six float32 copies of the parameters (weights, gradients,
// Adam's two moments, the QAT copy and the graph's temporaries), six of a batch's
// activations over all layers (inputs, outputs and their gradients, matmul temporaries) and
// two of an evaluation batch of 1,000. It overestimates a little: batch 100,000 at
// 784-256-128-10 was measured at 1.8 GB against an estimate of 2.8 GB.
func TrainingBytes(sizes []int, batch int) (params, activations float64) {
	var p, width float64
	for i, n := range sizes {
		width += float64(n)
		if i > 0 {
			p += float64(sizes[i-1])*float64(n) + float64(n)
		}
	}
	return 4 * 6 * p, 4 * (6*float64(batch) + 2*evalBatch) * width
}

// Divergence returns a warning if a training history shows that the run named phase
// diverged: a training loss more than 100 times the loss of guessing (ln 10 ≈ 2.30 for 10
// classes) in some epoch, or test accuracy at chance (under 15%, chance being 10%) after the
// last epoch. "" if the history is fine, nil or empty.
func Divergence(phase string, h *History) string {
	if h == nil || len(h.Epochs) == 0 {
		return ""
	}
	chanceLoss := math.Log(10)
	for i, e := range h.Epochs {
		if e.TrainLoss > 100*chanceLoss {
			return fmt.Sprintf("%s diverged: training loss %.3g in epoch %d, more than 100 times that of guessing (%.2f); try a lower learning rate", phase, e.TrainLoss, i+1, chanceLoss)
		}
	}
	if f := h.Final(); f.TestAccuracy < 15 {
		return fmt.Sprintf("%s learned nothing: test accuracy %.2f%% after epoch %d, about chance (10%%); try a lower learning rate or more epochs", phase, f.TestAccuracy, len(h.Epochs))
	}
	return ""
}
