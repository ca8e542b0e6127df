package schema

import (
	"reflect"

	"tinyq/quant"
)

// Config is what a study was run with. Settings must match for a re-run to resume a
// study.json; Run records the circumstances of the latest run.
type Config struct {
	Settings
	Run RunInfo `json:"run"`
}

// RunInfo describes the run that last wrote the study (not compared on resume).
type RunInfo struct {
	Command string `json:"command"`
	Date    string `json:"date"` // RFC 3339, UTC
	Machine string `json:"machine"`
	Kernels string `json:"kernels"`
	Go      string `json:"go"`
}

// Pair is a weight and activation bit width as study.json writes it, {"w": 4, "a": 8}.
type Pair struct {
	W int `json:"w"`
	A int `json:"a"`
}

// Widths returns the pair as quant's widths.
func (p Pair) Widths() quant.Widths { return quant.Widths{Weight: p.W, Activation: p.A} }

// String returns the widths' name, "w4a8" (quant.Widths.String).
func (p Pair) String() string { return p.Widths().String() }

// Settings are the choices that shape a study's numbers.
type Settings struct {
	Quick bool `json:"quick"`
	// The FP32 model: how it was trained, or the file it was loaded from.
	Seed       int64   `json:"seed"` // 1 to train.MaxSeed: cmd/mnist refuses others (train.CheckSeed)
	Hidden     []int   `json:"hidden"`
	Arch       string  `json:"arch,omitempty"`  // the network in arch's grammar when not the MLP of Hidden
	Shift      int     `json:"shift,omitempty"` // FP32 and QAT training's random translations (pixels)
	Epochs     int     `json:"epochs"`
	Batch      int     `json:"batch"`
	LR         float64 `json:"lr"`
	TrainLimit int     `json:"train_limit"` // training images used (0: all)
	Load       string  `json:"load,omitempty"`

	// CalibrationImages are the first training images, used to calibrate activation ranges;
	// ValidationImages the last ones, kept apart, used to choose (observers, mixed bits).
	CalibrationImages int `json:"calibration_images"`
	ValidationImages  int `json:"validation_images"`

	// PTQ sweep.
	PTQWeightBits     []int    `json:"ptq_weight_bits"`
	PTQActivationBits []int    `json:"ptq_activation_bits"`
	Observers         []string `json:"observers"`
	// QAT.
	QATBits   []Pair  `json:"qat_bits"`
	QATLSQ    []bool  `json:"qat_lsq"` // which scale methods: observed (false), learned (true)
	QATEpochs int     `json:"qat_epochs"`
	QATLR     float64 `json:"qat_lr"` // 0: the rate qat.Default scales from LR
	// Sensitivity: each layer alone at these widths (weights and activations).
	SensitivityBits []int `json:"sensitivity_bits"`
	// Mixed precision: candidate widths per layer, budgets in bytes, knee points fine-tuned.
	MixedWeightBits     []int `json:"mixed_weight_bits"`
	MixedActivationBits []int `json:"mixed_activation_bits"`
	Budgets             []int `json:"budgets"`
	KneeQATEpochs       int   `json:"knee_qat_epochs"`
}

// Same reports whether two settings would produce the same points.
func (s Settings) Same(o Settings) bool { return reflect.DeepEqual(s, o) }
