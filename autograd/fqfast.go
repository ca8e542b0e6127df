package autograd

import (
	"math"

	"tinyq/quant"
)

// The fast fake-quant forward: quant.FakeQuantize and the STE mask (quant.InRange) in one
// pass, 16 elements at a time with AVX-512 where available (fqkernel_amd64.s), the rest in
// fqScalar. It computes exactly what quant computes (tested bit for bit against
// quant.FakeQuantize and quant.InRange on every path); quant stays the definition.

// fqRoundMagic is quant's roundMagic, 1.5·2^52: (t + fqRoundMagic) - fqRoundMagic is t
// rounded half to even for |t| < 2^51, in float64.
const fqRoundMagic = 0x1.8p52

// fqScalar is quant.FakeQuantizeValue of a finite x with scale s and lo = qmin-zp,
// hi = qmax-zp, computed as quant's slice kernels do.
func fqScalar(x, s, lo, hi float32) float32 {
	t := float64(x / s)
	if t < float64(lo) {
		t = float64(lo)
	} else if t > float64(hi) {
		t = float64(hi)
	}
	return float32((t+fqRoundMagic)-fqRoundMagic) * s
}

// fqInRange is quant.InRange with lo = qmin-zp and hi = qmax-zp.
func fqInRange(x, s, lo, hi float32) bool {
	r := math.RoundToEven(float64(x / s))
	return r >= float64(lo) && r <= float64(hi)
}

// fakeQuantFast writes the fake-quant of x to y and, if m is not nil, the STE mask (keep or
// 0) to m; with perChannel element i uses s[i], lo[i], hi[i], else s[0], lo[0], hi[0]. It
// reports false if an x is not finite (then y and m are garbage).
func fakeQuantFast(y, x []float32, m []uint32, s, lo, hi []float32, perChannel bool) bool {
	k := fqBlocks(y, x, m, s, lo, hi, perChannel)
	if k < 0 || !quant.AllFinite(x[k:]) {
		return false
	}
	for i := k; i < len(x); i++ {
		c := 0
		if perChannel {
			c = i
		}
		y[i] = fqScalar(x[i], s[c], lo[c], hi[c])
		if m != nil {
			m[i] = 0
			if fqInRange(x[i], s[c], lo[c], hi[c]) {
				m[i] = keep
			}
		}
	}
	return true
}

// prepareFast decides whether quantRows can use fakeQuantFast for the parameters of this
// pass (valid; per tensor, or per channel along the last axis) and computes the bounds
// lo = qmin-zp and hi = qmax-zp per channel.
func (op *fakeQuantOp) prepareFast() {
	p := op.p
	op.fast = false
	if p.Validate() != nil {
		return // quant.FakeQuantize reports it
	}
	perTensor := !p.PerChannel()
	lastAxis := len(op.shape) > 1 && p.Axis == len(op.shape)-1 && op.shape[p.Axis] == len(p.Scales)
	if !perTensor && !lastAxis {
		return
	}
	op.fqLo, op.fqHi = resize(op.fqLo, len(p.Scales)), resize(op.fqHi, len(p.Scales))
	for c, zp := range p.ZeroPoints {
		op.fqLo[c] = float32(int64(p.QMin) - int64(zp))
		op.fqHi[c] = float32(int64(p.QMax) - int64(zp))
	}
	op.fast, op.fastPerChannel = true, !perTensor
}

// quantFast is quantRows with fakeQuantFast: it reports false when the parameters or the
// values need quant.FakeQuantize's checks and errors (then y and the mask are to be
// rewritten).
func (op *fakeQuantOp) quantFast(x, y []float32, a, b int) bool {
	if !op.fast {
		return false
	}
	var m []uint32
	if op.wantMask && !op.unclipped {
		m = op.mask[a:b]
	}
	p := op.p
	if !op.fastPerChannel {
		return fakeQuantFast(y, x, m, p.Scales[:1], op.fqLo[:1], op.fqHi[:1], false)
	}
	chans := len(p.Scales)
	for off := 0; off < len(x); off += chans {
		var mr []uint32
		if m != nil {
			mr = m[off : off+chans]
		}
		if !fakeQuantFast(y[off:off+chans], x[off:off+chans], mr, p.Scales, op.fqLo, op.fqHi, true) {
			return false
		}
	}
	return true
}

// rangeOf is quant.RangeOf, bit for bit, with the first 16·⌊n/16⌋ values scanned 16 at a time
// (AVX-512 where available): the lanes' minima and maxima, reduced, equal the sequential
// ones except for the sign of a zero bound, and RangeOf keeps the first of equal bounds, so a
// zero bound is looked up as the first zero of x. A non-finite value anywhere goes to
// quant.RangeOf itself.
func rangeOf(x []float32) (lo, hi float32) {
	n := len(x) &^ 15
	if n == 0 {
		return quant.RangeOf(x)
	}
	var mins, maxs [16]float32
	copy(mins[:], x[:16])
	copy(maxs[:], x[:16])
	if rangeBlocks(x[:n], n/16, 16, mins[:], maxs[:]) == 0 {
		return quant.RangeOf(x)
	}
	lo, hi = mins[0], maxs[0]
	for c := 1; c < 16; c++ {
		lo, hi = min(lo, mins[c]), max(hi, maxs[c])
	}
	for _, v := range x[n:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo-lo != 0 || hi-hi != 0 || !quant.AllFinite(x[n:]) {
		return quant.RangeOf(x) // a NaN or ±Inf somewhere: RangeOf's own rules
	}
	if lo == 0 {
		lo = firstZero(x)
	}
	if hi == 0 {
		hi = firstZero(x)
	}
	return lo, hi
}

// firstZero returns the first ±0 in x, which has one.
func firstZero(x []float32) float32 {
	for _, v := range x {
		if v == 0 {
			return v
		}
	}
	panic("autograd: firstZero: no zero")
}
