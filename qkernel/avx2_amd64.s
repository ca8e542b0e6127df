//go:build amd64 && gc && !purego

#include "textflag.h"
#include "rows_amd64.h"

// The AVX2 micro-kernel. AVX2 has no u8 x s8 dot product that cannot saturate (VPMADDUBSW
// sums two u8·s8 products into int16, and 2·255·127 > 32767), so both operands are widened
// to int16 and VPMADDWD sums two exact int16 products into each int32 lane. Weights are packed
// by packAVX2: for each block of 16 output channels, for each pair p of inputs, 64 bytes = 2
// ymm vectors; vector v lane j holds the int16 weights W[16·block + 8v + j][2p, 2p+1].
// Activations are a tile of rows widened to int16.

// func avx2x6x16(a *int16, lda int, w *int16, pairs *int32, np int, c *int32, ldc int)
// Six widened rows of a (stride lda bytes) times one 16-channel block of w over the listed
// input pairs; the 6 x 16 int32 results are stored to c (row stride ldc bytes).
TEXT ·avx2x6x16(SB), NOSPLIT, $0-56
	// R8..R13: the six rows; DI: weight block; SI: pair list; CX: pairs left.
	SIX_ROWS_ARGS
	MOVQ pairs+24(FP), SI
	MOVQ np+32(FP), CX

	// Y0..Y11: accumulators, row r in Y(2r), Y(2r+1).
	ZERO_6x2_YMM
	TESTQ CX, CX
	JZ    store

loop:
	// BX: byte offset of the pair in a widened row (4p); DX: in the weight block (64p).
	MOVLQSX (SI), BX
	MOVQ    BX, DX
	SHLQ    $6, DX
	SHLQ    $2, BX
	// Y12, Y13: the pair's weights for the 16 channels; Y14: a row's pair in every lane.
	VMOVDQU      (DI)(DX*1), Y12
	VMOVDQU      32(DI)(DX*1), Y13
	VPBROADCASTD (R8)(BX*1), Y14
	VPMADDWD     Y12, Y14, Y15
	VPADDD       Y15, Y0, Y0
	VPMADDWD     Y13, Y14, Y15
	VPADDD       Y15, Y1, Y1
	VPBROADCASTD (R9)(BX*1), Y14
	VPMADDWD     Y12, Y14, Y15
	VPADDD       Y15, Y2, Y2
	VPMADDWD     Y13, Y14, Y15
	VPADDD       Y15, Y3, Y3
	VPBROADCASTD (R10)(BX*1), Y14
	VPMADDWD     Y12, Y14, Y15
	VPADDD       Y15, Y4, Y4
	VPMADDWD     Y13, Y14, Y15
	VPADDD       Y15, Y5, Y5
	VPBROADCASTD (R11)(BX*1), Y14
	VPMADDWD     Y12, Y14, Y15
	VPADDD       Y15, Y6, Y6
	VPMADDWD     Y13, Y14, Y15
	VPADDD       Y15, Y7, Y7
	VPBROADCASTD (R12)(BX*1), Y14
	VPMADDWD     Y12, Y14, Y15
	VPADDD       Y15, Y8, Y8
	VPMADDWD     Y13, Y14, Y15
	VPADDD       Y15, Y9, Y9
	VPBROADCASTD (R13)(BX*1), Y14
	VPMADDWD     Y12, Y14, Y15
	VPADDD       Y15, Y10, Y10
	VPMADDWD     Y13, Y14, Y15
	VPADDD       Y15, Y11, Y11
	ADDQ         $4, SI
	DECQ         CX
	JNZ          loop

store:
	STORE_6x2_YMM
	VZEROUPPER
	RET
