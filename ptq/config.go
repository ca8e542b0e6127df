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

// Config says how to convert a float model.
type Config struct {
	Mode Mode
	// Weight: symmetric, per-channel (axis 1 of a [in, out] weight: its output channels) or
	// per-tensor, 2..8 bits. quant.PackingFor decides how they are stored.
	Weight quant.Spec
	// Activation: affine per-tensor, 2..8 bits (Static only; Dynamic always uses 8 bits).
	Activation quant.Spec
	// Observer calibrates activation ranges (Static only; default MinMax).
	Observer quant.ObserverConfig
	// LayerBits, if set, gives layer i the weight width LayerBits[i][0] and input width
	// LayerBits[i][1] (mixed precision, Static only), overriding the Bits of Weight and
	// Activation; plan parameters must then be those of each layer's widths (calibrate each
	// layer's input at its width).
	LayerBits []quant.Widths
}

// layer returns the configuration of layer i: c with that layer's widths.
func (c Config) layer(i int) Config {
	if c.LayerBits != nil {
		c.Weight.Bits, c.Activation.Bits = c.LayerBits[i].Weight, c.LayerBits[i].Activation
	}
	c.LayerBits = nil
	return c
}

// Spec returns the usual configuration for wBits-bit weights (symmetric per-channel) and
// aBits-bit activations (affine per-tensor).
func Spec(mode Mode, wBits, aBits int) Config {
	return Config{
		Mode:       mode,
		Weight:     quant.Spec{Bits: wBits, Scheme: quant.Symmetric, Granularity: quant.PerChannel, Axis: 1},
		Activation: quant.Spec{Bits: aBits, Scheme: quant.Affine, Granularity: quant.PerTensor},
	}
}

// PerTensor returns c with one weight scale per layer instead of one per output channel.
func (c Config) PerTensor() Config {
	c.Weight.Granularity, c.Weight.Axis = quant.PerTensor, 0
	return c
}

// Validate reports the first inconsistent setting.
func (c Config) Validate() error {
	if c.Mode != Static && c.Mode != Dynamic {
		return fmt.Errorf("ptq: mode %v, want Static or Dynamic", c.Mode)
	}
	if err := c.Weight.Validate(); err != nil {
		return fmt.Errorf("ptq: weight spec: %w", err)
	}
	if c.Weight.Scheme != quant.Symmetric {
		return fmt.Errorf("ptq: weight spec %v: want symmetric (the integer kernels take zero-point-free weights)", c.Weight)
	}
	if c.Weight.Granularity == quant.PerChannel && c.Weight.Axis != 1 {
		return fmt.Errorf("ptq: weight spec: per-channel axis %d, want 1 (output axis of [in, out])", c.Weight.Axis)
	}
	if c.LayerBits != nil {
		if c.Mode != Static {
			return errors.New("ptq: per-layer widths need static mode")
		}
		for i := range c.LayerBits {
			l := c.layer(i)
			if err := l.Weight.Validate(); err != nil {
				return fmt.Errorf("ptq: layer %d weight spec: %w", i, err)
			}
			if err := l.Activation.Validate(); err != nil {
				return fmt.Errorf("ptq: layer %d activation spec: %w", i, err)
			}
		}
	}
	if c.Mode == Static {
		if err := c.Activation.Validate(); err != nil {
			return fmt.Errorf("ptq: activation spec: %w", err)
		}
		if c.Activation.Scheme != quant.Affine || c.Activation.Granularity != quant.PerTensor {
			return fmt.Errorf("ptq: activation spec %v: want affine per-tensor (uint8 storage)", c.Activation)
		}
		if _, err := quant.NewObserver(c.Activation, c.Observer); err != nil {
			return fmt.Errorf("ptq: observer: %w", err)
		}
	}
	return nil
}

// Runtime returns the runtime's view of the configuration.
func (c Config) Runtime() infer.IntConfig {
	ic := infer.IntConfig{Mode: c.Mode, WeightBits: c.Weight.Bits, PerChannel: c.Weight.Granularity == quant.PerChannel}
	if c.Mode == Static {
		ic.ActivationBits = c.Activation.Bits
	}
	if c.LayerBits != nil {
		ic.WeightBits, ic.ActivationBits = 0, 0
		ic.LayerBits = append([]quant.Widths(nil), c.LayerBits...)
	}
	return ic
}

// Name returns the variant name used in reports, e.g. "w8a8-static", "w8-dynamic" or
// "w4a4-static-per-tensor".
func (c Config) Name() string { return c.Runtime().Name() }
