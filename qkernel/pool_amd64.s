//go:build amd64 && gc && !purego

#include "textflag.h"

// func poolAccAVX512(out, in *int32, c, kw, kh, row, step, pixels int)
//
// For each of pixels windows p and each 16 channels: the signed maximum of the kh×kw taps
// at in + p·step + ky·row + kx·c (elements), stored at out + p·c.
TEXT ·poolAccAVX512(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ c+16(FP), CX
	MOVQ kw+24(FP), R11
	MOVQ kh+32(FP), R12
	MOVQ row+40(FP), R8
	MOVQ step+48(FP), R9
	MOVQ pixels+56(FP), R10
	SHLQ $2, CX // bytes
	SHLQ $2, R8
	SHLQ $2, R9
	TESTQ R10, R10
	JZ   padone
	CMPQ R11, $2
	JNE  papixel
	CMPQ R12, $2
	JE   pa22pixel

papixel:
	XORQ DX, DX

pachan:
	LEAQ      (SI)(DX*1), AX
	VMOVDQU32 (AX), Z0
	MOVQ      R12, R13

parow:
	MOVQ AX, BX
	MOVQ R11, R14

patap:
	VPMAXSD (BX), Z0, Z0
	ADDQ    CX, BX
	DECQ    R14
	JNZ     patap
	ADDQ    R8, AX
	DECQ    R13
	JNZ     parow

	VMOVDQU32 Z0, (DI)(DX*1)
	ADDQ      $64, DX
	CMPQ      DX, CX
	JB        pachan

	ADDQ CX, DI
	ADDQ R9, SI
	DECQ R10
	JNZ  papixel

padone:
	VZEROUPPER
	RET

	// 2x2 windows (the CNN's poolings): the four taps of 16 channels at once.
pa22pixel:
	XORQ DX, DX
	LEAQ (SI)(R8*1), AX // the window's second row

pa22chan:
	VMOVDQU32 (SI)(DX*1), Z0
	LEAQ      (SI)(CX*1), BX
	VPMAXSD   (BX)(DX*1), Z0, Z0
	VPMAXSD   (AX)(DX*1), Z0, Z0
	LEAQ      (AX)(CX*1), BX
	VPMAXSD   (BX)(DX*1), Z0, Z0
	VMOVDQU32 Z0, (DI)(DX*1)
	ADDQ      $64, DX
	CMPQ      DX, CX
	JB        pa22chan

	ADDQ CX, DI
	ADDQ R9, SI
	DECQ R10
	JNZ  pa22pixel
	VZEROUPPER
	RET
