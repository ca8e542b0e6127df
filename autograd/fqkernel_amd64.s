//go:build amd64 && gc && !purego

#include "textflag.h"

// func fqAVX512(y, x *float32, m *uint32, n int, s, lo, hi *float32, perChannel bool) (finite bool)
//
// fqScalar on 16 lanes, reporting whether every x was finite: t = x/s (rounded), r = t rounded half to even (VRNDSCALEPS $0),
// mask = lo <= r <= hi, y = (clamp(r, lo, hi) + 0)·s. Clamping after rounding equals
// clamping before, as lo and hi are integers; adding +0 turns -0 into +0 as fqScalar's
// rounding does.
TEXT ·fqAVX512(SB), NOSPLIT, $0-65
	MOVQ y+0(FP), DI       // DI: &y[i]
	MOVQ x+8(FP), SI       // SI: &x[i]
	MOVQ m+16(FP), R8      // R8: &m[i], or 0: no mask
	MOVQ n+24(FP), CX      // CX: elements left (a multiple of 16)
	MOVQ s+32(FP), R9      // R9: &s[i] (or &s[0])
	MOVQ lo+40(FP), R10    // R10: &lo[i] (or &lo[0])
	MOVQ hi+48(FP), R11    // R11: &hi[i] (or &hi[0])
	XORQ DX, DX            // DX: bytes to advance s, lo, hi per block: 0 or 64
	CMPB perChannel+56(FP), $0
	JEQ  bcast
	MOVQ $64, DX

bcast:
	KXORW  K3, K3, K3      // K3: lanes that met a non-finite x
	VPXORD Z5, Z5, Z5      // Z5: +0
	VPTERNLOGD $0xff, Z6, Z6, Z6 // Z6: all ones (the mask word keep)
	// Z1, Z2, Z3: scale, lo, hi (loaded per block when per channel)
	VBROADCASTSS (R9), Z1
	VBROADCASTSS (R10), Z2
	VBROADCASTSS (R11), Z3

loop:
	TESTQ DX, DX
	JZ    compute
	VMOVUPS (R9), Z1
	VMOVUPS (R10), Z2
	VMOVUPS (R11), Z3
	ADDQ  DX, R9
	ADDQ  DX, R10
	ADDQ  DX, R11

compute:
	VMOVUPS     (SI), Z0
	VSUBPS      Z0, Z0, Z7 // Z7: x-x, NaN for a non-finite x
	VCMPPS      $3, Z7, Z7, K2
	KORW        K2, K3, K3
	VDIVPS      Z1, Z0, Z0 // Z0: t = x/s
	VRNDSCALEPS $0, Z0, Z0 // Z0: r, t rounded half to even
	TESTQ       R8, R8
	JZ          nomask
	VCMPPS      $0x1d, Z2, Z0, K1     // K1: r >= lo (GE, ordered, quiet)
	VCMPPS      $0x12, Z3, Z0, K1, K1 // K1: and r <= hi (LE, ordered, quiet)
	VMOVDQU32.Z Z6, K1, Z4            // Z4: keep where in range, else 0
	VMOVDQU32   Z4, (R8)
	ADDQ        $64, R8

nomask:
	VMAXPS  Z2, Z0, Z0     // Z0: max(r, lo)
	VMINPS  Z3, Z0, Z0     // Z0: min(.., hi)
	VADDPS  Z5, Z0, Z0     // Z0: -0 becomes +0
	VMULPS  Z1, Z0, Z0     // Z0: y
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JNZ     loop
	KMOVW   K3, AX
	TESTL   AX, AX
	SETEQ   finite+64(FP)
	VZEROUPPER
	RET

// func rangeAVX512(x *float32, rows int, stride uintptr, mins, maxs *float32, blocks int)
//
// For 16·blocks channels (columns) of rows rows of x (row stride in bytes), the running
// minimum and maximum exactly as rangeRows' scalar loop: VMINPS v, min keeps min unless
// v < min (also for NaN v and for ±0), VMAXPS likewise, and a non-finite v (v-v is NaN)
// sets min to v-v.
TEXT ·rangeAVX512(SB), NOSPLIT, $0-48
	MOVQ mins+24(FP), R8   // R8: &mins[16b]
	MOVQ maxs+32(FP), R9   // R9: &maxs[16b]
	MOVQ blocks+40(FP), R10 // R10: blocks left
	MOVQ x+0(FP), R11      // R11: &x[0][16b]

block:
	VMOVUPS (R8), Z0       // Z0: mins
	VMOVUPS (R9), Z1       // Z1: maxs
	MOVQ    R11, SI        // SI: &x[r][16b]
	MOVQ    rows+8(FP), CX // CX: rows left
	MOVQ    stride+16(FP), DX

row:
	VMOVUPS (SI), Z2                  // Z2: v
	VMINPS  Z0, Z2, Z0                // Z0: v < min ? v : min
	VMAXPS  Z1, Z2, Z1                // Z1: v > max ? v : max
	VSUBPS  Z2, Z2, Z3                // Z3: v-v, NaN for a non-finite v
	VCMPPS  $3, Z3, Z3, K1            // K1: v-v is NaN (UNORD)
	VMOVAPS Z3, K1, Z0                // min = v-v there
	ADDQ    DX, SI
	DECQ    CX
	JNZ     row

	VMOVUPS Z0, (R8)
	VMOVUPS Z1, (R9)
	ADDQ    $64, R8
	ADDQ    $64, R9
	ADDQ    $64, R11
	DECQ    R10
	JNZ     block
	VZEROUPPER
	RET

// func andMaskAVX512(dx, dy *float32, m *uint32, n int)
//
// dx = dy & m bitwise (the STE: dy where the mask is all ones, +0 where it is 0) on n (a
// multiple of 16) elements.
TEXT ·andMaskAVX512(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ m+16(FP), BX
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ   maskdone

maskloop:
	VMOVDQU32 (SI), Z0
	VPANDD    (BX), Z0, Z0
	VMOVDQU32 Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, BX
	ADDQ $64, DI
	DECQ CX
	JNZ  maskloop

maskdone:
	VZEROUPPER
	RET
