package qkernel

import "fmt"

// Requantize turns int32 accumulators into uint8 activations: for each b in [0, batch) and
// o in [0, out),
//
//	v := acc[b*out+o] + bias[o]
//	v = MultiplyByQuantizedMultiplier(v, mult[o], shift[o]) + zpOut
//	dst[b*out+o] = uint8(clamp(v, qmin, qmax))
//
// acc and dst are [batch, out]; bias is [out] (nil means no bias); mult and shift hold one
// value per output channel or a single one for all. A fused ReLU is qmin = zpOut.
// Constraints, checked: 0 <= qmin <= qmax <= 255, mult >= 0 (normally in [2^30, 2^31) or 0),
// shift in [-31, 30]. The additions wrap in int32, as they would in C++ on the same hardware.
func Requantize(dst []uint8, acc []int32, batch, out int, bias, mult []int32, shift []int, zpOut, qmin, qmax int32) error {
	if batch < 0 || out <= 0 {
		return fmt.Errorf("qkernel: Requantize: bad shape batch %d, out %d", batch, out)
	}
	if batch > 0 && batch > (1<<31-1)/out {
		return fmt.Errorf("qkernel: Requantize: batch %d too large", batch)
	}
	n := batch * out
	if len(acc) != n {
		return fmt.Errorf("qkernel: Requantize: len(acc) = %d, want batch*out = %d", len(acc), n)
	}
	if len(dst) != n {
		return fmt.Errorf("qkernel: Requantize: len(dst) = %d, want batch*out = %d", len(dst), n)
	}
	if bias != nil && len(bias) != out {
		return fmt.Errorf("qkernel: Requantize: len(bias) = %d, want out = %d (or nil)", len(bias), out)
	}
	if len(mult) != out && len(mult) != 1 {
		return fmt.Errorf("qkernel: Requantize: len(mult) = %d, want out = %d or 1", len(mult), out)
	}
	if len(shift) != out && len(shift) != 1 {
		return fmt.Errorf("qkernel: Requantize: len(shift) = %d, want out = %d or 1", len(shift), out)
	}
	if qmin < 0 || qmax > 255 || qmin > qmax {
		return fmt.Errorf("qkernel: Requantize: clamp [%d, %d] not within [0, 255]", qmin, qmax)
	}
	for _, m := range mult {
		if m < 0 {
			return fmt.Errorf("qkernel: Requantize: negative multiplier %d", m)
		}
	}
	for _, s := range shift {
		if s < -31 || s > 30 {
			return fmt.Errorf("qkernel: Requantize: shift %d not in [-31, 30]", s)
		}
	}

	// Expand the per-tensor and nil cases to per-channel slices once.
	m := make([]int32, out)
	s := make([]int, out)
	bb := make([]int32, out)
	for o := range out {
		m[o] = mult[min(o, len(mult)-1)]
		s[o] = shift[min(o, len(shift)-1)]
		if bias != nil {
			bb[o] = bias[o]
		}
	}
	for b := range batch {
		a := acc[b*out : (b+1)*out]
		d := dst[b*out : (b+1)*out]
		for o, x := range a {
			v := MultiplyByQuantizedMultiplier(x+bb[o], m[o], s[o]) + zpOut
			d[o] = uint8(min(max(v, qmin), qmax))
		}
	}
	return nil
}
