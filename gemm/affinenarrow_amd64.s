//go:build amd64 && gc && !purego

#include "textflag.h"

// func affine16AVX512(groups, k int, a unsafe.Pointer, lda uintptr, b, bias, c unsafe.Pointer, ldc uintptr)
//
// For each group of 8 rows: Z0..Z7 = bias; for p < k, Z8 = b[p][0:16] and
// Zr = fma(a[r][p] (broadcast), Z8, Zr); then row r of C = Zr.
TEXT ·affine16AVX512(SB), NOSPLIT, $0-64
	MOVQ groups+0(FP), R11
	MOVQ a+16(FP), SI
	MOVQ lda+24(FP), BX
	MOVQ bias+40(FP), AX
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), R12
	LEAQ (BX)(BX*2), R9   // 3·lda
	LEAQ (R12)(R12*2), R13 // 3·ldc
	VMOVUPS (AX), Z9      // the bias
	TESTQ R11, R11
	JZ    done

group:
	MOVQ k+8(FP), CX
	MOVQ b+32(FP), DX
	MOVQ SI, R8           // rows 0-3 of the group
	LEAQ (SI)(BX*4), R10  // rows 4-7
	VMOVAPS Z9, Z0
	VMOVAPS Z9, Z1
	VMOVAPS Z9, Z2
	VMOVAPS Z9, Z3
	VMOVAPS Z9, Z4
	VMOVAPS Z9, Z5
	VMOVAPS Z9, Z6
	VMOVAPS Z9, Z7

term:
	VMOVUPS (DX), Z8
	VFMADD231PS.BCST (R8), Z8, Z0
	VFMADD231PS.BCST (R8)(BX*1), Z8, Z1
	VFMADD231PS.BCST (R8)(BX*2), Z8, Z2
	VFMADD231PS.BCST (R8)(R9*1), Z8, Z3
	VFMADD231PS.BCST (R10), Z8, Z4
	VFMADD231PS.BCST (R10)(BX*1), Z8, Z5
	VFMADD231PS.BCST (R10)(BX*2), Z8, Z6
	VFMADD231PS.BCST (R10)(R9*1), Z8, Z7
	ADDQ $64, DX
	ADDQ $4, R8
	ADDQ $4, R10
	DECQ CX
	JNZ  term

	VMOVUPS Z0, (DI)
	VMOVUPS Z1, (DI)(R12*1)
	VMOVUPS Z2, (DI)(R12*2)
	VMOVUPS Z3, (DI)(R13*1)
	LEAQ (DI)(R12*4), DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, (DI)(R12*1)
	VMOVUPS Z6, (DI)(R12*2)
	VMOVUPS Z7, (DI)(R13*1)
	LEAQ (DI)(R12*4), DI
	LEAQ (SI)(BX*8), SI
	DECQ R11
	JNZ  group

done:
	VZEROUPPER
	RET
