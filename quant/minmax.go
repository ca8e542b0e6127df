package quant

import "fmt"

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
	if err := checkFinite("x", x); err != nil {
		return nil, nil, err
	}
	if spec.Granularity == PerTensor {
		lo, hi := x[0], x[0]
		for _, v := range x[1:] {
			if v < lo {
				lo = v
			}
			if v > hi {
				hi = v
			}
		}
		return []float32{lo}, []float32{hi}, nil
	}
	outer, chans, inner, err := splitAxis(shape, spec.Axis)
	if err != nil {
		return nil, nil, err
	}
	mins = make([]float32, chans)
	maxs = make([]float32, chans)
	// n > 0, so outer >= 1 and inner >= 1: every channel has an element in
	// the first outer block.
	for c := range chans {
		mins[c], maxs[c] = x[c*inner], x[c*inner]
	}
	for o := range outer {
		for c := range chans {
			off := (o*chans + c) * inner
			lo, hi := mins[c], maxs[c]
			for _, v := range x[off : off+inner] {
				if v < lo {
					lo = v
				}
				if v > hi {
					hi = v
				}
			}
			mins[c], maxs[c] = lo, hi
		}
	}
	return mins, maxs, nil
}
