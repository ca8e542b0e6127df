package ptq

import (
	"errors"
	"fmt"

	"tinyq/nn"
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
// input, as chosen by an observer of spec and cfg. A model whose logits on an image are not
// finite is refused (*NonFiniteError): its ranges would be meaningless.
func Calibrate(m *nn.MLP, images []float32, spec quant.Spec, cfg quant.ObserverConfig) ([]quant.Params, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("ptq: calibrate: %w", err)
	}
	in := m.Layers[0].In
	n := len(images) / in
	if n == 0 || len(images) != n*in {
		return nil, errors.New("ptq: calibrate: empty calibration set (want at least one image)")
	}
	obs := make([]quant.Observer, len(m.Layers))
	for i := range obs {
		o, err := quant.NewObserver(spec, cfg)
		if err != nil {
			return nil, fmt.Errorf("ptq: calibrate: %w", err)
		}
		obs[i] = o
	}
	const batch = 256
	ev, err := m.NewEvaluator(min(batch, n))
	if err != nil {
		return nil, fmt.Errorf("ptq: calibrate: %w", err)
	}
	for lo := 0; lo < n; lo += ev.Batch() {
		hi := min(lo+ev.Batch(), n)
		logits, err := ev.Forward(images[lo*in:hi*in], hi-lo)
		if err != nil {
			return nil, fmt.Errorf("ptq: calibrate: %w", err)
		}
		if err := nonFinite(logits, m.Layers[len(m.Layers)-1].Out, lo); err != nil {
			nf := err.(*NonFiniteError)
			nf.Model, nf.Set = "the float model", "calibration"
			return nil, nf
		}
		for i, l := range m.Layers {
			x := ev.LayerInput(i)[:(hi-lo)*l.In] // the real rows, not the padding
			if err := obs[i].Observe(x, []int{hi - lo, l.In}); err != nil {
				return nil, fmt.Errorf("ptq: calibrate %s input: %w", nn.LayerName(i), err)
			}
		}
	}
	out := make([]quant.Params, len(obs))
	for i, o := range obs {
		if out[i], err = o.Params(); err != nil {
			return nil, fmt.Errorf("ptq: calibrate %s input: %w", nn.LayerName(i), err)
		}
	}
	return out, nil
}
