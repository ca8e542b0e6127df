package schema

import "tinyq/quant"

// Results is the content of study.json: the settings it was made with, the FP32 reference,
// and every finished point of each part. Names of the JSON fields are a published schema
// (README.md, "The quantization study"); fields are only ever added.
type Results struct {
	Config Config `json:"config"`
	// FP32 is the float reference every point is compared with.
	FP32 Reference `json:"fp32"`
	// PTQ: the post-training sweep, each point the integer runtime's test accuracy.
	PTQ []PTQPoint `json:"ptq"`
	// QAT: quantization-aware training at uniform bit widths.
	QAT []QATPoint `json:"qat"`
	// Sensitivity: one layer quantized, the rest in FP32.
	Sensitivity []SensitivityPoint `json:"sensitivity"`
	// Mixed: per-layer bit widths; the Pareto front of accuracy against weight bytes.
	Mixed []MixedPoint `json:"mixed"`
	// Budgets: for each weight budget, the front point with the lowest held-out logit MSE
	// that fits (the largest that fits), with its test accuracy.
	Budgets []Budget `json:"budgets"`
	// Seconds is the wall time spent on the study so far, over all runs that resumed it.
	Seconds float64 `json:"seconds"`
	// Notes say what the study left out or narrowed, and why.
	Notes []string `json:"notes,omitempty"`
}

// Reference is the float model the study quantizes.
type Reference struct {
	Accuracy    float64 `json:"accuracy"`     // percent, full test set
	WeightBytes int     `json:"weight_bytes"` // float32 parameters
	// Layers are the layer names and shapes ("fc1": 784x256, ...).
	Layers []LayerShape `json:"layers"`
	// Curve is the per-epoch training record (empty if the model was loaded).
	Curve []EpochPoint `json:"curve,omitempty"`
	// Training is the training record the model's file holds (JSON as a string; "" if none),
	// and ParamsSHA256 the fingerprint of its parameters (Fingerprint): a resumed study
	// quantizes only the model these name (absent in studies begun before they were recorded).
	Training     string `json:"training,omitempty"`
	ParamsSHA256 string `json:"params_sha256,omitempty"`
	// Arch is the network in arch.Parse's grammar when it is not an MLP.
	Arch string `json:"arch,omitempty"`
}

// LayerShape names a layer and its size.
type LayerShape struct {
	Name string `json:"name"`
	In   int    `json:"in"`  // inputs, or a convolution's patch length (kernel·kernel·channels)
	Out  int    `json:"out"` // outputs, or a convolution's output channels
	// Kind is "conv2d" for a convolution; empty for a fully connected layer.
	Kind string `json:"kind,omitempty"`
}

// Convolutional reports whether any of the layers is a convolution.
func Convolutional(ls []LayerShape) bool {
	for _, l := range ls {
		if l.Kind == "conv2d" {
			return true
		}
	}
	return false
}

// EpochPoint is one epoch of a training curve.
type EpochPoint struct {
	Epoch        int     `json:"epoch"`
	TrainLoss    float64 `json:"train_loss"`
	TestAccuracy float64 `json:"test_accuracy"` // percent
	TestLoss     float64 `json:"test_loss"`
	Seconds      float64 `json:"seconds"` // training time of the epoch, without evaluation
}

// Granularity names of weight scales.
const (
	PerChannel = "per-channel"
	PerTensor  = "per-tensor"
)

// Modes of activation scales.
const (
	Static  = "static"
	Dynamic = "dynamic"
)

// MSEWeights is PTQPoint.WeightRange for weight ranges clipped to the least squared
// rounding error per output channel (ptq.Config.WeightRange = MSE); "" is their min/max.
const MSEWeights = "mse"

// PTQPoint is one post-training quantization of the FP32 model, evaluated by the integer
// runtime on the full test set.
type PTQPoint struct {
	WBits       int    `json:"w_bits"`
	ABits       int    `json:"a_bits"`      // 8 for dynamic (activations quantized per row at run time)
	Granularity string `json:"granularity"` // PerChannel or PerTensor
	Mode        string `json:"mode"`        // Static or Dynamic
	Observer    string `json:"observer"`    // minmax, percentile, mse; "" for dynamic
	// WeightRange is how the weights' ranges were chosen: "" their min/max, MSEWeights
	// clipped (static points with weights under 8 bits; older studies have none).
	WeightRange string `json:"weight_range,omitempty"`
	// Accuracy is the integer runtime's test accuracy in percent.
	Accuracy    float64 `json:"accuracy"`
	WeightBytes int     `json:"weight_bytes"`
	// LogitMSE is the mean squared logit difference from FP32 on the held-out training images.
	LogitMSE float64 `json:"logit_mse"`
}

// QATPoint is one quantization-aware training run at uniform bit widths, fine-tuned from
// the FP32 model.
type QATPoint struct {
	WBits int  `json:"w_bits"`
	ABits int  `json:"a_bits"`
	LSQ   bool `json:"lsq"` // learned scales; otherwise observed ranges
	// Accuracy is the fake-quant model's test accuracy, IntAccuracy its integer conversion's.
	Accuracy     float64 `json:"accuracy"`
	IntAccuracy  float64 `json:"int_accuracy"`
	WeightBytes  int     `json:"weight_bytes"`
	EpochSeconds float64 `json:"epoch_seconds"` // median training seconds per epoch
	// Curve is the per-epoch record.
	Curve []EpochPoint `json:"curve"`
}

// SensitivityPoint is one layer quantized alone (weights and its input), the rest in FP32,
// evaluated as a fake-quant simulation on the full test set.
type SensitivityPoint struct {
	Layer    string  `json:"layer"`
	WBits    int     `json:"w_bits"`
	ABits    int     `json:"a_bits"`
	Accuracy float64 `json:"accuracy"`
	// Drop is FP32 accuracy minus Accuracy, in points.
	Drop     float64 `json:"drop"`
	LogitMSE float64 `json:"logit_mse"` // against FP32, on the test set
	Observer string  `json:"observer"`  // the activation observer chosen on held-out images
}

// MixedPoint is one per-layer choice of bit widths.
type MixedPoint struct {
	// Bits are the (weight, activation) widths of each layer, in layer order.
	Bits []quant.Widths `json:"bits"`
	// Accuracy is the integer runtime's test accuracy (percent); it is measured only for
	// points on the front found on held-out training images (ValAccuracy), and is 0 for the
	// others.
	Accuracy    float64 `json:"accuracy"`
	ValAccuracy float64 `json:"val_accuracy"`
	// ValLogitMSE is the logit MSE against FP32 on the held-out training images: the score
	// the front is chosen by.
	ValLogitMSE float64 `json:"val_logit_mse"`
	WeightBytes int     `json:"weight_bytes"`
	// Pareto marks the front: no other candidate has fewer or equal weight bytes and a lower
	// held-out logit MSE.
	Pareto bool `json:"pareto"`
	// Knee marks the front's knee, Budget the points the budgets choose; both are
	// fine-tuned with QAT: QATAccuracy is the test accuracy of the fine-tuned model's integer
	// conversion (0 if not fine-tuned), File the integer model saved in the study directory.
	Knee        bool    `json:"knee,omitempty"`
	Budget      bool    `json:"budget,omitempty"`
	QATAccuracy float64 `json:"qat_accuracy,omitempty"`
	File        string  `json:"file,omitempty"`
}

// Budget is the best front point whose weights fit in Bytes.
type Budget struct {
	Bytes int `json:"bytes"`
	// Bits, Accuracy and WeightBytes of the chosen point; Bits is nil if none fits.
	Bits        []quant.Widths `json:"bits"`
	Accuracy    float64        `json:"accuracy"`
	QATAccuracy float64        `json:"qat_accuracy,omitempty"`
	WeightBytes int            `json:"weight_bytes"`
	// File is the fine-tuned integer model in the study directory ("" if none).
	File string `json:"file,omitempty"`
}
