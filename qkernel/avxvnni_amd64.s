//go:build amd64 && gc && !purego

#include "textflag.h"
#include "rows_amd64.h"

// The AVX-VNNI micro-kernel: VPDPBUSD on 256-bit registers in its VEX encoding, for CPUs
// with AVX-VNNI but no AVX-512 (Go's assembler only emits the EVEX form, which needs
// AVX-512 VL, so the instruction is spelled out in bytes). Weights are packed by
// avxvnniLayout: for each block of 16 output channels, for each group g of 4 inputs, 64
// bytes = 2 ymm vectors; vector v lane j holds W[16·block + 8v + j][4g .. 4g+3].
//
// VPDPBUSD ymm_d, ymm_a, ymm_w (VEX.256.66.0F38.W0 50 /r): ymm_d += Σ4 u8(ymm_a)·s8(ymm_w)
// per int32 lane. With register numbers d, a, w in 0..15 (the VEX fields R, B and vvvv hold
// them inverted, 15-x):
//   C4, R<<7 | X<<6 | B<<5 | 0F38, W=0 | vvvv<<3 | L=1 | pp=66, 50, ModRM 11 d w
#define DPBUSD(d, a, w) \
	BYTE $0xC4; \
	BYTE $((((15-(d))>>3)&1)<<7 | 0x40 | (((15-(w))>>3)&1)<<5 | 0x02); \
	BYTE $((15-(a))<<3 | 0x05); \
	BYTE $0x50; \
	BYTE $(0xC0 | ((d)&7)<<3 | ((w)&7))

// func avxvnni6x16(a *uint8, lda int, w *int8, groups *int32, ng int, c *int32, ldc int)
// Six rows of a (stride lda bytes) times one 16-channel block of w over the listed groups of
// 4 inputs; the 6 x 16 int32 results are stored to c (row stride ldc bytes).
TEXT ·avxvnni6x16(SB), NOSPLIT, $0-56
	// R8..R13: the six activation rows; DI: weight block; SI: group list; CX: groups left.
	SIX_ROWS_ARGS
	MOVQ groups+24(FP), SI
	MOVQ ng+32(FP), CX

	// Y0..Y11: accumulators, row r in Y(2r), Y(2r+1).
	ZERO_6x2_YMM
	TESTQ CX, CX
	JZ    store

loop:
	// BX: byte offset of the group in a row (4g); DX: in the weight block (64g).
	MOVLQSX (SI), BX
	MOVQ    BX, DX
	SHLQ    $6, DX
	SHLQ    $2, BX
	// Y12, Y13: the group's weights; Y14, Y15: a row's 4 bytes in every lane, alternately.
	VMOVDQU      (DI)(DX*1), Y12
	VMOVDQU      32(DI)(DX*1), Y13
	VPBROADCASTD (R8)(BX*1), Y14
	DPBUSD(0, 14, 12)
	DPBUSD(1, 14, 13)
	VPBROADCASTD (R9)(BX*1), Y15
	DPBUSD(2, 15, 12)
	DPBUSD(3, 15, 13)
	VPBROADCASTD (R10)(BX*1), Y14
	DPBUSD(4, 14, 12)
	DPBUSD(5, 14, 13)
	VPBROADCASTD (R11)(BX*1), Y15
	DPBUSD(6, 15, 12)
	DPBUSD(7, 15, 13)
	VPBROADCASTD (R12)(BX*1), Y14
	DPBUSD(8, 14, 12)
	DPBUSD(9, 14, 13)
	VPBROADCASTD (R13)(BX*1), Y15
	DPBUSD(10, 15, 12)
	DPBUSD(11, 15, 13)
	ADDQ         $4, SI
	DECQ         CX
	JNZ          loop

store:
	STORE_6x2_YMM
	VZEROUPPER
	RET
