package ptq

import (
	"errors"
	"fmt"

	"tinyq/infer"
	"tinyq/quant"
)

// DefaultCalibrationSize is the number of training images used to calibrate by default.
const DefaultCalibrationSize = 1024

// DefaultValidationSize is the number of held-out training images on which Choose scores the
// calibration methods by default.
const DefaultValidationSize = 5000

// HeldOut returns how many of n training images to calibrate on (the first ncal, at most n)
// and how many to keep apart for choosing (the last nval, at most the others): calibration
// and choice never share an image.
func HeldOut(n, ncal, nval int) (calibrate, validate int) {
	calibrate = min(ncal, n)
	return calibrate, min(nval, n-calibrate)
}

// Calibrate runs images ([n, in] row-major, n > 0; use training images, never test images)
// through the float model m in batches and returns the activation parameters of each layer's
// input, as an observer of cfg.Observer chooses them at the layer's activation width
// (cfg.Spec.Layer(i).Activation): the Plan.Inputs that Convert
// with the same cfg takes. cfg must be Static (Dynamic mode needs no calibration). A model
// whose logits on an image are not finite is refused (*NonFiniteError): its ranges would be
// meaningless.
func Calibrate(m *infer.FloatModel, cfg Config, images []float32) ([]quant.Params, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mode != Static {
		return nil, fmt.Errorf("ptq: calibrate: %v mode needs no calibration (activation scales are chosen per row at run time)", cfg.Mode)
	}
	if err := checkModel(m); err != nil {
		return nil, fmt.Errorf("ptq: calibrate: %w", err)
	}
	if err := cfg.Spec.CheckLayers(len(m.Layers)); err != nil {
		return nil, fmt.Errorf("ptq: calibrate: %w", err)
	}
	in, out := m.Shape()
	n := len(images) / in
	if len(images) == 0 {
		return nil, errors.New("ptq: calibrate: empty calibration set (want at least one image)")
	}
	if len(images) != n*in {
		return nil, fmt.Errorf("ptq: calibrate: %d values are not whole images of %d", len(images), in)
	}
	obs := make([]quant.Observer, len(m.Layers))
	for i := range obs {
		o, err := quant.NewObserver(cfg.Spec.Layer(i).Activation, cfg.Observer)
		if err != nil {
			return nil, fmt.Errorf("ptq: calibrate: %w", err)
		}
		obs[i] = o
	}
	const batch = 256 // rows per forward pass: bounds the activations held, not the result
	logits := make([]float32, min(batch, n)*out)
	rows := 0
	var obsErr error // an observer's error, returned as it is
	observe := func(i int, x []float32) error {
		if err := obs[i].Observe(x, []int{rows, m.Layers[i].InSize()}); err != nil {
			obsErr = fmt.Errorf("ptq: calibrate %s input: %w", m.Layers[i].Name, err)
		}
		return obsErr
	}
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		rows = hi - lo
		lg := logits[:rows*out]
		if err := m.ForwardLayers(images[lo*in:hi*in], rows, lg, observe); obsErr != nil {
			return nil, obsErr
		} else if err != nil {
			return nil, fmt.Errorf("ptq: calibrate: %w", err)
		}
		if err := nonFinite(lg, out, lo); err != nil {
			nf := err.(*NonFiniteError)
			nf.Model, nf.Set = "the float model", "calibration"
			return nil, nf
		}
	}
	params := make([]quant.Params, len(obs))
	for i, o := range obs {
		var err error
		if params[i], err = o.Params(); err != nil {
			return nil, fmt.Errorf("ptq: calibrate %s input: %w", m.Layers[i].Name, err)
		}
	}
	return params, nil
}

// checkModel refuses what ptq cannot quantize: no model, no layers, or a QAT model's
// fake-quant simulation (its weights are already rounded; qat.Model.Convert converts it).
func checkModel(m *infer.FloatModel) error {
	switch {
	case m == nil || len(m.Layers) == 0:
		return errors.New("no float model (want one with layers)")
	case m.Sim != nil:
		return fmt.Errorf("%s is a QAT model's fake-quant simulation; convert the QAT model itself (qat.Model.Convert)", m.Name())
	}
	return nil
}
