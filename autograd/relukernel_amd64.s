//go:build amd64 && gc && !purego

#include "textflag.h"

// func reluAVX512(y, x *float32, n int)
//
// y = max(x, +0) on n (a multiple of 16) elements, 16 at a time; -0 gives +0 and a NaN stays
// itself (VMAXPS alone would return the +0).
TEXT ·reluAVX512(SB), NOSPLIT, $0-24
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VPXORD Z1, Z1, Z1
	SHRQ $4, CX
	JZ   reludone

reluloop:
	VMOVUPS (SI), Z0
	VMAXPS  Z1, Z0, Z2     // max(x, +0): +0 for x ≤ 0 (-0 included) and for NaN
	VCMPPS  $3, Z0, Z0, K1 // K1: x is a NaN
	VMOVAPS Z0, K1, Z2     // NaN lanes: x itself
	VMOVUPS Z2, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  reluloop

reludone:
	VZEROUPPER
	RET

// func reluGradAVX512(dx, y, dy *float32, n int)
//
// dx = dy where y > 0 (ordered: not for a NaN), else +0, on n (a multiple of 16) elements.
TEXT ·reluGradAVX512(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ dy+16(FP), BX
	MOVQ n+24(FP), CX
	VPXORD Z1, Z1, Z1
	SHRQ $4, CX
	JZ   graddone

gradloop:
	VMOVUPS (SI), Z0
	VCMPPS  $0x1e, Z1, Z0, K1 // K1: y > 0 (GT, ordered, quiet)
	VMOVUPS.Z (BX), K1, Z2    // dy where K1, +0 elsewhere
	VMOVUPS Z2, (DI)
	ADDQ $64, SI
	ADDQ $64, BX
	ADDQ $64, DI
	DECQ CX
	JNZ  gradloop

graddone:
	VZEROUPPER
	RET
