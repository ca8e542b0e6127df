package ptq

import (
	"errors"
	"fmt"

	"tinyq/infer"
	"tinyq/quant"
)

// Mode says where activation scales come from: the runtime's infer.Mode.
type Mode = infer.Mode

const (
	// Static activations use scales calibrated offline (infer.Static).
	Static = infer.Static
	// Dynamic activations are quantized per input row at run time (infer.Dynamic).
	Dynamic = infer.Dynamic
)

// Config says how to calibrate and convert a float model.
type Config struct {
	Mode Mode
	// Spec is how each layer is quantized (quant.ModelSpec: one layer spec for every layer,
	// or one per layer, mixed precision, Static only). Weights are symmetric, per channel
	// (axis 1 of a [in, out] weight: its output channels) or per tensor, 2..8 bits
	// (quant.PackingFor decides how they are stored); activations affine per tensor, 2..8
	// bits in Static mode, 8 bits in Dynamic mode (quantized per row at run time).
	Spec quant.ModelSpec
	// Observer calibrates activation ranges (Static only; default MinMax).
	Observer quant.ObserverConfig
	// WeightRange says how each weight's range is chosen when no QAT model supplies it:
	// quant.MinMaxObserver (the zero value means it; PyTorch's and TFLite's weight observers)
	// or quant.MSEObserver (quant.MSERanges: per channel, the clipping with the least squared
	// rounding error, which helps at 4 bits and fewer).
	WeightRange quant.ObserverKind
}

// Spec returns the usual configuration for wBits-bit weights (symmetric per-channel) and
// aBits-bit activations (affine per-tensor) in every layer (quant.LayerSpecFor).
func Spec(mode Mode, wBits, aBits int) Config {
	w := quant.Widths{Weight: wBits, Activation: aBits}
	return Config{Mode: mode, Spec: quant.Uniform(quant.LayerSpecFor(w, quant.PerChannel))}
}

// PerTensor returns c with one weight scale per layer instead of one per output channel.
func (c Config) PerTensor() Config {
	c.Spec = c.Spec.WithWeightGranularity(quant.PerTensor, 0)
	return c
}

// WithWidths returns c with the layers at widths ws (one entry: every layer; else one per
// layer, mixed precision), each layer otherwise as c's first.
func (c Config) WithWidths(ws []quant.Widths) Config {
	c.Spec = c.Spec.WithWidths(ws)
	return c
}

// Validate reports the first inconsistent setting.
func (c Config) Validate() error {
	if c.Mode != Static && c.Mode != Dynamic {
		return fmt.Errorf("ptq: mode %v, want Static or Dynamic", c.Mode)
	}
	if err := c.Spec.Validate(); err != nil {
		return fmt.Errorf("ptq: %w", err)
	}
	l := c.Spec.Layer(0) // the layers differ only in widths
	if l.Weight.Scheme != quant.Symmetric {
		return fmt.Errorf("ptq: weight spec %v: want symmetric (the integer kernels take zero-point-free weights)", l.Weight)
	}
	if l.Weight.Granularity == quant.PerChannel && l.Weight.Axis != 1 {
		return fmt.Errorf("ptq: weight spec: per-channel axis %d, want 1 (output axis of [in, out])", l.Weight.Axis)
	}
	if l.Activation.Scheme != quant.Affine || l.Activation.Granularity != quant.PerTensor {
		return fmt.Errorf("ptq: activation spec %v: want affine per-tensor (uint8 storage)", l.Activation)
	}
	if k := c.WeightRange; k != 0 && k != quant.MinMaxObserver && k != quant.MSEObserver {
		return fmt.Errorf("ptq: weight range %v, want minmax or mse", k)
	}
	if c.Mode == Dynamic {
		if c.Spec.PerLayer() {
			return errors.New("ptq: per-layer widths need static mode")
		}
		if a := l.Activation.Bits; a != 8 {
			return fmt.Errorf("ptq: dynamic mode quantizes activations to 8 bits per row at run time, not %d", a)
		}
		return nil
	}
	if _, err := quant.NewObserver(l.Activation, c.Observer); err != nil {
		return fmt.Errorf("ptq: observer: %w", err)
	}
	return nil
}

// Runtime returns the runtime's view of the configuration.
func (c Config) Runtime() infer.IntConfig { return infer.IntConfig{Mode: c.Mode, Spec: c.Spec} }

// Name returns the variant name used in reports, e.g. "w8a8-static", "w8-dynamic" or
// "w4a4-static-per-tensor".
func (c Config) Name() string { return c.Runtime().Name() }
