package quant

import (
	"errors"
	"fmt"
	"math"
)

// NonFiniteError reports a NaN or ±Inf in data that was to be quantized or
// observed. Such a value would otherwise turn into a garbage scale or a
// silently clamped integer.
type NonFiniteError struct {
	What  string  // what held the value: "x", "mins", "maxs", ...
	Index int     // flat (row-major) index of the value
	Value float32 // the offending value
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("quant: %s[%d] is %v, want a finite value", e.What, e.Index, e.Value)
}

// ErrNoData is returned by Observer.Params when nothing has been observed
// since construction or the last Reset.
var ErrNoData = errors.New("quant: observer has seen no data")

// checkFinite returns a *NonFiniteError for the first NaN or ±Inf in x.
func checkFinite(what string, x []float32) error {
	if allFinite(x) {
		return nil
	}
	for i, v := range x {
		// v-v is 0 for every finite v and NaN for NaN and ±Inf.
		if v-v != 0 {
			return &NonFiniteError{What: what, Index: i, Value: v}
		}
	}
	return nil
}

// allFinite reports whether x has no NaN or ±Inf. It is the fast path of
// checkFinite, which runs before every FakeQuantize. A float32 is NaN or ±Inf
// iff its 8 exponent bits (mask 0x7f800000) are all ones; adding one exponent
// unit (0x00800000) to the masked bits then carries into bit 31, and only
// then. OR-ing those sums keeps bit 31 iff some value is not finite. Four
// accumulators per iteration halve the loop overhead.
func allFinite(x []float32) bool {
	const expMask, expOne, carry = 0x7f800000, 0x00800000, 0x80000000
	var a0, a1, a2, a3 uint32
	for len(x) >= 4 {
		a0 |= math.Float32bits(x[0])&expMask + expOne
		a1 |= math.Float32bits(x[1])&expMask + expOne
		a2 |= math.Float32bits(x[2])&expMask + expOne
		a3 |= math.Float32bits(x[3])&expMask + expOne
		x = x[4:]
	}
	for _, v := range x {
		a0 |= math.Float32bits(v)&expMask + expOne
	}
	return (a0|a1|a2|a3)&carry == 0
}

func isFinite32(v float32) bool {
	return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
}
