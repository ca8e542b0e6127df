package qat

import (
	"tinyq/quant"
	"tinyq/train"
)

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

// LR returns the QAT learning rate: override if it is positive, else the float model's rate
// floatLR scaled by LRScale.
func (r Recipe) LR(floatLR, override float64) float64 {
	if override > 0 {
		return override
	}
	return floatLR * r.LRScale
}

// Low reports whether wBits/aBits get the low-bit recipe.
func Low(wBits, aBits int) bool { return min(wBits, aBits) <= LowBits }

// Default returns tinyq's recipe for fine-tuning a trained float model at wBits-bit weights
// and aBits-bit activations. At LowBits or fewer (either width): learned scales (LSQ), the
// float rate with a cosine decay; measured on the MNIST MLP (issue 13), this took W2A2 from
// 93.98% to 97.95% and W3A3 from 97.58% to 98.30%. Wider: observed ranges (a moving average
// of min/max, PyTorch's QAT default) at a tenth of the float rate, constant; there the
// low-bit recipe gains nothing measurable. At every width, learned scales (on by default or
// turned on by the caller) start from the LSQ paper's 2·mean|x|/sqrt(Qp) with the network
// input's scale fixed. cmd/mnist's flags and the study start from this.
func Default(wBits, aBits int) Recipe {
	r := Recipe{Config: Spec(wBits, aBits), LRScale: 0.1, Schedule: train.ConstantLR}
	r.Config.LSQInit, r.Config.FixInputScale = InitMeanAbs, true // used only with LearnScales
	if Low(wBits, aBits) {
		r.Config.LearnScales = true
		r.LRScale, r.Schedule = 1, train.CosineLR
	}
	return r
}

// ForBase adapts r to the schedule the float model was trained with. A base trained with a
// cosine schedule (train.RecipeFor's recipe for networks with convolutions, which ends near a
// zero rate) is fine-tuned along a cosine from a quarter of its rate at the wider widths,
// where Default keeps a tenth constant: measured on issue 20's CNN (seed 1), QAT W8A8 ended
// at 99.19% with a tenth constant (the FP32 base 99.18%). The low-bit recipe already decays
// along a cosine and is kept.
func (r Recipe) ForBase(base train.Schedule) Recipe {
	if base == train.CosineLR && r.Schedule == train.ConstantLR {
		r.LRScale, r.Schedule = 0.25, train.CosineLR
	}
	return r
}

// DefaultLayers is Default for per-layer widths (Config.WithWidths): the recipe of the
// narrowest widths, with every layer at its own.
func DefaultLayers(bits []quant.Widths) Recipe {
	n := quant.Narrowest(bits)
	r := Default(n.Weight, n.Activation)
	r.Config = r.Config.WithWidths(bits)
	return r
}
