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
	for i, v := range x {
		// v-v is 0 for every finite v and NaN for NaN and ±Inf.
		if v-v != 0 {
			return &NonFiniteError{What: what, Index: i, Value: v}
		}
	}
	return nil
}

func isFinite32(v float32) bool {
	return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
}
