package quant

import (
	"fmt"
	"math"
)

// QuantizeValue maps x to the integer grid:
//
//	q = clamp(roundHalfEven(x/scale) + zp, qmin, qmax)
//
// x/scale is a float32 division (never x*(1/scale), which moves ties), and
// the rounding is math.RoundToEven of that float32 value. ±Inf clamps to
// qmin or qmax; NaN quantizes like 0, to clamp(zp, qmin, qmax). Every other
// function in this package that quantizes gives bit-identical results.
func QuantizeValue(x, scale float32, zp, qmin, qmax int32) int32 {
	r := math.RoundToEven(float64(x/scale)) + float64(zp)
	if r != r { // NaN
		r = float64(zp)
	}
	if r < float64(qmin) {
		return qmin
	}
	if r > float64(qmax) {
		return qmax
	}
	return int32(r)
}

// DequantizeValue maps q back to a real: float32(q-zp)*scale, with q-zp
// computed without overflow.
func DequantizeValue(q int32, scale float32, zp int32) float32 {
	return float32(int64(q)-int64(zp)) * scale
}

// FakeQuantizeValue is DequantizeValue(QuantizeValue(x, ...)): x rounded to
// the nearest representable real, in float32. As the one exception, NaN
// passes through as NaN so that a diverging training run stays visible.
func FakeQuantizeValue(x, scale float32, zp, qmin, qmax int32) float32 {
	if x != x {
		return x
	}
	return DequantizeValue(QuantizeValue(x, scale, zp, qmin, qmax), scale, zp)
}

// ScaleGrad is the derivative of FakeQuantizeValue with respect to the scale, as Learned Step
// Size Quantization defines it (Esser et al. 2019, eq. 3): with x̂ = s·(q - zp), it is
// roundHalfEven(x/s) - x/s where x is not clipped, and the clipped level (qmin-zp or qmax-zp)
// where it is. It divides once, as QuantizeValue and InRange do, so "not clipped" is InRange
// bit for bit.
func ScaleGrad(x, scale float32, zp, qmin, qmax int32) float64 {
	t := x / scale
	r := math.RoundToEven(float64(t))
	switch q := r + float64(zp); {
	case q < float64(qmin):
		return float64(qmin - zp)
	case q > float64(qmax):
		return float64(qmax - zp)
	}
	return r - float64(t)
}

// InRange reports whether x is not clipped by the quantizer, that is whether
// roundHalfEven(x/scale)+zp lies in [qmin, qmax]. This is the mask of the
// clipped straight-through estimator (the gradient of fake-quant is 1 where
// InRange is true and 0 elsewhere), computed exactly as QuantizeValue rounds.
func InRange(x, scale float32, zp, qmin, qmax int32) bool {
	r := math.RoundToEven(float64(x/scale)) + float64(zp)
	return r >= float64(qmin) && r <= float64(qmax)
}

// Quantize writes the quantized x to dst (same length) using p. x is
// row-major with the given shape; for per-channel p the channel of an
// element is its index along p.Axis. On error dst is left unchanged.
func Quantize(dst []int32, x []float32, shape []int, p Params) error {
	if len(dst) != len(x) {
		return fmt.Errorf("quant: Quantize: len(dst) %d != len(x) %d", len(dst), len(x))
	}
	outer, chans, inner, err := layout("Quantize", len(x), shape, p)
	if err != nil {
		return err
	}
	if err := checkFinite("x", x); err != nil {
		return err
	}
	for o := range outer {
		for c := range chans {
			off := (o*chans + c) * inner
			quantizeSlice(dst[off:off+inner], x[off:off+inner], p.Scales[c], p.ZeroPoints[c], p.QMin, p.QMax)
		}
	}
	return nil
}

// Dequantize writes the reals represented by q to dst (same length) using p:
// dst[i] = float32(q[i]-zp)*scale. A value of q outside [p.QMin, p.QMax] is an
// error. On error dst is left unchanged.
func Dequantize(dst []float32, q []int32, shape []int, p Params) error {
	if len(dst) != len(q) {
		return fmt.Errorf("quant: Dequantize: len(dst) %d != len(q) %d", len(dst), len(q))
	}
	outer, chans, inner, err := layout("Dequantize", len(q), shape, p)
	if err != nil {
		return err
	}
	for i, v := range q {
		if v < p.QMin || v > p.QMax {
			return fmt.Errorf("quant: Dequantize: q[%d] = %d outside [%d, %d]", i, v, p.QMin, p.QMax)
		}
	}
	for o := range outer {
		for c := range chans {
			off := (o*chans + c) * inner
			scale, zp := p.Scales[c], p.ZeroPoints[c]
			d := dst[off : off+inner]
			for i, v := range q[off : off+inner] {
				d[i] = DequantizeValue(v, scale, zp)
			}
		}
	}
	return nil
}

// FakeQuantize writes Dequantize(Quantize(x)) to dst (same length) using p;
// each element equals FakeQuantizeValue bit for bit. dst and x may be the same
// slice. On error (including NaN or ±Inf in x) dst is left unchanged.
func FakeQuantize(dst, x []float32, shape []int, p Params) error {
	if len(dst) != len(x) {
		return fmt.Errorf("quant: FakeQuantize: len(dst) %d != len(x) %d", len(dst), len(x))
	}
	outer, chans, inner, err := layout("FakeQuantize", len(x), shape, p)
	if err != nil {
		return err
	}
	if err := checkFinite("x", x); err != nil {
		return err
	}
	if inner == 1 && chans > 1 {
		// Channel axis is the last one (e.g. a [in, out] weight with axis 1):
		// walk rows instead of calling the slice kernel once per element.
		for o := range outer {
			off := o * chans
			fakeQuantizeRow(dst[off:off+chans], x[off:off+chans], p)
		}
		return nil
	}
	for o := range outer {
		for c := range chans {
			off := (o*chans + c) * inner
			fakeQuantizeSlice(dst[off:off+inner], x[off:off+inner], p.Scales[c], p.ZeroPoints[c], p.QMin, p.QMax)
		}
	}
	return nil
}

// The slice kernels below compute exactly what QuantizeValue and
// FakeQuantizeValue compute, in a form that is faster in a tight loop:
//
//   - They clamp t = x/scale to [qmin-zp, qmax-zp] before rounding instead of
//     clamping the rounded value to [qmin, qmax]. Rounding is monotonic and
//     leaves the integer bounds fixed, so round(clamp(t)) == clamp(round(t)).
//   - They round with roundMagic instead of math.RoundToEven (which on amd64
//     v1 is an instruction behind a CPU-feature branch). After the clamp
//     |t| <= 2^32, so t + 1.5*2^52 lies in [2^52, 2^53), where float64
//     spacing is exactly 1: the addition rounds t to an integer, half to even
//     (IEEE round-to-nearest-even, the only rounding mode Go uses), and the
//     subtraction is exact. Go never reassociates floating-point arithmetic,
//     so the pair is not folded away.
//
// TestTensorMatchesScalar and FuzzFakeQuantize check the equality bit for bit.

// roundMagic is 1.5*2^52; see above.
const roundMagic = 0x1.8p52

// roundClamped returns roundHalfEven(clamp(t, lo, hi)) for integers lo <= hi
// of magnitude <= 2^32 and t not NaN.
func roundClamped(t, lo, hi float64) float64 {
	if t < lo {
		t = lo
	} else if t > hi {
		t = hi
	}
	return (t + roundMagic) - roundMagic
}

// quantizeSlice is QuantizeValue over a slice of finite values.
func quantizeSlice(dst []int32, x []float32, scale float32, zp, qmin, qmax int32) {
	dst = dst[:len(x)]
	lo, hi := float64(int64(qmin)-int64(zp)), float64(int64(qmax)-int64(zp))
	for i, v := range x {
		dst[i] = int32(int64(roundClamped(float64(v/scale), lo, hi)) + int64(zp))
	}
}

// fakeQuantizeSlice is FakeQuantizeValue over a slice of finite values: the
// hot loop of QAT. r = q-zp is an exact integer, so float32(r)*scale is
// DequantizeValue(q, scale, zp).
func fakeQuantizeSlice(dst, x []float32, scale float32, zp, qmin, qmax int32) {
	dst = dst[:len(x)]
	lo, hi := float64(int64(qmin)-int64(zp)), float64(int64(qmax)-int64(zp))
	for i, v := range x {
		dst[i] = float32(roundClamped(float64(v/scale), lo, hi)) * scale
	}
}

// fakeQuantizeRow fake-quantizes one row whose element c is in channel c.
func fakeQuantizeRow(dst, x []float32, p Params) {
	scales, zps := p.Scales[:len(x)], p.ZeroPoints[:len(x)]
	dst = dst[:len(x)]
	qmin, qmax := int64(p.QMin), int64(p.QMax)
	for c, v := range x {
		scale, zp := scales[c], int64(zps[c])
		dst[c] = float32(roundClamped(float64(v/scale), float64(qmin-zp), float64(qmax-zp))) * scale
	}
}

// layout validates p against a tensor of n elements with the given shape and
// splits the shape around the channel axis: outer*chans*inner == n, and the
// element at flat index (o*chans+c)*inner+j is in channel c. Per-tensor
// params give chans == 1.
func layout(op string, n int, shape []int, p Params) (outer, chans, inner int, err error) {
	if err := p.Validate(); err != nil {
		return 0, 0, 0, err
	}
	total, err := numElements(shape)
	if err != nil {
		return 0, 0, 0, err
	}
	if total != n {
		return 0, 0, 0, fmt.Errorf("quant: %s: shape %v has %d elements, data has %d", op, shape, total, n)
	}
	if !p.PerChannel() {
		return 1, 1, n, nil
	}
	outer, chans, inner, err = SplitAxis(shape, p.Axis)
	if err != nil {
		return 0, 0, 0, err
	}
	if chans != len(p.Scales) {
		return 0, 0, 0, fmt.Errorf("quant: %s: shape %v has %d channels along axis %d, params have %d",
			op, shape, chans, p.Axis, len(p.Scales))
	}
	return outer, chans, inner, nil
}

// numElements returns the product of shape, which must have rank >= 1 and no
// negative dimension.
func numElements(shape []int) (int, error) {
	if len(shape) == 0 {
		return 0, fmt.Errorf("quant: shape has rank 0, want >= 1")
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("quant: shape %v has a negative dimension", shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("quant: shape %v overflows int", shape)
		}
		n *= d
	}
	return n, nil
}

// SplitAxis views a row-major tensor of the given shape as [outer, chans, inner] around
// axis: outer is the product of the dimensions before axis, chans = shape[axis] and inner
// the product of the dimensions after it, so that the element at flat index
// (o*chans+c)*inner+j lies in channel c. Axis -1 means no channel axis (per-tensor, as
// Params.Axis -1): the result is (1, 1, product of shape). An axis outside [-1, len(shape)),
// a negative dimension or a product that overflows int is an error.
func SplitAxis(shape []int, axis int) (outer, chans, inner int, err error) {
	if axis < -1 || axis >= len(shape) {
		return 0, 0, 0, fmt.Errorf("quant: axis %d out of range for shape %v", axis, shape)
	}
	n := 1
	outer, chans, inner = 1, 1, 1
	for i, d := range shape {
		if d < 0 {
			return 0, 0, 0, fmt.Errorf("quant: shape %v has a negative dimension", shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, 0, 0, fmt.Errorf("quant: shape %v overflows int", shape)
		}
		n *= d
		switch {
		case axis < 0 || i > axis:
			inner *= d
		case i < axis:
			outer *= d
		default:
			chans = d
		}
	}
	return outer, chans, inner, nil
}

// QuantizeUint8 is QuantizeValue over a slice, stored as uint8: dst[i] =
// uint8(QuantizeValue(x[i], scale, zp, qmin, qmax)) bit for bit, for the integer
// runtime's activations. It needs 0 <= qmin <= qmax <= 255, len(dst) >= len(x), a finite
// scale > 0 and finite x (NaN or ±Inf is an error, reported before dst is written).
func QuantizeUint8(dst []uint8, x []float32, scale float32, zp, qmin, qmax int32) error {
	switch {
	case qmin < 0 || qmax > 255 || qmin > qmax:
		return fmt.Errorf("quant: QuantizeUint8: range [%d, %d] not within [0, 255]", qmin, qmax)
	case len(dst) < len(x):
		return fmt.Errorf("quant: QuantizeUint8: len(dst) %d < len(x) %d", len(dst), len(x))
	case !(scale > 0) || math.IsInf(float64(scale), 0):
		return fmt.Errorf("quant: QuantizeUint8: scale %v, want finite and > 0", scale)
	}
	if err := checkFinite("x", x); err != nil {
		return err
	}
	dst = dst[:len(x)]
	lo, hi := float64(int64(qmin)-int64(zp)), float64(int64(qmax)-int64(zp))
	for i, v := range x {
		dst[i] = uint8(int64(roundClamped(float64(v/scale), lo, hi)) + int64(zp))
	}
	return nil
}
