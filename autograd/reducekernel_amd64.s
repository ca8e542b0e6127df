//go:build amd64 && gc && !purego

#include "textflag.h"

// The column sums: each 8-channel group of a row is widened exactly to float64 (VCVTPS2PD)
// and added to its accumulator, one VADDPD per group and row, rows in order: per channel the
// same additions in the same order as the Go loop s[j] += float64(x[j]).

// func sumCols32AVX512(s *float64, x *float32, rows, stride int)
TEXT ·sumCols32AVX512(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ stride+24(FP), DX
	VMOVUPD 0(DI), Z0
	VMOVUPD 64(DI), Z1
	VMOVUPD 128(DI), Z2
	VMOVUPD 192(DI), Z3
	TESTQ CX, CX
	JZ    sum32done

sum32loop:
	VCVTPS2PD 0(SI), Z4
	VCVTPS2PD 32(SI), Z5
	VCVTPS2PD 64(SI), Z6
	VCVTPS2PD 96(SI), Z7
	VADDPD    Z4, Z0, Z0
	VADDPD    Z5, Z1, Z1
	VADDPD    Z6, Z2, Z2
	VADDPD    Z7, Z3, Z3
	ADDQ      DX, SI
	DECQ      CX
	JNZ       sum32loop

sum32done:
	VMOVUPD Z0, 0(DI)
	VMOVUPD Z1, 64(DI)
	VMOVUPD Z2, 128(DI)
	VMOVUPD Z3, 192(DI)
	VZEROUPPER
	RET

// func sumCols16AVX512(s *float64, x *float32, rows, stride int)
TEXT ·sumCols16AVX512(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ stride+24(FP), DX
	VMOVUPD 0(DI), Z0
	VMOVUPD 64(DI), Z1
	TESTQ CX, CX
	JZ    sum16done

sum16loop:
	VCVTPS2PD 0(SI), Z4
	VCVTPS2PD 32(SI), Z5
	VADDPD    Z4, Z0, Z0
	VADDPD    Z5, Z1, Z1
	ADDQ      DX, SI
	DECQ      CX
	JNZ       sum16loop

sum16done:
	VMOVUPD Z0, 0(DI)
	VMOVUPD Z1, 64(DI)
	VZEROUPPER
	RET

// func sumCols8AVX512(s *float64, x *float32, rows, stride int)
TEXT ·sumCols8AVX512(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ stride+24(FP), DX
	VMOVUPD 0(DI), Z0
	TESTQ CX, CX
	JZ    sum8done

sum8loop:
	VCVTPS2PD 0(SI), Z4
	VADDPD    Z4, Z0, Z0
	ADDQ      DX, SI
	DECQ      CX
	JNZ       sum8loop

sum8done:
	VMOVUPD Z0, 0(DI)
	VZEROUPPER
	RET

// The BatchNorm sums, 8 channels at a time (channel j in lane j), rows in order, with the
// Go loops' operations one for one (no fused multiply-add):
//
//	centred: d = float64(x) - float64(mean); s0 += d; s1 += d·d
//	grad:    d = float64(dy); t = float32(float32(x - mean)·inv); s0 += d; s1 += d·float64(t)

// func centredSums8AVX512(s0, s1 *float64, x, mean *float32, rows, stride int)
TEXT ·centredSums8AVX512(SB), NOSPLIT, $0-48
	MOVQ s0+0(FP), DI
	MOVQ s1+8(FP), R8
	MOVQ x+16(FP), SI
	MOVQ mean+24(FP), AX
	MOVQ rows+32(FP), CX
	MOVQ stride+40(FP), DX
	VMOVUPD (DI), Z0
	VMOVUPD (R8), Z1
	VCVTPS2PD (AX), Z2     // Z2: float64(mean)
	TESTQ CX, CX
	JZ    centreddone

centredloop:
	VCVTPS2PD (SI), Z4
	VSUBPD    Z2, Z4, Z4   // d
	VADDPD    Z4, Z0, Z0
	VMULPD    Z4, Z4, Z5
	VADDPD    Z5, Z1, Z1
	ADDQ      DX, SI
	DECQ      CX
	JNZ       centredloop

centreddone:
	VMOVUPD Z0, (DI)
	VMOVUPD Z1, (R8)
	VZEROUPPER
	RET

// func gradSums8AVX512(s0, s1 *float64, x, dy, mean, inv *float32, rows, stride int)
TEXT ·gradSums8AVX512(SB), NOSPLIT, $0-64
	MOVQ s0+0(FP), DI
	MOVQ s1+8(FP), R8
	MOVQ x+16(FP), SI
	MOVQ dy+24(FP), BX
	MOVQ mean+32(FP), AX
	MOVQ inv+40(FP), R9
	MOVQ rows+48(FP), CX
	MOVQ stride+56(FP), DX
	VMOVUPD (DI), Z0
	VMOVUPD (R8), Z1
	VMOVUPS (AX), Y2       // Y2: mean
	VMOVUPS (R9), Y3       // Y3: inv
	TESTQ CX, CX
	JZ    graddone

gradloop:
	VMOVUPS   (SI), Y4
	VSUBPS    Y2, Y4, Y4   // float32(x - mean)
	VMULPS    Y3, Y4, Y4   // t
	VCVTPS2PD Y4, Z5
	VCVTPS2PD (BX), Z6     // d
	VADDPD    Z6, Z0, Z0
	VMULPD    Z5, Z6, Z7
	VADDPD    Z7, Z1, Z1
	ADDQ      DX, SI
	ADDQ      DX, BX
	DECQ      CX
	JNZ       gradloop

graddone:
	VMOVUPD Z0, (DI)
	VMOVUPD Z1, (R8)
	VZEROUPPER
	RET
