package qkernel

import "sync"

// The kernels use the outer-product (axpy) formulation with zero skipping: for one sample,
// acc[0:Out] += a_i * Wt[i][0:Out] over the inputs i whose stored value a_i is nonzero
// (zero inputs contribute nothing), then dst = acc - zp*colsum, which is exact for any zero
// point because sum_i (a_i - zp)*W[o,i] = sum_{a_i != 0} a_i*W[o,i] - zp*colsum[o] in
// int32 (mod 2^32) arithmetic.
//
// SWAR (SIMD within a register): a transposed weight row is stored as uint64 words, each
// holding perWord lanes of bits bits with the offset weight w+offset >= 0 in each lane. One
// 64-bit multiply a*word then does perWord multiply-accumulates at once, with no carry
// between lanes as long as each lane stays below 2^bits; to guarantee that, the lanes are
// flushed (added into per-output uint32 accumulators and zeroed) before the sum of the
// inputs a accumulated since the last flush exceeds maxSum. At the end the offsets are
// removed: sum a*(w+offset) - offset*sum a = sum a*w.

// layout describes a SWAR weight layout.
type layout struct {
	perWord int    // lanes per uint64 word
	bits    uint   // width of a lane
	offset  int32  // added to each weight so that a lane holds w+offset in [0, maxLane]
	maxSum  uint64 // largest sum of the inputs a lane may take between flushes (see below)
	name    string
}

// The lane bound: a lane accumulates sum a*(w+offset) <= (sum a) * maxLane, which must stay
// below 2^bits, so maxSum = (2^bits - 1) / maxLane.
var (
	// int8 weights, w+128 in [0, 255], three 21-bit lanes (bits 0, 21, 42; the top one has 22
	// bits): maxSum = (2^21-1)/255 = 8224, that is 32 inputs of 255 or ~64 typical ones.
	lanes3x21 = layout{perWord: 3, bits: 21, offset: 128, maxSum: (1<<21 - 1) / 255, name: "3x21"}
	// int8 weights, two 32-bit lanes: maxSum = (2^32-1)/255 = 16843009, so in practice never
	// flushed before the end of a row (at most 66052 inputs of 255).
	lanes2x32 = layout{perWord: 2, bits: 32, offset: 128, maxSum: (1<<32 - 1) / 255, name: "2x32"}
	// int4 weights, w+8 in [0, 15], four 16-bit lanes: maxSum = (2^16-1)/15 = 4369, that is
	// 17 inputs of 255 or ~40 typical ones.
	lanes4x16 = layout{perWord: 4, bits: 16, offset: 8, maxSum: (1<<16 - 1) / 15, name: "4x16"}
)

// words returns the number of uint64 words of a transposed row of out weights.
func (l layout) words(out int) int { return (out + l.perWord - 1) / l.perWord }

// fill writes rows [i0, i1) of the transposed SWAR layout of the weights given by at.
// Padding lanes (when perWord does not divide out) hold weight 0; their results are dropped.
func (l layout) fill(lanes []uint64, at func(o, i int) int8, out, i0, i1 int) {
	nw := l.words(out)
	for i := i0; i < i1; i++ {
		row := lanes[i*nw : (i+1)*nw]
		for j := range row {
			var x uint64
			for k := range l.perWord {
				var w int8
				if o := j*l.perWord + k; o < out {
					w = at(o, i)
				}
				x |= uint64(int32(w)+l.offset) << (uint(k) * l.bits)
			}
			row[j] = x
		}
	}
}

// gather writes one entry per nonzero byte a_i of row into nz, a_i | (i*stride)<<8, and
// returns how many there are and the sum of row. It is branch-free inside 8-byte words (pixel
// patterns are hard to predict) and skips all-zero words (MNIST digits have blank borders).
func gather(row []uint8, stride int, nz []uint64) (n int, sum uint64) {
	nz = nz[:len(row)]
	i := 0
	for ; i+8 <= len(row); i += 8 {
		r := row[i : i+8 : i+8]
		if r[0]|r[1]|r[2]|r[3]|r[4]|r[5]|r[6]|r[7] == 0 {
			continue
		}
		for k, a := range r {
			nz[n] = uint64(a) | uint64((i+k)*stride)<<8
			sum += uint64(a)
			n += int((uint32(a) + 255) >> 8) // 1 if a != 0
		}
	}
	for ; i < len(row); i++ {
		a := row[i]
		nz[n] = uint64(a) | uint64(i*stride)<<8
		sum += uint64(a)
		n += int((uint32(a) + 255) >> 8)
	}
	return n, sum
}

// swarScratch is accumulateSWAR's working memory, pooled so that calls do not allocate.
type swarScratch struct {
	acc []uint64
	tot []uint32
	nz  []uint64
}

var swarPool sync.Pool

// grow returns s with length n, reallocating only when its capacity is too small.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// accumulateSWAR runs batch rows [b0, b1) on the SWAR layout l.
func accumulateSWAR(l layout, dst []int32, src []uint8, b0, b1 int, zp []int32, lanes []uint64, colsum []int32, in, out int) {
	nw := l.words(out)
	sc, _ := swarPool.Get().(*swarScratch)
	if sc == nil {
		sc = &swarScratch{}
	}
	defer swarPool.Put(sc)
	sc.acc, sc.tot, sc.nz = grow(sc.acc, nw), grow(sc.tot, nw*l.perWord), grow(sc.nz, in)
	acc, tot, nz := sc.acc, sc.tot, sc.nz
	colsum = colsum[:out]
	for b := b0; b < b1; b++ {
		n, sum := gather(src[b*in:(b+1)*in], nw, nz)
		clear(tot)
		swarSample(l, acc, tot, lanes, nz[:n])

		z := zp[0]
		if len(zp) > 1 {
			z = zp[b]
		}
		corr := uint32(l.offset) * uint32(sum) // mod 2^32, like everything else
		d := dst[b*out : (b+1)*out]
		for o, t := range tot[:out] {
			d[o] = int32(t-corr) - z*colsum[o]
		}
	}
}

// swarSample adds sum_k a_k * lanes[off_k : off_k+len(acc)] into tot (one uint32 per lane),
// for the entries a_k | off_k<<8 of nz, four rows at a time so that acc is loaded and stored
// once per four multiply-adds.
func swarSample(l layout, acc []uint64, tot []uint32, lanes []uint64, nz []uint64) {
	clear(acc)
	var run uint64 // sum of the inputs accumulated in acc since the last flush
	k := 0
	for ; k+4 <= len(nz); k += 4 {
		e := nz[k : k+4 : k+4]
		a0, a1, a2, a3 := e[0]&255, e[1]&255, e[2]&255, e[3]&255
		if g := a0 + a1 + a2 + a3; run+g <= l.maxSum {
			run += g
		} else {
			l.flush(acc, tot)
			run = g
		}
		madd4(acc, lanes, e)
	}
	for ; k < len(nz); k++ {
		a := nz[k] & 255
		if run+a <= l.maxSum {
			run += a
		} else {
			l.flush(acc, tot)
			run = a
		}
		r := lanes[nz[k]>>8:][:len(acc)]
		for j := range acc {
			acc[j] += a * r[j]
		}
	}
	l.flush(acc, tot)
}

// madd4 adds a_k * lanes[off_k : off_k+len(acc)] to acc for the four entries a_k | off_k<<8
// of e. It is a function of its own so that the compiler keeps its loop in registers.
//
//go:noinline
func madd4(acc, lanes, e []uint64) {
	e = e[:4]
	n := len(acc)
	r0 := lanes[e[0]>>8:][:n]
	r1 := lanes[e[1]>>8:][:n]
	r2 := lanes[e[2]>>8:][:n]
	r3 := lanes[e[3]>>8:][:n]
	a0, a1, a2, a3 := e[0]&255, e[1]&255, e[2]&255, e[3]&255
	for j := range acc {
		acc[j] += a0*r0[j] + a1*r1[j] + a2*r2[j] + a3*r3[j]
	}
}

// flush adds the lanes of acc into tot and zeroes acc.
func (l layout) flush(acc []uint64, tot []uint32) {
	tot = tot[:len(acc)*l.perWord]
	mask := uint64(1)<<l.bits - 1
	switch l.perWord {
	case 3:
		for j, x := range acc {
			t := tot[3*j : 3*j+3 : 3*j+3]
			t[0] += uint32(x & mask)
			t[1] += uint32(x >> 21 & mask)
			t[2] += uint32(x >> 42)
		}
	case 4:
		for j, x := range acc {
			t := tot[4*j : 4*j+4 : 4*j+4]
			t[0] += uint32(x & 0xFFFF)
			t[1] += uint32(x >> 16 & 0xFFFF)
			t[2] += uint32(x >> 32 & 0xFFFF)
			t[3] += uint32(x >> 48)
		}
	default:
		for j, x := range acc {
			for k := range l.perWord {
				tot[j*l.perWord+k] += uint32(x >> (uint(k) * l.bits) & mask)
			}
		}
	}
	clear(acc)
}

// accumulateTransposed runs rows [b0, b1) on the transposed int8 layout with int32
// accumulators (no SWAR), kept to measure what SWAR brings.
func accumulateTransposed(dst []int32, src []uint8, b0, b1 int, zp []int32, wt []int8, colsum []int32, in, out int) {
	acc := make([]int32, out)
	nz := make([]uint64, in)
	colsum = colsum[:out]
	for b := b0; b < b1; b++ {
		n, _ := gather(src[b*in:(b+1)*in], out, nz)
		clear(acc)
		for _, e := range nz[:n] {
			r := wt[e>>8:][:len(acc)]
			a := int32(e & 255)
			for o := range acc {
				acc[o] += a * int32(r[o])
			}
		}
		z := zp[0]
		if len(zp) > 1 {
			z = zp[b]
		}
		d := dst[b*out : (b+1)*out]
		for o, s := range acc {
			d[o] = s - z*colsum[o]
		}
	}
}
