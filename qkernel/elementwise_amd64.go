//go:build amd64 && gc && !purego

package qkernel

import (
	"sync"

	"tinyq/quant"
)

// The SIMD element-wise stages. The AVX512VNNI path uses 512-bit AVX-512F/BW/DQ code with
// k-register masks for the ends of rows, so every element goes through the same
// instructions. The AVX2 path runs 256-bit code on whole blocks of 8 and leaves the last
// out%8 columns of each row (or len%8 elements) to the generic code, which computes the
// same rule.

// nonFiniteAVX2 reports whether x[0:n] holds a NaN or ±Inf (v-v is NaN exactly for those),
// for n a multiple of 8.
//
//go:noescape
func nonFiniteAVX2(x *float32, n int) bool

// quantizeAVX512 writes dst[i] = uint8(zp + roundHalfEven(clamp(x[i]/scale, lo, hi))) for
// i < n, where lo = qmin-zp and hi = qmax-zp are integers of magnitude <= 2^24, and reports
// whether every x[i] was finite (when not, dst holds garbage where they were).
//
//go:noescape
func quantizeAVX512(dst *uint8, x *float32, n int, scale, lo, hi float32, zp int32) (finite bool)

// quantizeAVX2 is quantizeAVX512 for n a multiple of 8.
//
//go:noescape
func quantizeAVX2(dst *uint8, x *float32, n int, scale, lo, hi float32, zp int32)

// rangeAVX512 returns the minimum and maximum of x[0:n] (n >= 1) found by VMINPS and
// VMAXPS, whose zero results have an arbitrary sign, and whether x holds a NaN (then lo and
// hi mean nothing).
//
//go:noescape
func rangeAVX512(x *float32, n int) (lo, hi float32, nan bool)

// rangeAVX2 is rangeAVX512 for n a positive multiple of 8.
//
//go:noescape
func rangeAVX2(x *float32, n int) (lo, hi float32, nan bool)

// Flags of the row kernels.
const (
	ewPerChannel = 1 // the scales are per output channel (else one for all)
	ewReLU       = 2 // v = max(v, 0)
)

// dequantizeAVX512 is Dequantize's rule on the first cols columns of rows rows of stride ld
// (elements): acc, dst and bias start at column 0, rowScale at row 0, wScale at column 0 (or
// holds the single scale).
//
//go:noescape
func dequantizeAVX512(dst *float32, acc *int32, rows, cols, ld int, rowScale, wScale, bias *float32, flags int)

// dequantizeAVX2 is dequantizeAVX512 for cols a positive multiple of 8.
//
//go:noescape
func dequantizeAVX2(dst *float32, acc *int32, rows, cols, ld int, rowScale, wScale, bias *float32, flags int)

// logitsAVX512 is Logits' rule on the first cols columns of rows rows of stride ld.
//
//go:noescape
func logitsAVX512(dst *float32, acc *int32, rows, cols, ld int, bias *int32, scale *float32, flags int)

// logitsAVX2 is logitsAVX512 for cols a positive multiple of 8.
//
//go:noescape
func logitsAVX2(dst *float32, acc *int32, rows, cols, ld int, bias *int32, scale *float32, flags int)

// requantizeAVX512 is Requantize's rule on the first cols (<= reqChunk) columns of rows rows
// of stride ld, with the channel constants in tab (column k in entry k) and, for every
// channel, c = 1 + 2*zpOut, lo = qmin, hi = qmax. See reqTable.
//
//go:noescape
func requantizeAVX512(dst *uint8, acc *int32, rows, cols, ld int, tab *reqTable, c, lo, hi int64)

func quantizeFast(dst []uint8, x []float32, scale float32, zp, qmin, qmax int32) bool {
	// The float clamp bounds must be exact float32 integers; zero points that far out of
	// [0, 255] (never produced by quant.ChooseParams) take the generic path.
	lo, hi := int64(qmin)-int64(zp), int64(qmax)-int64(zp)
	if active == Generic || len(x) == 0 || lo < -1<<24 || hi > 1<<24 {
		return false
	}
	// On a NaN or ±Inf the generic code then reports the first one (AVX-512 notes them in
	// the same pass as it quantizes; AVX2 checks in a pass before).
	if active == AVX512VNNI {
		return quantizeAVX512(&dst[0], &x[0], len(x), scale, float32(lo), float32(hi), zp)
	}
	n := len(x) &^ 7
	if n > 0 && nonFiniteAVX2(&x[0], n) {
		return false
	}
	for _, v := range x[n:] {
		if v-v != 0 {
			return false
		}
	}
	if n > 0 {
		quantizeAVX2(&dst[0], &x[0], n, scale, float32(lo), float32(hi), zp)
	}
	if n < len(x) {
		// Cannot fail: the arguments are checked and x[n:] is finite.
		_ = quant.QuantizeUint8(dst[n:], x[n:], scale, zp, qmin, qmax)
	}
	return true
}

func rangeFast(x []float32) (lo, hi float32, ok bool) {
	var nan bool
	switch {
	case active == AVX512VNNI && len(x) > 0:
		lo, hi, nan = rangeAVX512(&x[0], len(x))
	case (active == AVX2 || active == AVXVNNI) && len(x) >= 8:
		n := len(x) &^ 7
		lo, hi, nan = rangeAVX2(&x[0], n)
		for _, v := range x[n:] {
			nan = nan || v != v
			lo, hi = min(lo, v), max(hi, v) // no NaN matters; zero signs are fixed below
		}
	default:
		return 0, 0, false
	}
	if nan {
		return 0, 0, false // quant.RangeOf returns the first NaN
	}
	lo, hi = fixZeroBounds(x, lo, hi)
	return lo, hi, true
}

// fixZeroBounds gives a zero bound found by SIMD min/max (whose sign depends on the lane
// order) the sign quant.RangeOf gives it: that of the first element equal to zero, because
// RangeOf's strict comparisons keep the first of equal bounds. Only ±0 compare equal with
// different bits, so no other bound needs this. x holds no NaN.
func fixZeroBounds(x []float32, lo, hi float32) (float32, float32) {
	if lo != 0 && hi != 0 {
		return lo, hi
	}
	for _, v := range x {
		if v == 0 {
			if lo == 0 {
				lo = v
			}
			if hi == 0 {
				hi = v
			}
			break
		}
	}
	return lo, hi
}

// rowFlags returns the row kernels' flags.
func rowFlags(perChannel, relu bool) int {
	f := 0
	if perChannel {
		f |= ewPerChannel
	}
	if relu {
		f |= ewReLU
	}
	return f
}

// dequantizeFast runs Dequantize on the active SIMD path and returns the first column it
// did not compute (out when it computed all, 0 when there is no SIMD path).
func dequantizeFast(dst []float32, acc []int32, rows, out int, rowScale, wScale, bias []float32, relu bool) int {
	flags := rowFlags(len(wScale) > 1, relu)
	switch active {
	case AVX512VNNI:
		dequantizeAVX512(&dst[0], &acc[0], rows, out, out, &rowScale[0], &wScale[0], &bias[0], flags)
		return out
	case AVX2, AVXVNNI:
		cols := out &^ 7
		if cols > 0 {
			dequantizeAVX2(&dst[0], &acc[0], rows, cols, out, &rowScale[0], &wScale[0], &bias[0], flags)
		}
		return cols
	}
	return 0
}

// logitsFast is dequantizeFast for Logits.
func logitsFast(dst []float32, acc []int32, rows, out int, bias []int32, logitScale []float32, relu bool) int {
	flags := rowFlags(len(logitScale) > 1, relu)
	switch active {
	case AVX512VNNI:
		logitsAVX512(&dst[0], &acc[0], rows, out, out, &bias[0], &logitScale[0], flags)
		return out
	case AVX2, AVXVNNI:
		cols := out &^ 7
		if cols > 0 {
			logitsAVX2(&dst[0], &acc[0], rows, cols, out, &bias[0], &logitScale[0], flags)
		}
		return cols
	}
	return 0
}

var reqTables = sync.Pool{New: func() any { return new(reqTable) }}

// requantizeTables is Requantizer.Apply on the AVX-512 path with its prepared tables; it
// reports false on the other paths.
func requantizeTables(dst []uint8, acc []int32, batch, out int, tabs []reqTable, zpOut, qmin, qmax int32) bool {
	if active != AVX512VNNI {
		return false
	}
	c, lo, hi := 1+2*int64(zpOut), int64(qmin), int64(qmax)
	for k := range tabs {
		c0 := k * reqChunk
		requantizeAVX512(&dst[c0], &acc[c0], batch, min(reqChunk, out-c0), out, &tabs[k], c, lo, hi)
	}
	return true
}

func requantizeFast(dst []uint8, acc []int32, batch, out int, bias, mult []int32, shift []int, zpOut, qmin, qmax int32) bool {
	if active != AVX512VNNI {
		return false
	}
	if batch == 0 {
		return true
	}
	tab := reqTables.Get().(*reqTable)
	defer reqTables.Put(tab)
	c, lo, hi := 1+2*int64(zpOut), int64(qmin), int64(qmax)
	for c0 := 0; c0 < out; c0 += reqChunk {
		cols := min(reqChunk, out-c0)
		fillReqTable(tab, c0, cols, bias, mult, shift)
		requantizeAVX512(&dst[c0], &acc[c0], batch, cols, out, tab, c, lo, hi)
	}
	return true
}
