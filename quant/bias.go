package quant

import (
	"fmt"
	"math"
)

// QuantizeBias quantizes a layer's bias b [out] to int32 at the scale of its accumulator,
// s = s_in·s_w[o] (the TFLite rule: int32 bias at scale s_in·s_w):
//
//	dst[o] = roundHalfEven(b[o] / s),  s = float64(sIn)·float64(sW[o])
//
// with the product (exact: two 24-bit mantissas) and the quotient in float64, rounded half
// to even by math.RoundToEven; this is the definition, shared by the converter and QAT.
// sW holds one weight scale (per-tensor) or one per output (len(b)). It is an error, and dst is left unchanged, if a result does not fit
// in int32, b holds NaN or ±Inf (*NonFiniteError), a scale is not finite and > 0, or the
// lengths do not match.
func QuantizeBias(dst []int32, b []float32, sIn float32, sW []float32) error {
	if len(dst) != len(b) {
		return fmt.Errorf("quant: QuantizeBias: len(dst) %d != len(b) %d", len(dst), len(b))
	}
	if err := checkBias("QuantizeBias", b, sIn, sW); err != nil {
		return err
	}
	for o, v := range b {
		q, _ := biasStep(v, sIn, sW, o)
		dst[o] = int32(q)
	}
	return nil
}

// FakeQuantizeBias is QuantizeBias followed by dequantization, in float32:
//
//	dst[o] = float32(q·s),  q = roundHalfEven(b[o] / s),  s = float64(sIn)·float64(sW[o])
//
// so that dst[o] == float32(float64(QuantizeBias's dst[o])·s) bit for bit. It is the bias
// rounding that QAT simulates, so that the float model it trains computes what the integer
// model computes. Errors are those of QuantizeBias, and dst is left unchanged on error. dst
// and b may be the same slice.
func FakeQuantizeBias(dst, b []float32, sIn float32, sW []float32) error {
	if len(dst) != len(b) {
		return fmt.Errorf("quant: FakeQuantizeBias: len(dst) %d != len(b) %d", len(dst), len(b))
	}
	if err := checkBias("FakeQuantizeBias", b, sIn, sW); err != nil {
		return err
	}
	for o, v := range b {
		q, s := biasStep(v, sIn, sW, o)
		dst[o] = float32(q * s)
	}
	return nil
}

// biasStep is the one bias rule: the scale s = sIn·sW[o] (sW[0] when per-tensor) and the
// rounded quotient q = roundHalfEven(v / s), both in float64.
func biasStep(v, sIn float32, sW []float32, o int) (q, s float64) {
	w := sW[0]
	if len(sW) > 1 {
		w = sW[o]
	}
	s = float64(sIn) * float64(w)
	return math.RoundToEven(float64(v) / s), s
}

// checkBias validates the arguments of QuantizeBias and FakeQuantizeBias, including that
// every rounded bias fits in int32, before anything is written.
func checkBias(op string, b []float32, sIn float32, sW []float32) error {
	if len(sW) != 1 && len(sW) != len(b) {
		return fmt.Errorf("quant: %s: %d weight scales for %d biases, want 1 or %d", op, len(sW), len(b), len(b))
	}
	if !isFinite32(sIn) || sIn <= 0 {
		return fmt.Errorf("quant: %s: input scale %v, want finite and > 0", op, sIn)
	}
	for o, w := range sW {
		if !isFinite32(w) || w <= 0 {
			return fmt.Errorf("quant: %s: weight scale sW[%d] = %v, want finite and > 0", op, o, w)
		}
	}
	if err := checkFinite("b", b); err != nil {
		return err
	}
	// The scales are at least the smallest float32 denormal (2^-149), so s >= 2^-298 and
	// |b/s| <= 2^128·2^298: the quotient is finite and the comparisons below are exact.
	for o, v := range b {
		if q, s := biasStep(v, sIn, sW, o); q < math.MinInt32 || q > math.MaxInt32 {
			return fmt.Errorf("quant: %s: b[%d] = %v is %g steps of s_in·s_w = %g, outside int32", op, o, v, q, s)
		}
	}
	return nil
}
