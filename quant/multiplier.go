package quant

import (
	"fmt"
	"math"
)

// QuantizeMultiplier expresses a non-negative real multiplier (typically the
// requantization factor s_in*s_w/s_out) as a Q0.31 fixed-point mantissa and a
// power of two:
//
//	real ≈ mult * 2^(shift-31),  mult in [2^30, 2^31)
//
// with shift > 0 meaning a left shift. It follows TFLite's QuantizeMultiplier
// (tensorflow/lite/kernels/internal/quantization_util.cc): frexp gives real =
// f * 2^shift with f in [0.5, 1); mult = round(f * 2^31), rounding half away
// from zero; if that rounds up to 2^31, mult = 2^30 and shift+1. The
// relative error is at most 2^-31 (half a unit in the last place of a
// mantissa >= 2^30).
//
// This is offline (conversion-time) code; the integer runtime only consumes
// (mult, shift). real == 0 gives (0, 0). As in TFLite, a real so small that
// shift < -31 (real < about 2^-32) is flushed to (0, 0), because a right
// shift by more than 31 would shift out every bit anyway. real must be finite
// and >= 0.
func QuantizeMultiplier(real float64) (mult int32, shift int, err error) {
	if math.IsNaN(real) || math.IsInf(real, 0) || real < 0 {
		return 0, 0, fmt.Errorf("quant: QuantizeMultiplier: real %v, want finite and >= 0", real)
	}
	if real == 0 {
		return 0, 0, nil
	}
	f, exp := math.Frexp(real) // real = f * 2^exp, f in [0.5, 1)
	q := int64(math.Round(f * (1 << 31)))
	if q == 1<<31 {
		q /= 2
		exp++
	}
	if exp < -31 {
		return 0, 0, nil
	}
	return int32(q), exp, nil
}
