package qat

import "tinyq/train"

// LowBits is the widest bit width (of weights or activations) at which Default fine-tunes
// with the low-bit recipe.
const LowBits = 3

// Recipe is a QAT configuration with the learning-rate policy that goes with it.
type Recipe struct {
	Config Config
	// LRScale multiplies the float model's training rate to give the QAT rate (when
	// fine-tuning a trained model; from scratch, use the float rate).
	LRScale float64
	// Schedule shapes the QAT rate over the epochs.
	Schedule train.Schedule
}

// Low reports whether wBits/aBits get the low-bit recipe.
func Low(wBits, aBits int) bool { return min(wBits, aBits) <= LowBits }

// Default returns tinyq's recipe for fine-tuning a trained float model at wBits-bit weights
// and aBits-bit activations. At LowBits or fewer (either width): learned scales (LSQ)
// starting from the LSQ paper's 2·mean|x|/sqrt(Qp), the network input's scale fixed, the float
// rate with a cosine decay; measured on the MNIST MLP (issue 13), this took W2A2 from 93.98%
// to 97.95% and W3A3 from 97.58% to 98.30%. Wider: observed ranges (a moving average of
// min/max, PyTorch's QAT default) at a tenth of the float rate, constant; there the low-bit
// recipe gains nothing measurable. cmd/mnist's flags and the study start from this.
func Default(wBits, aBits int) Recipe {
	r := Recipe{Config: Spec(wBits, aBits), LRScale: 0.1, Schedule: train.ConstantLR}
	if Low(wBits, aBits) {
		r.Config.LearnScales = true
		r.Config.LSQInit = InitMeanAbs
		r.Config.FixInputScale = true
		r.LRScale, r.Schedule = 1, train.CosineLR
	}
	return r
}
