package qkernel

import (
	"fmt"
	"runtime"
)

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

	// Expand the per-tensor and nil cases to per-channel tables once.
	ch := make([]channel, out)
	for o := range ch {
		c := &ch[o]
		c.mult = int64(mult[min(o, len(mult)-1)])
		if sh := shift[min(o, len(shift)-1)]; sh > 0 {
			c.left = uint(sh)
		} else {
			c.right = uint(-sh)
		}
		c.mask = int32(int64(1)<<c.right - 1)
		if bias != nil {
			c.bias = bias[o]
		}
	}
	// Large batches are split over GOMAXPROCS goroutines: requantizing is cheap per element,
	// but on one core it would cost ~10% of an MLP forward pass whose Accumulate calls run in
	// parallel. Below 2^15 outputs the goroutines cost more than they save.
	workers := 1
	if n >= 1<<15 {
		workers = min(runtime.GOMAXPROCS(0), batch)
	}
	parallel(batch, workers, func(b0, b1 int) {
		for b := b0; b < b1; b++ {
			requantizeRow(dst[b*out:(b+1)*out], acc[b*out:(b+1)*out], ch, zpOut, qmin, qmax)
		}
	})
	return nil
}

// channel holds the requantization constants of one output channel.
type channel struct {
	bias        int32
	mult        int64 // >= 0, so SaturatingRoundingDoublingHighMul never saturates
	left, right uint  // shift > 0: left = shift; shift <= 0: right = -shift
	mask        int32 // 2^right - 1
}

// requantizeRow is Requantize on one row, with MultiplyByQuantizedMultiplier inlined and made
// branch-free; the tests check it against the primitives.
func requantizeRow(dst []uint8, acc []int32, ch []channel, zpOut, qmin, qmax int32) {
	dst = dst[:len(acc)]
	ch = ch[:len(acc)]
	for o, x := range acc {
		c := &ch[o]
		x = (x + c.bias) << (c.left & 31) // & 31: left <= 30, and it spares a range check
		// SaturatingRoundingDoublingHighMul(x, mult) without the saturation (mult >= 0 is never
		// math.MinInt32): gemmlowp's trunc((ab + nudge) / 2^31), nudge 2^30 for ab >= 0 and
		// 1-2^30 for ab < 0, equals floor((ab + 2^30) / 2^31) for every ab (for ab < 0,
		// ceil((q+1-2^31)/2^31) = floor(q/2^31) with q = ab+2^30), i.e. round half up.
		h := int32((int64(x)*c.mult + 1<<30) >> 31)
		// RoundingDivideByPOT(h, right): add 1 when the remainder exceeds the threshold
		// mask/2 (+1 for negative h); rem > thr exactly when thr-rem < 0.
		rem := h & c.mask
		thr := c.mask>>1 - h>>31
		v := h>>(c.right&31) + int32(uint32(thr-rem)>>31) + zpOut
		dst[o] = uint8(min(max(v, qmin), qmax))
	}
}
