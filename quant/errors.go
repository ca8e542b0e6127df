package quant

import (
	"errors"
	"fmt"
	"math"
	"unsafe"
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
	if i := FirstNonFinite(x); i >= 0 {
		return &NonFiniteError{What: what, Index: i, Value: x[i]}
	}
	return nil
}

// FirstNonFinite returns the index of the first NaN or ±Inf in x, or -1 if there is none.
// It tests 64 values at a time with AllFinite and looks closer only at a block that fails.
// The one test of finiteness for tinyq's inputs: quantization here, and the runtime's
// inputs, model files and fake-quant elsewhere.
func FirstNonFinite(x []float32) int {
	const block = 64
	for lo := 0; lo < len(x); lo += block {
		hi := min(lo+block, len(x))
		if AllFinite(x[lo:hi]) {
			continue
		}
		for i, v := range x[lo:hi] {
			// v-v is 0 for every finite v and NaN for NaN and ±Inf.
			if v-v != 0 {
				return lo + i
			}
		}
	}
	return -1
}

// AllFinite reports whether x has no NaN or ±Inf, without a branch per value. A float32 is
// NaN or ±Inf iff its 8 exponent bits (mask 0x7f800000) are all ones; adding one exponent
// unit (0x00800000) to the masked bits then carries into bit 31, and only then. OR-ing those
// sums keeps bit 31 iff some value is not finite. Two values are tested per 64-bit word (the
// low half never carries into the high one) with two accumulators.
func AllFinite(x []float32) bool {
	const expMask, expOne = 0x7f800000, 0x00800000
	const expMask2, expOne2, carry2 = expMask<<32 | expMask, expOne<<32 | expOne, 0x8000000080000000
	var a0, a1 uint64
	n := len(x) &^ 3
	if n > 0 {
		w := unsafe.Slice((*uint64)(unsafe.Pointer(&x[0])), n/2)
		for i := 0; i < len(w); i += 2 {
			a0 |= w[i]&expMask2 + expOne2
			a1 |= w[i+1]&expMask2 + expOne2
		}
	}
	for _, v := range x[n:] {
		a0 |= uint64(math.Float32bits(v)&expMask + expOne)
	}
	return (a0|a1)&carry2 == 0
}

func isFinite32(v float32) bool {
	return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
}
