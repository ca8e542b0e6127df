package ptq

import (
	"fmt"

	"tinyq/quant"
)

// Mode says where activation scales come from.
type Mode int

const (
	// Static activations use scales calibrated offline; everything between quantizing the
	// input and dequantizing the logits is integer arithmetic.
	Static Mode = iota + 1
	// Dynamic activations are quantized per input row at run time from the row's own range;
	// each layer's output is dequantized to float32 (PyTorch's dynamic quantization).
	Dynamic
)

// String returns "static" or "dynamic".
func (m Mode) String() string {
	switch m {
	case Static:
		return "static"
	case Dynamic:
		return "dynamic"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Config says how to convert a float model.
type Config struct {
	Mode Mode
	// Weight: symmetric, per-channel (axis 1 of a [in, out] weight) or per-tensor, 2..8 bits.
	// Weights of 4 bits or fewer are stored packed two per byte.
	Weight quant.Spec
	// Activation: affine per-tensor, 2..8 bits (Static only; Dynamic always uses 8 bits).
	Activation quant.Spec
	// Observer calibrates activation ranges (Static only; default MinMax).
	Observer quant.ObserverConfig
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

// Name returns the variant name used in reports, e.g. "w8a8-static" or "w8-dynamic".
func (c Config) Name() string {
	if c.Mode == Dynamic {
		return fmt.Sprintf("w%d-dynamic", c.Weight.Bits)
	}
	return fmt.Sprintf("w%da%d-static", c.Weight.Bits, c.Activation.Bits)
}
