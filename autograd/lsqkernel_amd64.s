//go:build amd64 && gc && !purego

#include "textflag.h"

// func dotDiffAVX512(dy, y, dx, x *float32, n int) float64
//
// dotDiffLanes on 8 float64 lanes: acc += dy·y, then acc -= dx·x, each a fused multiply-add
// whose product (of two float32 values widened to float64) is exact, so each step rounds
// once, as Go's acc + p and acc - p do. Then lanes k and k+4, k and k+2, 0 and 1 are added.
TEXT ·dotDiffAVX512(SB), NOSPLIT, $0-48
	MOVQ dy+0(FP), AX  // AX: &dy[i]
	MOVQ y+8(FP), BX   // BX: &y[i]
	MOVQ dx+16(FP), CX // CX: &dx[i]
	MOVQ x+24(FP), DX  // DX: &x[i]
	MOVQ n+32(FP), SI  // SI: elements left (a multiple of 8)
	VPXORQ Z0, Z0, Z0  // Z0: the eight lane sums

loop:
	VCVTPS2PD    (AX), Z1 // Z1: dy[i:i+8] as float64
	VCVTPS2PD    (BX), Z2 // Z2: y
	VFMADD231PD  Z2, Z1, Z0
	VCVTPS2PD    (CX), Z3 // Z3: dx
	VCVTPS2PD    (DX), Z4 // Z4: x
	VFNMADD231PD Z4, Z3, Z0
	ADDQ         $32, AX
	ADDQ         $32, BX
	ADDQ         $32, CX
	ADDQ         $32, DX
	SUBQ         $8, SI
	JNZ          loop

	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD        Y1, Y0, Y0 // lanes k + k+4
	VEXTRACTF128  $1, Y0, X1
	VADDPD        X1, X0, X0 // then k + k+2
	VPERMILPD     $1, X0, X1
	VADDSD        X1, X0, X0 // then 0 + 1
	VZEROUPPER
	MOVSD         X0, ret+40(FP)
	RET

// func rowAccumAVX512(sums *float64, dy, y, dx, x *float32, n int)
//
// rowAccum on 8 columns at a time: sums[c] += dy[c]·y[c], then sums[c] -= dx[c]·x[c], each
// rounded once as in Go.
TEXT ·rowAccumAVX512(SB), NOSPLIT, $0-48
	MOVQ sums+0(FP), R8 // R8: &sums[c]
	MOVQ dy+8(FP), AX   // AX: &dy[c]
	MOVQ y+16(FP), BX   // BX: &y[c]
	MOVQ dx+24(FP), CX  // CX: &dx[c]
	MOVQ x+32(FP), DX   // DX: &x[c]
	MOVQ n+40(FP), SI   // SI: columns left (a multiple of 8)

rloop:
	VMOVUPD      (R8), Z0 // Z0: sums[c:c+8]
	VCVTPS2PD    (AX), Z1
	VCVTPS2PD    (BX), Z2
	VFMADD231PD  Z2, Z1, Z0
	VCVTPS2PD    (CX), Z3
	VCVTPS2PD    (DX), Z4
	VFNMADD231PD Z4, Z3, Z0
	VMOVUPD      Z0, (R8)
	ADDQ         $64, R8
	ADDQ         $32, AX
	ADDQ         $32, BX
	ADDQ         $32, CX
	ADDQ         $32, DX
	SUBQ         $8, SI
	JNZ          rloop
	VZEROUPPER
	RET
