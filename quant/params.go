package quant

import (
	"fmt"
	"math"
)

// MinScale is the scale used when a range is zero (an all-zero tensor), so
// that no scale is ever 0 and x/scale never divides by zero. It is float32
// machine epsilon, 2^-23 = 1.1920929e-07, the same floor PyTorch's observers
// apply (torch.finfo(torch.float32).eps). ChooseParams raises every smaller
// scale to MinScale; with it an all-zero tensor quantizes to the zero point
// and dequantizes to exactly 0.
const MinScale float32 = 1.1920929e-07

// Params are concrete quantization parameters:
//
//	real = Scales[c] * (q - ZeroPoints[c]),  q in [QMin, QMax]
//
// Scales and ZeroPoints have length 1 for per-tensor parameters (Axis -1) and
// length C, the size of dimension Axis, for per-channel parameters (Axis >= 0).
type Params struct {
	Scales     []float32
	ZeroPoints []int32
	QMin, QMax int32
	Axis       int
}

// PerChannel reports whether p has one (scale, zero point) per channel.
func (p Params) PerChannel() bool { return p.Axis >= 0 }

// Validate reports whether p is usable: QMin < QMax, at least one scale, as
// many zero points as scales, every scale finite and > 0, every zero point in
// [QMin, QMax], and Axis either -1 with one scale (per-tensor) or >= 0.
func (p Params) Validate() error {
	if p.QMin >= p.QMax {
		return fmt.Errorf("quant: empty integer range [%d, %d]", p.QMin, p.QMax)
	}
	if len(p.Scales) == 0 {
		return fmt.Errorf("quant: params have no scales")
	}
	if len(p.ZeroPoints) != len(p.Scales) {
		return fmt.Errorf("quant: %d zero points for %d scales", len(p.ZeroPoints), len(p.Scales))
	}
	switch {
	case p.Axis == -1:
		if len(p.Scales) != 1 {
			return fmt.Errorf("quant: per-tensor params (axis -1) have %d scales, want 1", len(p.Scales))
		}
	case p.Axis < -1:
		return fmt.Errorf("quant: params axis %d, want -1 (per-tensor) or >= 0", p.Axis)
	}
	for c, s := range p.Scales {
		if !isFinite32(s) || s <= 0 {
			return fmt.Errorf("quant: scale[%d] = %v, want finite and > 0", c, s)
		}
	}
	for c, zp := range p.ZeroPoints {
		if zp < p.QMin || zp > p.QMax {
			return fmt.Errorf("quant: zero point[%d] = %d outside [%d, %d]", c, zp, p.QMin, p.QMax)
		}
	}
	return nil
}

// ChooseRange returns the scale and zero point ChooseParams gives one range [lo, hi] of spec s
// (per tensor), without allocating: the run-time choice of dynamic quantization.
func ChooseRange(s Spec, lo, hi float32) (scale float32, zp int32, err error) {
	if err := s.Validate(); err != nil {
		return 0, 0, err
	}
	if !isFinite32(lo) || !isFinite32(hi) {
		return 0, 0, fmt.Errorf("quant: range [%v, %v] is not finite", lo, hi)
	}
	qmin, qmax := s.QRange()
	scale, zp, err = chooseRange(s.Scheme, qmin, qmax, lo, hi)
	if err != nil {
		return 0, 0, fmt.Errorf("quant: %w", err)
	}
	return scale, zp, nil
}

// chooseRange is the rule of ChooseParams for one finite range.
func chooseRange(scheme Scheme, qmin, qmax int32, lo, hi float32) (scale float32, zp int32, err error) {
	if lo > hi {
		return 0, 0, fmt.Errorf("min %v > max %v", lo, hi)
	}
	switch scheme {
	case Symmetric:
		amax := max(-lo, hi) // = max(|lo|, |hi|) because lo <= hi
		scale = amax / float32(qmax)
		scale = max(scale, MinScale)
	case Affine:
		l, h := min(lo, 0), max(hi, 0)
		scale = (h - l) / float32(qmax-qmin)
		scale = max(scale, MinScale)
		if math.IsInf(float64(scale), 0) {
			return 0, 0, fmt.Errorf("[%v, %v] too wide for a float32 scale", lo, hi)
		}
		r := float64(qmin) - math.RoundToEven(float64(l/scale))
		zp = int32(min(max(r, float64(qmin)), float64(qmax)))
	}
	return scale, zp, nil
}

// ChooseParams computes quantization parameters for the observed ranges
// [mins[c], maxs[c]]: one range for PerTensor, one per channel for PerChannel.
// All arithmetic is float32, as in PyTorch's observers.
//
// Symmetric:
//
//	scale = max(|min|, |max|) / qmax,  zero point 0
//
// Affine (the range is first widened to contain 0, so 0.0 is representable):
//
//	min, max = min(min, 0), max(max, 0)
//	scale = (max - min) / (qmax - qmin)
//	zp    = clamp(qmin - roundHalfEven(min / scale), qmin, qmax)
//
// A scale below MinScale (a zero range) becomes MinScale. NaN or ±Inf in mins
// or maxs, min > max, or a range too wide for a finite float32 scale is an
// error.
func ChooseParams(s Spec, mins, maxs []float32) (Params, error) {
	if err := s.Validate(); err != nil {
		return Params{}, err
	}
	if len(mins) != len(maxs) {
		return Params{}, fmt.Errorf("quant: %d mins for %d maxs", len(mins), len(maxs))
	}
	if len(mins) == 0 {
		return Params{}, fmt.Errorf("quant: no ranges to choose params from")
	}
	axis := -1
	if s.Granularity == PerTensor {
		if len(mins) != 1 {
			return Params{}, fmt.Errorf("quant: per-tensor spec with %d ranges, want 1", len(mins))
		}
	} else {
		axis = s.Axis
	}
	if err := checkFinite("mins", mins); err != nil {
		return Params{}, err
	}
	if err := checkFinite("maxs", maxs); err != nil {
		return Params{}, err
	}
	qmin, qmax := s.QRange()
	p := Params{
		Scales:     make([]float32, len(mins)),
		ZeroPoints: make([]int32, len(mins)),
		QMin:       qmin,
		QMax:       qmax,
		Axis:       axis,
	}
	for c := range mins {
		scale, zp, err := chooseRange(s.Scheme, qmin, qmax, mins[c], maxs[c])
		if err != nil {
			return Params{}, fmt.Errorf("quant: range %d: %w", c, err)
		}
		p.Scales[c] = scale
		p.ZeroPoints[c] = zp
	}
	return p, nil
}
