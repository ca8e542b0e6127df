package qkernel

import (
	"fmt"

	"tinyq/quant"
)

// The element-wise stages around Weights.Accumulate: input quantization, a row's range
// (dynamic mode), dequantization of accumulators to floats (dynamic mode) and logits. Each
// has one exact rule, written out here as the generic implementation (or, for QuantizeInput
// and RowRange, taken from package quant); the SIMD paths of elementwise_amd64.go equal it
// bit for bit on every input, which elementwise_test.go checks on every supported path.

// QuantizeInput quantizes x to uint8 activations exactly as quant.QuantizeUint8 does:
//
//	dst[i] = uint8(clamp(roundHalfEven(float64(x[i]/scale)) + zp, qmin, qmax))
//
// with x[i]/scale a float32 division. Only dst[:len(x)] is written; dst may be longer.
// Constraints, checked: 0 <= qmin <= qmax <= 255, len(dst) >= len(x), scale finite and > 0.
// A NaN or ±Inf in x is a *quant.NonFiniteError (the one quant.QuantizeUint8 returns), and
// then dst[:len(x)] holds unspecified values.
func QuantizeInput(dst []uint8, x []float32, scale float32, zp, qmin, qmax int32) error {
	switch {
	case qmin < 0 || qmax > 255 || qmin > qmax:
		return fmt.Errorf("qkernel: QuantizeInput: range [%d, %d] not within [0, 255]", qmin, qmax)
	case len(dst) < len(x):
		return fmt.Errorf("qkernel: QuantizeInput: len(dst) = %d < len(x) = %d", len(dst), len(x))
	case !(scale > 0) || scale > maxFloat32:
		return fmt.Errorf("qkernel: QuantizeInput: scale %v, want finite and > 0", scale)
	}
	if quantizeFast(dst[:len(x)], x, scale, zp, qmin, qmax) {
		return nil
	}
	// The reference; after the checks above it can only fail on a NaN or ±Inf.
	return quant.QuantizeUint8(dst, x, scale, zp, qmin, qmax)
}

// maxFloat32 is the largest finite float32 (math.MaxFloat32, typed).
const maxFloat32 float32 = 0x1.fffffep127

// RowRange returns the smallest and the largest value of x exactly as quant.RangeOf does:
// plain comparisons in index order, so ±Inf are ordinary values and of equal bounds (-0 and
// +0) the first is kept; a NaN anywhere makes both results that NaN (the first one); an
// empty x gives (+Inf, -Inf).
func RowRange(x []float32) (lo, hi float32) {
	if lo, hi, ok := rangeFast(x); ok {
		return lo, hi
	}
	return quant.RangeOf(x)
}

// Dequantize turns a dynamic-mode layer's int32 accumulators into floats: for r in [0, rows)
// and o in [0, out),
//
//	s := rowScale[r] * wScale[o]                        float32 product, rounded
//	v := float32(float32(acc[r*out+o])*s) + bias[o]     rounded product, then rounded sum: no FMA
//	if relu { v = max(v, 0) }                           Go's max: -0 gives +0, NaN stays NaN
//	dst[r*out+o] = v
//
// acc and dst are [rows, out]; rowScale is [rows] (the input scale of each row); wScale is
// [out] (per channel) or [1] (per tensor); bias is [out].
func Dequantize(dst []float32, acc []int32, rows, out int, rowScale, wScale, bias []float32, relu bool) error {
	if err := checkRows("Dequantize", len(dst), len(acc), rows, out); err != nil {
		return err
	}
	switch {
	case len(rowScale) != rows:
		return fmt.Errorf("qkernel: Dequantize: len(rowScale) = %d, want rows = %d", len(rowScale), rows)
	case len(wScale) != out && len(wScale) != 1:
		return fmt.Errorf("qkernel: Dequantize: len(wScale) = %d, want out = %d or 1", len(wScale), out)
	case len(bias) != out:
		return fmt.Errorf("qkernel: Dequantize: len(bias) = %d, want out = %d", len(bias), out)
	}
	if rows == 0 {
		return nil
	}
	c0 := dequantizeFast(dst, acc, rows, out, rowScale, wScale, bias, relu)
	dequantizeGeneric(dst, acc, rows, out, c0, rowScale, wScale, bias, relu)
	return nil
}

// dequantizeGeneric is Dequantize's rule on the columns [c0, out) of every row.
func dequantizeGeneric(dst []float32, acc []int32, rows, out, c0 int, rowScale, wScale, bias []float32, relu bool) {
	if c0 >= out {
		return
	}
	perChannel := len(wScale) > 1
	for r := range rows {
		a, d := acc[r*out+c0:(r+1)*out], dst[r*out+c0:(r+1)*out]
		rs, b := rowScale[r], bias[c0:out]
		b = b[:len(a)]
		for k, q := range a {
			ws := wScale[0]
			if perChannel {
				ws = wScale[c0+k]
			}
			s := rs * ws
			v := float32(float32(q)*s) + b[k]
			if relu {
				v = max(v, 0)
			}
			d[k] = v
		}
	}
}

// Logits turns the last layer's int32 accumulators into float logits: for r in [0, rows) and
// o in [0, out),
//
//	v := float32(int64(acc[r*out+o]) + int64(bias[o])) * logitScale[o]
//	if relu { v = max(v, 0) }
//	dst[r*out+o] = v
//
// The sum is exact in int64 and rounded once to float32 (half to even), then multiplied.
// acc and dst are [rows, out]; bias is [out]; logitScale is [out] or [1] (per tensor).
func Logits(dst []float32, acc []int32, rows, out int, bias []int32, logitScale []float32, relu bool) error {
	if err := checkRows("Logits", len(dst), len(acc), rows, out); err != nil {
		return err
	}
	switch {
	case len(bias) != out:
		return fmt.Errorf("qkernel: Logits: len(bias) = %d, want out = %d", len(bias), out)
	case len(logitScale) != out && len(logitScale) != 1:
		return fmt.Errorf("qkernel: Logits: len(logitScale) = %d, want out = %d or 1", len(logitScale), out)
	}
	if rows == 0 {
		return nil
	}
	c0 := logitsFast(dst, acc, rows, out, bias, logitScale, relu)
	logitsGeneric(dst, acc, rows, out, c0, bias, logitScale, relu)
	return nil
}

// logitsGeneric is Logits' rule on the columns [c0, out) of every row.
func logitsGeneric(dst []float32, acc []int32, rows, out, c0 int, bias []int32, logitScale []float32, relu bool) {
	if c0 >= out {
		return
	}
	perChannel := len(logitScale) > 1
	for r := range rows {
		a, d := acc[r*out+c0:(r+1)*out], dst[r*out+c0:(r+1)*out]
		b := bias[c0:out]
		b = b[:len(a)]
		for k, q := range a {
			s := logitScale[0]
			if perChannel {
				s = logitScale[c0+k]
			}
			v := float32(int64(q)+int64(b[k])) * s
			if relu {
				v = max(v, 0)
			}
			d[k] = v
		}
	}
}

// checkRows checks the [rows, out] shape of acc and dst.
func checkRows(name string, ndst, nacc, rows, out int) error {
	if rows < 0 || out <= 0 {
		return fmt.Errorf("qkernel: %s: bad shape rows %d, out %d", name, rows, out)
	}
	if rows > 0 && rows > (1<<31-1)/out {
		return fmt.Errorf("qkernel: %s: rows %d too large", name, rows)
	}
	n := rows * out
	if nacc != n {
		return fmt.Errorf("qkernel: %s: len(acc) = %d, want rows*out = %d", name, nacc, n)
	}
	if ndst != n {
		return fmt.Errorf("qkernel: %s: len(dst) = %d, want rows*out = %d", name, ndst, n)
	}
	return nil
}
