package quant

import (
	"fmt"
)

// Scheme says how the integer grid is placed on the real line.
type Scheme int

const (
	// Symmetric is signed with zero point 0 and a range symmetric around zero:
	// q in [-(2^(b-1)-1), 2^(b-1)-1] (int8: ±127, int4: ±7; the most negative
	// two's complement value is unused), scale = max|x| / qmax.
	Symmetric Scheme = iota + 1
	// Affine is unsigned, q in [0, 2^b-1] (uint8: 0..255, uint4: 0..15), with an
	// integer zero point chosen so that 0.0 is exactly representable.
	Affine
)

// String returns "symmetric" or "affine".
func (s Scheme) String() string {
	switch s {
	case Symmetric:
		return "symmetric"
	case Affine:
		return "affine"
	}
	return fmt.Sprintf("Scheme(%d)", int(s))
}

// Granularity says how many (scale, zero point) pairs a tensor has.
type Granularity int

const (
	// PerTensor uses one scale and zero point for the whole tensor.
	PerTensor Granularity = iota + 1
	// PerChannel uses one scale and zero point per index along Spec.Axis
	// (for a weight, its output-feature axis).
	PerChannel
)

// String returns "per-tensor" or "per-channel".
func (g Granularity) String() string {
	switch g {
	case PerTensor:
		return "per-tensor"
	case PerChannel:
		return "per-channel"
	}
	return fmt.Sprintf("Granularity(%d)", int(g))
}

// Bit widths accepted by Spec.Validate. 2 bits is the smallest width for
// which the symmetric range ±(2^(b-1)-1) is not empty; 8 bits is the widest
// the integer runtime stores (int8/uint8, int32 accumulators).
const (
	MinBits = 2
	MaxBits = 8
)

// CheckBits reports a bit width outside MinBits..MaxBits: the one place the range of widths
// is checked (Spec.Validate, Widths.Validate, PackingFor and the width parsers call it).
func CheckBits(bits int) error {
	if err := checkBits(bits); err != nil {
		return fmt.Errorf("quant: %w", err)
	}
	return nil
}

// checkBits is CheckBits without the package prefix, for messages that name the spec first.
func checkBits(bits int) error {
	if bits < MinBits || bits > MaxBits {
		return fmt.Errorf("bits %d outside %d..%d", bits, MinBits, MaxBits)
	}
	return nil
}

// Spec describes a quantizer. Axis is the channel axis for PerChannel
// (ignored for PerTensor).
type Spec struct {
	Bits        int // MinBits..MaxBits
	Scheme      Scheme
	Granularity Granularity
	Axis        int
}

// Validate reports whether s describes a quantizer this package supports.
func (s Spec) Validate() error {
	if err := s.check(); err != nil {
		return fmt.Errorf("quant: %w", err)
	}
	return nil
}

// check is Validate without the package prefix, for ModelSpec.Validate, whose messages name
// the spec first ("weight spec: bits 9 outside 2..8") and its caller's package before that.
func (s Spec) check() error {
	if err := checkBits(s.Bits); err != nil {
		return err
	}
	if s.Scheme != Symmetric && s.Scheme != Affine {
		return fmt.Errorf("unknown scheme %d", int(s.Scheme))
	}
	switch s.Granularity {
	case PerTensor:
	case PerChannel:
		if s.Axis < 0 {
			return fmt.Errorf("negative per-channel axis %d", s.Axis)
		}
	default:
		return fmt.Errorf("unknown granularity %d", int(s.Granularity))
	}
	return nil
}

// QRange returns the integer range of s:
//
//	Symmetric, b bits: [-(2^(b-1)-1), 2^(b-1)-1]  (int8: [-127, 127], int4: [-7, 7])
//	Affine, b bits:    [0, 2^b-1]                  (uint8: [0, 255], uint4: [0, 15])
//
// It returns (0, 0) if s.Bits or s.Scheme is invalid.
func (s Spec) QRange() (qmin, qmax int32) {
	if CheckBits(s.Bits) != nil {
		return 0, 0
	}
	switch s.Scheme {
	case Symmetric:
		m := int32(1)<<(s.Bits-1) - 1
		return -m, m
	case Affine:
		return 0, int32(1)<<s.Bits - 1
	}
	return 0, 0
}

// String describes s, e.g. "int8 symmetric per-channel(axis 1)" or
// "uint4 affine per-tensor".
func (s Spec) String() string {
	var typ string
	switch s.Scheme {
	case Symmetric:
		typ = fmt.Sprintf("int%d", s.Bits)
	case Affine:
		typ = fmt.Sprintf("uint%d", s.Bits)
	default:
		typ = fmt.Sprintf("bits%d", s.Bits)
	}
	gran := s.Granularity.String()
	if s.Granularity == PerChannel {
		gran = fmt.Sprintf("per-channel(axis %d)", s.Axis)
	}
	return typ + " " + s.Scheme.String() + " " + gran
}
