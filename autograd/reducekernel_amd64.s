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
