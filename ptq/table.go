package ptq

import (
	"fmt"
	"strings"

	"tinyq/infer"
)

// TableConfigs returns the integer conversions of tinyq's standard PTQ table (the rows
// cmd/mnist prints after fp16), in order: W8A8 static per-channel and per-tensor, W8A8
// dynamic, W4A8 static, W4A4 static per-channel and per-tensor.
func TableConfigs() []Config {
	return []Config{
		Spec(Static, 8, 8),
		Spec(Static, 8, 8).PerTensor(),
		Spec(Dynamic, 8, 8),
		Spec(Static, 4, 8),
		Spec(Static, 4, 4),
		Spec(Static, 4, 4).PerTensor(),
	}
}

// TableNames returns the names of the standard table's models, in Table's order: "fp16",
// then "ptq-" and each TableConfigs name ("ptq-w8a8-static", ...).
func TableNames() []string {
	names := []string{"fp16"}
	for _, c := range TableConfigs() {
		names = append(names, tableName(c))
	}
	return names
}

// tableName is the name of c's model in the standard table.
func tableName(c Config) string { return "ptq-" + c.Name() }

// Variant is one model of the standard PTQ table.
type Variant struct {
	Name string // "fp16", "ptq-w8a8-static", ... (TableNames)
	// Float is the fp16 model, Int an integer model; exactly one is set, or neither when
	// Skipped says why the model could not be made.
	Float *infer.FloatModel
	Int   *infer.IntModel
	// Note says how the model was made: the storage, or the calibration set and method
	// (with each tried method's logit MSE when Choose compared several).
	Note    string
	Skipped string
}

// Model returns the variant's model (Float or Int), or nil when it was skipped.
func (v Variant) Model() infer.Model {
	switch {
	case v.Float != nil:
		return v.Float
	case v.Int != nil:
		return v.Int
	}
	return nil
}

// Table converts the float model fp32 into the standard PTQ table's models: fp16 (skipped
// when a value is beyond FP16's range), then each of TableConfigs, calibrated and chosen by
// Choose on images held out of trainImages (HeldOut: calibration on the first
// DefaultCalibrationSize, choice on the last DefaultValidationSize of the others; never the
// test set). trainImages hold whole images as fp32 reads them. Errors name the variant.
func Table(fp32 *infer.FloatModel, trainImages []float32) ([]Variant, error) {
	var out []Variant
	if half, err := Float16(fp32); err != nil {
		out = append(out, Variant{Name: "fp16", Skipped: "the model has values beyond FP16's range (±65504)"})
	} else {
		out = append(out, Variant{Name: "fp16", Float: half, Note: "weights stored as IEEE half, computed in float32"})
	}
	in, _ := fp32.Shape()
	if len(trainImages) == 0 || len(trainImages)%in != 0 {
		return nil, fmt.Errorf("ptq: table: %d training values are not whole images of %d", len(trainImages), in)
	}
	n := len(trainImages) / in
	ncal, nval := HeldOut(n, DefaultCalibrationSize, DefaultValidationSize)
	calib := trainImages[:ncal*in]
	val := trainImages[(n-nval)*in:]
	for _, cfg := range TableConfigs() {
		name := tableName(cfg)
		if err := CheckDynamic(fp32, cfg.Mode); err != nil {
			out = append(out, Variant{Name: name, Skipped: err.Error()})
			continue
		}
		c, err := Choose(fp32, cfg, calib, val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		note := "activation scales per row at run time"
		if cfg.Mode == Static {
			note = fmt.Sprintf("calibrated on %d training images with %s", c.Calibrated, c.Model.Calibration)
			if len(c.Scores) > 0 {
				var tried []string
				for _, s := range c.Scores {
					tried = append(tried, fmt.Sprintf("%s %.4f", s.Method(), s.MSE))
				}
				note += fmt.Sprintf(", the smallest logit MSE against fp32 on %d other training images (%s)", c.Validated, strings.Join(tried, ", "))
			}
		}
		out = append(out, Variant{Name: name, Int: c.Model, Note: note})
	}
	return out, nil
}
