package qkernel

import "math"

// SaturatingRoundingDoublingHighMul returns the high 32 bits of 2*a*b, that is a*b/2^31,
// rounded to nearest with ties toward +infinity (despite its sign-dependent nudge, gemmlowp's
// formula amounts to floor((a*b + 2^30) / 2^31)), saturating the single overflowing case
// a == b == math.MinInt32 to math.MaxInt32. In real terms, with a and b read as Q0.31
// fixed-point numbers in [-1, 1), it is their product a*b, again in Q0.31.
//
// It is gemmlowp's fixedpoint.h SaturatingRoundingDoublingHighMul (the same as ARM's
// SQRDMULH instruction), bit for bit.
func SaturatingRoundingDoublingHighMul(a, b int32) int32 {
	if a == b && a == math.MinInt32 {
		return math.MaxInt32
	}
	ab := int64(a) * int64(b)
	// gemmlowp's formula, kept literally: the division truncates toward zero (in C++ as in
	// Go), so a negative product gets the nudge 1-2^30 rather than 2^30.
	nudge := int64(1 << 30)
	if ab < 0 {
		nudge = 1 - (1 << 30)
	}
	return int32((ab + nudge) / (1 << 31))
}

// RoundingDivideByPOT returns x / 2^exponent rounded to nearest, ties away from zero
// (so RoundingDivideByPOT(5, 1) == 3 and RoundingDivideByPOT(-5, 1) == -3).
// exponent must be in [0, 31]; it panics otherwise (gemmlowp asserts the same).
//
// It is gemmlowp's fixedpoint.h RoundingDivideByPOT, bit for bit.
func RoundingDivideByPOT(x int32, exponent int) int32 {
	if exponent < 0 || exponent > 31 {
		panic("qkernel: RoundingDivideByPOT exponent out of [0, 31]")
	}
	mask := int32(int64(1)<<exponent - 1)
	remainder := x & mask
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	q := x >> exponent // arithmetic shift: floor(x / 2^exponent)
	if remainder > threshold {
		q++
	}
	return q
}

// MultiplyByQuantizedMultiplier returns x * mult * 2^(shift-31), rounded: it applies a real
// multiplier M = mult * 2^(shift-31) to x, where mult is a Q0.31 number normally in
// [2^30, 2^31) (M's mantissa in [0.5, 1)) or 0, and shift > 0 is a left shift applied to x
// before the multiplication, shift <= 0 a rounding right shift after it.
//
// It is TFLite's MultiplyByQuantizedMultiplier (kernels/internal/common.h, the default
// double-rounding variant), bit for bit:
//
//	RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * (1 << left), mult), right)
//
// shift must be in [-31, 30]. As in C++ on two's-complement hardware, x << left wraps on
// overflow (TFLite leaves it undefined), so a left shift is only meaningful when x*2^shift
// fits in an int32.
func MultiplyByQuantizedMultiplier(x, mult int32, shift int) int32 {
	left, right := 0, 0
	if shift > 0 {
		left = shift
	} else {
		right = -shift
	}
	return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x<<left, mult), right)
}
