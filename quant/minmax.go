package quant

import (
	"fmt"
	"math"
)

// MinMax returns the range of x: one (min, max) for a PerTensor spec, or one
// per index along spec.Axis for a PerChannel spec. x is row-major with the
// given shape and is not modified. NaN or ±Inf in x, an empty tensor, or an
// axis out of range is an error.
func MinMax(x []float32, shape []int, spec Spec) (mins, maxs []float32, err error) {
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	n, err := numElements(shape)
	if err != nil {
		return nil, nil, err
	}
	if n != len(x) {
		return nil, nil, fmt.Errorf("quant: MinMax: shape %v has %d elements, data has %d", shape, n, len(x))
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("quant: MinMax: empty tensor (shape %v) has no range", shape)
	}
	if spec.Granularity == PerTensor {
		lo, hi := RangeOf(x)
		if !isFinite32(lo) || !isFinite32(hi) {
			return nil, nil, checkFinite("x", x) // the first NaN or ±Inf, as an error
		}
		return []float32{lo}, []float32{hi}, nil
	}
	outer, chans, inner, err := SplitAxis(shape, spec.Axis)
	if err != nil {
		return nil, nil, err
	}
	mins = make([]float32, chans)
	maxs = make([]float32, chans)
	for c := range chans {
		mins[c], maxs[c] = float32(math.Inf(1)), float32(math.Inf(-1)) // the empty range
	}
	// Merging block ranges with the same strict comparisons keeps, as one pass over the
	// channel would, the first of equal bounds (which matters only for the sign of a zero).
	// A NaN bound is kept (lo != lo), so that it is reported below.
	for o := range outer {
		for c := range chans {
			off := (o*chans + c) * inner
			lo, hi := RangeOf(x[off : off+inner])
			if lo < mins[c] || lo != lo {
				mins[c] = lo
			}
			if hi > maxs[c] || hi != hi {
				maxs[c] = hi
			}
		}
	}
	// Every NaN or ±Inf of x shows in a bound of its channel: NaN as NaN bounds, ±Inf as
	// the bound on its side, which only a NaN can replace.
	if !AllFinite(mins) || !AllFinite(maxs) {
		return nil, nil, checkFinite("x", x)
	}
	return mins, maxs, nil
}

// RangeOf returns the smallest and the largest value of x, found with plain comparisons
// (v < lo, v > hi) in index order, so ±Inf are ordinary values and of equal bounds (-0 and
// +0) the first is kept. A NaN anywhere in x makes both results NaN. An empty x gives the
// empty range (+Inf, -Inf), which merges with any other by the same comparisons. MinMax,
// and through it the observers, and autograd's fake-quant op range slices with it; a caller
// that must say where a NaN or ±Inf is looks for it only when a bound is not finite (as
// MinMax does, to return a *NonFiniteError).
func RangeOf(x []float32) (lo, hi float32) {
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	// The comparisons skip NaN. Looking for one in the loop above would add a third branch
	// per element and cost about twice as much as this second pass (AllFinite, branch-free),
	// which finds non-finite values of either kind; only then is x searched for a NaN.
	if !AllFinite(x) {
		for _, v := range x {
			if v != v {
				return v, v
			}
		}
	}
	return lo, hi
}

// MSERanges returns, like MinMax, one (min, max) for a PerTensor spec or one per index along
// spec.Axis for a PerChannel spec, but each range clipped to minimise the squared error of
// fake-quantizing x's values at spec's width: among the ranges r·[lo, hi] of MinMax's range
// (widened to contain 0; for Symmetric ±max|x|) for r = 1/100, 2/100, ..., 1, the one with
// the least summed squared error over the tensor's (or the channel's) values, ties to the
// wider range. It is MSEObserver's search, on every value exactly rather than on a histogram
// of a sample: at 4 bits or fewer a few large weights otherwise set a step that rounds most
// of the channel's weights to 0 or ±1 (Banner et al. 2019; the "mse" weight scaling of
// TensorRT and Brevitas). Errors as MinMax's.
func MSERanges(x []float32, shape []int, spec Spec) (mins, maxs []float32, err error) {
	mins, maxs, err = MinMax(x, shape, spec)
	if err != nil {
		return nil, nil, err
	}
	clip := func(c int, vals []float32) {
		lo, hi := min(mins[c], 0), max(maxs[c], 0)
		if spec.Scheme == Symmetric {
			hi = max(-mins[c], maxs[c])
			lo = -hi
		}
		if lo == hi {
			return
		}
		mins[c], maxs[c] = clipSearch(spec, lo, hi, vals, nil)
	}
	if spec.Granularity == PerTensor {
		clip(0, x)
		return mins, maxs, nil
	}
	outer, chans, inner, err := SplitAxis(shape, spec.Axis)
	if err != nil {
		return nil, nil, err
	}
	vals := make([]float32, 0, outer*inner)
	for c := range chans {
		vals = vals[:0]
		for o := range outer {
			off := (o*chans + c) * inner
			vals = append(vals, x[off:off+inner]...)
		}
		clip(c, vals)
	}
	return mins, maxs, nil
}
