package qkernel

import (
	"fmt"
	"sync"
)

// Requantize turns int32 accumulators into uint8 activations with quant's one requantization
// rule, quant.MultiplyByQuantizedMultiplier (a single rounding, half up): for each b in
// [0, batch) and o in [0, out),
//
//	x := int64(acc[b*out+o]) + int64(bias[o])
//	r := floor(x * mult[o] / 2^(31-shift[o]) + 1/2)      quant.MultiplyByQuantizedMultiplier's rule
//	dst[b*out+o] = uint8(clamp(zpOut + r, qmin, qmax))
//
// all in int64, so the bias addition cannot wrap and nothing saturates before the clamp.
// Whenever x fits in an int32 and zpOut is in [0, 255] this is, bit for bit,
// clamp(zpOut + quant.MultiplyByQuantizedMultiplier(int32(x), mult[o], shift[o]), qmin, qmax).
//
// acc and dst are [batch, out]; bias is [out] (nil means no bias); mult and shift hold one
// value per output channel, or a single one for all. A fused ReLU is qmin = zpOut.
// Constraints, checked: 0 <= qmin <= qmax <= 255, mult >= 0 (normally in [2^30, 2^31) or 0),
// shift in [-31, 30].
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
	if err := checkConstants(out, bias, mult, shift, qmin, qmax); err != nil {
		return fmt.Errorf("qkernel: Requantize: %w", err)
	}

	// The SIMD path (AVX-512) computes the same rule, bit for bit; see requantizeFast.
	if requantizeFast(dst, acc, batch, out, bias, mult, shift, zpOut, qmin, qmax) {
		return nil
	}

	// Expand the per-tensor and nil cases to per-channel tables once.
	chp, _ := channelPool.Get().(*[]channel)
	if chp == nil {
		chp = new([]channel)
	}
	defer channelPool.Put(chp)
	*chp = grow(*chp, out)
	ch := *chp
	fillChannels(ch, bias, mult, shift)
	for b := 0; b < batch; b++ {
		requantizeRow(dst[b*out:(b+1)*out], acc[b*out:(b+1)*out], ch, zpOut, qmin, qmax)
	}
	return nil
}

// channelPool holds Requantize's per-channel tables, so that calls do not allocate.
var channelPool sync.Pool

// channel holds the requantization constants of one output channel.
type channel struct {
	bias int64
	mult int64 // in [0, 2^31)
	t    uint  // 30 - shift = (31 - shift) - 1, in [0, 61]
}

// requantizeRow is Requantize on one row. Its middle line is quant.MultiplyByQuantizedMultiplier's
// arithmetic, written out for the int64 sum x: floor((x*mult + 2^t) / 2^(t+1)) computed as
// ((x*mult) >> t + 1) >> 1, which cannot overflow: |x| <= 2^32 and mult < 2^31, so
// |x*mult| < 2^63. TestRequantizeMatchesQuant checks it against the quant function.
func requantizeRow(dst []uint8, acc []int32, ch []channel, zpOut, qmin, qmax int32) {
	dst = dst[:len(acc)]
	ch = ch[:len(acc)]
	zp, lo, hi := int64(zpOut), int64(qmin), int64(qmax)
	for o, a := range acc {
		c := &ch[o]
		x := int64(a) + c.bias
		r := (x*c.mult>>c.t + 1) >> 1
		dst[o] = uint8(min(max(zp+r, lo), hi))
	}
}

// checkConstants checks Requantize's per-channel constants and clamp for out channels.
func checkConstants(out int, bias, mult []int32, shift []int, qmin, qmax int32) error {
	if bias != nil && len(bias) != out {
		return fmt.Errorf("len(bias) = %d, want out = %d (or nil)", len(bias), out)
	}
	if len(mult) != out && len(mult) != 1 {
		return fmt.Errorf("len(mult) = %d, want out = %d or 1", len(mult), out)
	}
	if len(shift) != out && len(shift) != 1 {
		return fmt.Errorf("len(shift) = %d, want out = %d or 1", len(shift), out)
	}
	if qmin < 0 || qmax > 255 || qmin > qmax {
		return fmt.Errorf("clamp [%d, %d] not within [0, 255]", qmin, qmax)
	}
	for o, m := range mult {
		if m < 0 {
			return fmt.Errorf("channel %d: negative multiplier %d", o, m)
		}
	}
	for o, s := range shift {
		if s < -31 || s > 30 {
			return fmt.Errorf("channel %d: shift %d not in [-31, 30]", o, s)
		}
	}

	return nil
}

// Requantizer is Requantize for one layer's constants, checked and laid out once: Apply
// gives the bytes Requantize gives with the same arguments, without Requantize's checks of
// every constant and its per-call tables (the integer runtime requantizes three times per
// image of the CNN). It is immutable and safe for concurrent use.
type Requantizer struct {
	out            int
	zp, qmin, qmax int32
	ch             []channel  // the generic loop's constants, [out]
	tabs           []reqTable // the AVX-512 kernel's, one per reqChunk channels
}

// NewRequantizer checks Requantize's constants for out channels (bias nil or [out]; mult
// and shift [out] or [1]; the same rules as Requantize) and prepares them. The slices are
// not retained.
func NewRequantizer(out int, bias, mult []int32, shift []int, zpOut, qmin, qmax int32) (*Requantizer, error) {
	if out <= 0 {
		return nil, fmt.Errorf("qkernel: NewRequantizer: %d channels", out)
	}
	if err := checkConstants(out, bias, mult, shift, qmin, qmax); err != nil {
		return nil, fmt.Errorf("qkernel: NewRequantizer: %w", err)
	}
	r := &Requantizer{out: out, zp: zpOut, qmin: qmin, qmax: qmax, ch: make([]channel, out), tabs: make([]reqTable, (out+reqChunk-1)/reqChunk)}
	fillChannels(r.ch, bias, mult, shift)
	for k := range r.tabs {
		fillReqTable(&r.tabs[k], k*reqChunk, min(reqChunk, out-k*reqChunk), bias, mult, shift)
	}
	return r, nil
}

// Apply requantizes acc ([batch, out]) into dst ([batch, out]) as Requantize does.
func (r *Requantizer) Apply(dst []uint8, acc []int32, batch int) error {
	n := batch * r.out
	if batch < 0 || batch > (1<<31-1)/r.out || len(acc) != n || len(dst) != n {
		return fmt.Errorf("qkernel: Requantizer.Apply: len(acc) = %d, len(dst) = %d for batch %d of %d channels", len(acc), len(dst), batch, r.out)
	}
	if batch == 0 {
		return nil
	}
	if requantizeTables(dst, acc, batch, r.out, r.tabs, r.zp, r.qmin, r.qmax) {
		return nil
	}
	for b := 0; b < batch; b++ {
		requantizeRow(dst[b*r.out:(b+1)*r.out], acc[b*r.out:(b+1)*r.out], r.ch, r.zp, r.qmin, r.qmax)
	}
	return nil
}

// fillChannels sets the generic loop's constants of len(ch) channels.
func fillChannels(ch []channel, bias, mult []int32, shift []int) {
	for o := range ch {
		c := &ch[o]
		c.mult = int64(mult[min(o, len(mult)-1)])
		c.t = uint(30 - shift[min(o, len(shift)-1)])
		c.bias = 0 // a pooled table may hold an earlier call's
		if bias != nil {
			c.bias = int64(bias[o])
		}
	}
}

// reqChunk is the number of output channels whose constants one reqTable holds; wider
// layers are requantized in column strips of this width.
const reqChunk = 256

// reqTable holds the requantization constants of up to reqChunk channels in the form the
// AVX-512 kernel uses, one int64 lane per channel: with x = acc + bias and t = 30 - shift,
//
//	zpOut + (x*mult>>t + 1)>>1 = ((acc*mult + bias*mult)>>t + (1 + 2*zpOut)) >> 1
//
// because adding 2*zpOut before halving with floor adds zpOut after it. acc*mult is one
// VPMULDQ (32x32 -> 64-bit signed), bias*mult (|.| < 2^62) is precomputed, and their sum is
// x*mult, which fits in int64 (see requantizeRow).
type reqTable struct {
	mult [reqChunk]int64 // mult[o], in [0, 2^31)
	bm   [reqChunk]int64 // bias[o]*mult[o]
	t    [reqChunk]int64 // 30 - shift[o], in [0, 61]
}

// fillReqTable sets tab to the constants of channels [c0, c0+cols).
func fillReqTable(tab *reqTable, c0, cols int, bias, mult []int32, shift []int) {
	for k := range cols {
		o := c0 + k
		m := int64(mult[min(o, len(mult)-1)])
		tab.mult[k] = m
		tab.bm[k] = 0
		if bias != nil {
			tab.bm[k] = int64(bias[o]) * m
		}
		tab.t[k] = int64(30 - shift[min(o, len(shift)-1)])
	}
}
