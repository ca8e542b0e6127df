//go:build amd64 && gc && !purego

#include "textflag.h"
#include "rows_amd64.h"

// The AVX-512 VNNI micro-kernels. Weights are packed by packVNNI: for each block of 64 output
// channels, for each group g of 4 inputs, 256 bytes = 4 zmm vectors; vector v lane j holds the
// 4 signed weights W[64·block + 16v + j][4g .. 4g+3]. One VPDPBUSD multiplies the 4 unsigned
// activation bytes of a row (broadcast to every lane) by a vector's 4 signed weights per lane
// and adds the 4 products to that lane's int32 accumulator: 64 multiply-adds, exact.
// Only the groups listed in groups are visited (the others are all-zero activations).

// func vnni6x64(a *uint8, lda int, w *int8, groups *int32, ng int, c *int32, ldc int)
// Six rows of a (stride lda bytes) times one 64-channel block of weights w, over the listed
// input groups; the 6 x 64 int32 results are stored to c (row stride ldc bytes).
TEXT ·vnni6x64(SB), NOSPLIT, $0-56
	// R8..R13: the six activation rows; DI: weight block; SI: group list; CX: groups left.
	SIX_ROWS_ARGS
	MOVQ groups+24(FP), SI
	MOVQ ng+32(FP), CX

	// Z0..Z23: accumulators, row r in Z(4r)..Z(4r+3).
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	TESTQ CX, CX
	JZ    store6

loop6:
	// BX: byte offset of the group in a row (4g); DX: in the weight block (256g).
	MOVLQSX (SI), BX
	MOVQ    BX, DX
	SHLQ    $8, DX
	SHLQ    $2, BX
	// Z24..Z27: the group's weights for the 64 channels.
	VMOVDQU32 (DI)(DX*1), Z24
	VMOVDQU32 64(DI)(DX*1), Z25
	VMOVDQU32 128(DI)(DX*1), Z26
	VMOVDQU32 192(DI)(DX*1), Z27
	// Z28, Z29: one row's 4 activation bytes in every lane, alternately.
	VPBROADCASTD (R8)(BX*1), Z28
	VPDPBUSD     Z24, Z28, Z0
	VPDPBUSD     Z25, Z28, Z1
	VPDPBUSD     Z26, Z28, Z2
	VPDPBUSD     Z27, Z28, Z3
	VPBROADCASTD (R9)(BX*1), Z29
	VPDPBUSD     Z24, Z29, Z4
	VPDPBUSD     Z25, Z29, Z5
	VPDPBUSD     Z26, Z29, Z6
	VPDPBUSD     Z27, Z29, Z7
	VPBROADCASTD (R10)(BX*1), Z28
	VPDPBUSD     Z24, Z28, Z8
	VPDPBUSD     Z25, Z28, Z9
	VPDPBUSD     Z26, Z28, Z10
	VPDPBUSD     Z27, Z28, Z11
	VPBROADCASTD (R11)(BX*1), Z29
	VPDPBUSD     Z24, Z29, Z12
	VPDPBUSD     Z25, Z29, Z13
	VPDPBUSD     Z26, Z29, Z14
	VPDPBUSD     Z27, Z29, Z15
	VPBROADCASTD (R12)(BX*1), Z28
	VPDPBUSD     Z24, Z28, Z16
	VPDPBUSD     Z25, Z28, Z17
	VPDPBUSD     Z26, Z28, Z18
	VPDPBUSD     Z27, Z28, Z19
	VPBROADCASTD (R13)(BX*1), Z29
	VPDPBUSD     Z24, Z29, Z20
	VPDPBUSD     Z25, Z29, Z21
	VPDPBUSD     Z26, Z29, Z22
	VPDPBUSD     Z27, Z29, Z23
	ADDQ         $4, SI
	DECQ         CX
	JNZ          loop6

store6:
	// DI: output row; AX: its stride.
	MOVQ      c+40(FP), DI
	MOVQ      ldc+48(FP), AX
	VMOVDQU32 Z0, (DI)
	VMOVDQU32 Z1, 64(DI)
	VMOVDQU32 Z2, 128(DI)
	VMOVDQU32 Z3, 192(DI)
	ADDQ      AX, DI
	VMOVDQU32 Z4, (DI)
	VMOVDQU32 Z5, 64(DI)
	VMOVDQU32 Z6, 128(DI)
	VMOVDQU32 Z7, 192(DI)
	ADDQ      AX, DI
	VMOVDQU32 Z8, (DI)
	VMOVDQU32 Z9, 64(DI)
	VMOVDQU32 Z10, 128(DI)
	VMOVDQU32 Z11, 192(DI)
	ADDQ      AX, DI
	VMOVDQU32 Z12, (DI)
	VMOVDQU32 Z13, 64(DI)
	VMOVDQU32 Z14, 128(DI)
	VMOVDQU32 Z15, 192(DI)
	ADDQ      AX, DI
	VMOVDQU32 Z16, (DI)
	VMOVDQU32 Z17, 64(DI)
	VMOVDQU32 Z18, 128(DI)
	VMOVDQU32 Z19, 192(DI)
	ADDQ      AX, DI
	VMOVDQU32 Z20, (DI)
	VMOVDQU32 Z21, 64(DI)
	VMOVDQU32 Z22, 128(DI)
	VMOVDQU32 Z23, 192(DI)
	VZEROUPPER
	RET

// func vnni1x64(a *uint8, w *int8, groups *int32, ng int, c *int32)
// One row of a times one 64-channel block, over the listed groups; two sets of accumulators
// (even and odd groups) keep eight independent VPDPBUSD chains in flight.
TEXT ·vnni1x64(SB), NOSPLIT, $0-40
	// R8: the activation row; DI: weight block; SI: group list; CX: groups left.
	MOVQ   a+0(FP), R8
	MOVQ   w+8(FP), DI
	MOVQ   groups+16(FP), SI
	MOVQ   ng+24(FP), CX
	// Z0..Z3: even groups' accumulators; Z4..Z7: odd groups'.
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	CMPQ   CX, $2
	JLT    tail1

loop1:
	// BX, DX: activation and weight offsets of the first group; R9, R10: of the second.
	MOVLQSX      (SI), BX
	MOVQ         BX, DX
	SHLQ         $8, DX
	SHLQ         $2, BX
	MOVLQSX      4(SI), R9
	MOVQ         R9, R10
	SHLQ         $8, R10
	SHLQ         $2, R9
	VPBROADCASTD (R8)(BX*1), Z28
	VPBROADCASTD (R8)(R9*1), Z29
	VPDPBUSD     (DI)(DX*1), Z28, Z0
	VPDPBUSD     64(DI)(DX*1), Z28, Z1
	VPDPBUSD     128(DI)(DX*1), Z28, Z2
	VPDPBUSD     192(DI)(DX*1), Z28, Z3
	VPDPBUSD     (DI)(R10*1), Z29, Z4
	VPDPBUSD     64(DI)(R10*1), Z29, Z5
	VPDPBUSD     128(DI)(R10*1), Z29, Z6
	VPDPBUSD     192(DI)(R10*1), Z29, Z7
	ADDQ         $8, SI
	SUBQ         $2, CX
	CMPQ         CX, $2
	JGE          loop1

tail1:
	TESTQ        CX, CX
	JZ           store1
	MOVLQSX      (SI), BX
	MOVQ         BX, DX
	SHLQ         $8, DX
	SHLQ         $2, BX
	VPBROADCASTD (R8)(BX*1), Z28
	VPDPBUSD     (DI)(DX*1), Z28, Z0
	VPDPBUSD     64(DI)(DX*1), Z28, Z1
	VPDPBUSD     128(DI)(DX*1), Z28, Z2
	VPDPBUSD     192(DI)(DX*1), Z28, Z3

store1:
	// The two sets summed (int32 addition wraps like the reference), then stored.
	VPADDD    Z4, Z0, Z0
	VPADDD    Z5, Z1, Z1
	VPADDD    Z6, Z2, Z2
	VPADDD    Z7, Z3, Z3
	MOVQ      c+32(FP), DI
	VMOVDQU32 Z0, (DI)
	VMOVDQU32 Z1, 64(DI)
	VMOVDQU32 Z2, 128(DI)
	VMOVDQU32 Z3, 192(DI)
	VZEROUPPER
	RET

// func nonzeroMask(a *uint8, lda int, rows int, chunks int, masks *uint16)
// For each chunk c of 64 bytes (16 groups of 4 inputs), bit j of masks[c] is set when any of
// the rows (stride lda bytes) has a nonzero byte in group 16c+j. Reads 64·chunks bytes of
// each row.
TEXT ·nonzeroMask(SB), NOSPLIT, $0-40
	// SI: chunk start in row 0; DX: row stride; R8: rows; CX: chunks left; DI: masks.
	MOVQ a+0(FP), SI
	MOVQ lda+8(FP), DX
	MOVQ rows+16(FP), R8
	MOVQ chunks+24(FP), CX
	MOVQ masks+32(FP), DI
	TESTQ CX, CX
	JZ    done

chunk:
	// Z0: the OR of the rows' 64 bytes; BX: the current row; R9: rows left.
	VMOVDQU32 (SI), Z0
	MOVQ      SI, BX
	MOVQ      R8, R9
	DECQ      R9
	JZ        test

row:
	ADDQ   DX, BX
	VPORD  (BX), Z0, Z0
	DECQ   R9
	JNZ    row

test:
	// K1: one bit per nonzero dword (group).
	VPTESTMD Z0, Z0, K1
	KMOVW    K1, AX
	MOVW     AX, (DI)
	ADDQ     $64, SI
	ADDQ     $2, DI
	DECQ     CX
	JNZ      chunk

done:
	VZEROUPPER
	RET

// func vnni6x16(a *uint8, lda int, w *int8, groups *int32, ng int, c *int32, ldc int)
// vnni6x64 for a 16-channel block (layers with at most 16 outputs, such as logits): weights
// packed with one vector (64 bytes) per group.
TEXT ·vnni6x16(SB), NOSPLIT, $0-56
	// R8..R13: the six activation rows; DI: weight block; SI: group list; CX: groups left.
	SIX_ROWS_ARGS
	MOVQ groups+24(FP), SI
	MOVQ ng+32(FP), CX
	// Z0..Z5: row r's accumulators.
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	TESTQ  CX, CX
	JZ     store16

loop16:
	// BX: byte offset of the group in a row (4g); DX: in the weight block (64g); Z24: weights.
	MOVLQSX      (SI), BX
	MOVQ         BX, DX
	SHLQ         $6, DX
	SHLQ         $2, BX
	VMOVDQU32    (DI)(DX*1), Z24
	VPBROADCASTD (R8)(BX*1), Z26
	VPBROADCASTD (R9)(BX*1), Z27
	VPBROADCASTD (R10)(BX*1), Z28
	VPBROADCASTD (R11)(BX*1), Z29
	VPBROADCASTD (R12)(BX*1), Z30
	VPBROADCASTD (R13)(BX*1), Z31
	VPDPBUSD     Z24, Z26, Z0
	VPDPBUSD     Z24, Z27, Z1
	VPDPBUSD     Z24, Z28, Z2
	VPDPBUSD     Z24, Z29, Z3
	VPDPBUSD     Z24, Z30, Z4
	VPDPBUSD     Z24, Z31, Z5
	ADDQ         $4, SI
	DECQ         CX
	JNZ          loop16

store16:
	MOVQ      c+40(FP), DI
	MOVQ      ldc+48(FP), AX
	VMOVDQU32 Z0, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z1, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z2, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z3, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z4, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z5, (DI)
	VZEROUPPER
	RET

// IMPLICIT6: one input group of an implicit convolution's six rows (vnni6x16i,
// vnniConvRun): the group's byte offset at (SI), the rows' pointers in R8-R13, its 16
// channels' weights at (DI); adds the six products to Z0-Z5 (BX, Z24, Z26-Z31 clobbered).
#define IMPLICIT6 \
	MOVLQSX      (SI), BX; \
	VMOVDQU32    (DI), Z24; \
	VPBROADCASTD (R8)(BX*1), Z26; \
	VPBROADCASTD (R9)(BX*1), Z27; \
	VPBROADCASTD (R10)(BX*1), Z28; \
	VPBROADCASTD (R11)(BX*1), Z29; \
	VPBROADCASTD (R12)(BX*1), Z30; \
	VPBROADCASTD (R13)(BX*1), Z31; \
	VPDPBUSD     Z24, Z26, Z0; \
	VPDPBUSD     Z24, Z27, Z1; \
	VPDPBUSD     Z24, Z28, Z2; \
	VPDPBUSD     Z24, Z29, Z3; \
	VPDPBUSD     Z24, Z30, Z4; \
	VPDPBUSD     Z24, Z31, Z5

// func vnni6x16i(rows *[6]*uint8, offs *int32, ng int, w *int8, c *int32, ldc int)
// vnni6x16 for an implicit convolution: six rows given by their own pointers (six windows
// of a padded image), the ng input groups of 4 at byte offsets offs[0..ng) from each row
// pointer, and the weights of group k at w + 64k (every group, in order); the 6 x 16 int32
// results are stored to c (row stride ldc bytes).
TEXT ·vnni6x16i(SB), NOSPLIT, $0-48
	MOVQ rows+0(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ 32(AX), R12
	MOVQ 40(AX), R13
	MOVQ offs+8(FP), SI
	MOVQ ng+16(FP), CX
	MOVQ w+24(FP), DI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	TESTQ  CX, CX
	JZ     store16i

loop16i:
	IMPLICIT6
	ADDQ         $4, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          loop16i

store16i:
	MOVQ      c+32(FP), DI
	MOVQ      ldc+40(FP), AX
	VMOVDQU32 Z0, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z1, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z2, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z3, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z4, (DI)
	ADDQ      AX, DI
	VMOVDQU32 Z5, (DI)
	VZEROUPPER
	RET

// func vnniConvRun(base *uint8, corners *int32, r, pix, img, tiles int, offs *int32, ng int, w *int8, wstride, blocks int, c *int32, ldc int)
// See kernels_amd64.go. AX: the current image; DX: the tile's first row in it; R14: tiles
// left; R15: the tile's output; locals: the block's weights, blocks left, its output.
TEXT ·vnniConvRun(SB), NOSPLIT, $24-104
	MOVQ  base+0(FP), AX
	MOVQ  r+16(FP), DX
	MOVQ  tiles+40(FP), R14
	MOVQ  c+88(FP), R15
	TESTQ R14, R14
	JZ    runDone

runTile:
	MOVQ    corners+8(FP), BX
	LEAQ    (BX)(DX*4), BX
	MOVLQSX 0(BX), R8
	ADDQ    AX, R8
	MOVLQSX 4(BX), R9
	ADDQ    AX, R9
	MOVLQSX 8(BX), R10
	ADDQ    AX, R10
	MOVLQSX 12(BX), R11
	ADDQ    AX, R11
	MOVLQSX 16(BX), R12
	ADDQ    AX, R12
	MOVLQSX 20(BX), R13
	ADDQ    AX, R13
	ADDQ    $6, DX

runWrap:
	// The next tile's first row, in the image where it falls (images of fewer than 6
	// pixels: several on).
	CMPQ DX, pix+24(FP)
	JLT  runBlocks
	SUBQ pix+24(FP), DX
	ADDQ img+32(FP), AX
	JMP  runWrap

runBlocks:
	MOVQ w+64(FP), BX
	MOVQ BX, wcur-8(SP)
	MOVQ blocks+80(FP), BX
	MOVQ BX, bleft-16(SP)
	MOVQ R15, cblk-24(SP)

runBlock:
	MOVQ   offs+48(FP), SI
	MOVQ   ng+56(FP), CX
	MOVQ   wcur-8(SP), DI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	TESTQ  CX, CX
	JZ     runStore

runGroup:
	IMPLICIT6
	ADDQ         $4, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          runGroup

runStore:
	MOVQ      cblk-24(SP), DI
	MOVQ      ldc+96(FP), BX
	VMOVDQU32 Z0, (DI)
	ADDQ      BX, DI
	VMOVDQU32 Z1, (DI)
	ADDQ      BX, DI
	VMOVDQU32 Z2, (DI)
	ADDQ      BX, DI
	VMOVDQU32 Z3, (DI)
	ADDQ      BX, DI
	VMOVDQU32 Z4, (DI)
	ADDQ      BX, DI
	VMOVDQU32 Z5, (DI)
	MOVQ      wcur-8(SP), DI
	ADDQ      wstride+72(FP), DI
	MOVQ      DI, wcur-8(SP)
	ADDQ      $64, cblk-24(SP)
	DECQ      bleft-16(SP)
	JNZ       runBlock

	MOVQ ldc+96(FP), BX
	LEAQ (BX)(BX*2), BX
	SHLQ $1, BX
	ADDQ BX, R15
	DECQ R14
	JNZ  runTile

runDone:
	VZEROUPPER
	RET
