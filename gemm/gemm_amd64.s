//go:build amd64 && gc && !purego

#include "textflag.h"

// Every kernel starts each element of C at beta·I (flags bit 0 set) or +0 (clear), where I
// is the initial matrix (C itself, or a bias row repeated: init stride 0), adds a·b for
// p = 0, 1, ... k-1 with one fused multiply-add each, and stores the result, or max(c, +0)
// with NaN kept (Go's max(c, 0)) if flags bit 1 is set.

// ZLOAD: Z16 = beta, BX = I row, AX = I's row stride. Starts the accumulators lo, hi of one
// row at beta·I.
#define ZLOAD(lo, hi) \
	VMULPS (BX), Z16, lo; \
	VMULPS 64(BX), Z16, hi; \
	ADDQ   AX, BX

// ZLOAD16: ZLOAD on the 16 accumulators of an 8×32 tile, rows in (Z0, Z1) .. (Z14, Z15).
#define ZLOAD16 \
	ZLOAD(Z0, Z1); ZLOAD(Z2, Z3); ZLOAD(Z4, Z5); ZLOAD(Z6, Z7); \
	ZLOAD(Z8, Z9); ZLOAD(Z10, Z11); ZLOAD(Z12, Z13); ZLOAD(Z14, Z15)

// ZZERO8, ZZERO16: the accumulators Z0..Z7 (Z0..Z15) set to +0.
#define ZZERO8 \
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7
#define ZZERO16 \
	ZZERO8; \
	VPXORD Z8, Z8, Z8; VPXORD Z9, Z9, Z9; VPXORD Z10, Z10, Z10; VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; VPXORD Z13, Z13, Z13; VPXORD Z14, Z14, Z14; VPXORD Z15, Z15, Z15

// ZFMA: Z16, Z17 = B[p][0:32]. Adds a·B[p] to one row's accumulators lo, hi, a broadcast
// from addr (Z18 clobbered).
#define ZFMA(addr, lo, hi) \
	VBROADCASTSS addr, Z18; \
	VFMADD231PS Z18, Z16, lo; \
	VFMADD231PS Z18, Z17, hi

// ZRELU: Z17 = +0. Replaces z by max(z, +0), NaN kept (Z18 scratch, K1 clobbered).
#define ZRELU(z) \
	VMAXPS Z17, z, Z18; \
	VCMPPS $3, z, z, K1; \
	VMOVAPS z, K1, Z18; \
	VMOVAPS Z18, z

// ZRELU8: ZRELU on the accumulators Z0..Z7 (Z17 = +0 set here).
#define ZRELU8 \
	VPXORD Z17, Z17, Z17; \
	ZRELU(Z0); ZRELU(Z1); ZRELU(Z2); ZRELU(Z3); \
	ZRELU(Z4); ZRELU(Z5); ZRELU(Z6); ZRELU(Z7)

// ZRELU16: ZRELU on the 16 accumulators Z0..Z15.
#define ZRELU16 \
	ZRELU8; \
	ZRELU(Z8); ZRELU(Z9); ZRELU(Z10); ZRELU(Z11); \
	ZRELU(Z12); ZRELU(Z13); ZRELU(Z14); ZRELU(Z15)

// ZSTORE: BX = C row. Stores the accumulators lo, hi of one row.
#define ZSTORE(lo, hi) \
	VMOVUPS lo, (BX); \
	VMOVUPS hi, 64(BX); \
	ADDQ    R13, BX

// ZSTORE16: BX = C row 0. ZSTORE on the 16 accumulators of an 8×32 tile.
#define ZSTORE16 \
	ZSTORE(Z0, Z1); ZSTORE(Z2, Z3); ZSTORE(Z4, Z5); ZSTORE(Z6, Z7); \
	ZSTORE(Z8, Z9); ZSTORE(Z10, Z11); ZSTORE(Z12, Z13); ZSTORE(Z14, Z15)

// func tileAVX512(k int, a unsafe.Pointer, rs, ps uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, ldc uintptr, init unsafe.Pointer, ldi uintptr, beta float32, flags uintptr)
TEXT ·tileAVX512(SB), NOSPLIT, $0-96
	MOVQ k+0(FP), CX       // CX: terms left
	MOVQ a+8(FP), SI       // SI: &A[row 0][p]
	MOVQ rs+16(FP), R8     // R8: A's row stride (bytes)
	MOVQ ps+24(FP), R10    // R10: A's stride from p to p+1
	MOVQ b+32(FP), DX      // DX: &B[p][0]
	MOVQ bs+40(FP), R11    // R11: B's stride from p to p+1
	LEAQ (R8)(R8*2), R9    // R9: 3·rs
	LEAQ (SI)(R8*4), DI    // DI: &A[row 4][p]
	MOVQ c+48(FP), R12     // R12: &C[row 0][0]
	MOVQ ldc+56(FP), R13   // R13: C's row stride

	// Z0..Z15: acc, row r in Z(2r) (columns 0-15) and Z(2r+1) (columns 16-31)
	TESTQ $1, flags+88(FP)
	JEQ  tilezero512
	VBROADCASTSS beta+80(FP), Z16
	MOVQ init+64(FP), BX
	MOVQ ldi+72(FP), AX
	ZLOAD16
	JMP  tileloop512

tilezero512:
	ZZERO16

tileloop512:
	// Z16, Z17: B[p][0:32]; Z18: A[r][p] broadcast, r = 0..7
	VMOVUPS (DX), Z16
	VMOVUPS 64(DX), Z17
	ZFMA((SI), Z0, Z1)
	ZFMA((SI)(R8*1), Z2, Z3)
	ZFMA((SI)(R8*2), Z4, Z5)
	ZFMA((SI)(R9*1), Z6, Z7)
	ZFMA((DI), Z8, Z9)
	ZFMA((DI)(R8*1), Z10, Z11)
	ZFMA((DI)(R8*2), Z12, Z13)
	ZFMA((DI)(R9*1), Z14, Z15)
	ADDQ R10, SI
	ADDQ R10, DI
	ADDQ R11, DX
	DECQ CX
	JNZ  tileloop512

	TESTQ $2, flags+88(FP)
	JEQ  tilestore512
	ZRELU16

tilestore512:
	MOVQ R12, BX
	ZSTORE16
	VZEROUPPER
	RET

// func tileListAVX512(n int, a *float32, idx *uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, ldc uintptr, init unsafe.Pointer, ldi uintptr, beta float32, flags uintptr)
TEXT ·tileListAVX512(SB), NOSPLIT, $0-88
	MOVQ n+0(FP), CX       // CX: terms left
	MOVQ a+8(FP), SI       // SI: &a[t][0], 8 rows' values of term t
	MOVQ idx+16(FP), R10   // R10: &idx[t], the index p of term t
	MOVQ b+24(FP), DX      // DX: &B[0][0]
	MOVQ bs+32(FP), R11    // R11: B's row stride
	MOVQ c+40(FP), R12     // R12: &C[row 0][0]
	MOVQ ldc+48(FP), R13   // R13: C's row stride

	// Z0..Z15: acc, row r in Z(2r) (columns 0-15) and Z(2r+1) (columns 16-31)
	TESTQ $1, flags+80(FP)
	JEQ  listzero512
	VBROADCASTSS beta+72(FP), Z16
	MOVQ init+56(FP), BX
	MOVQ ldi+64(FP), AX
	ZLOAD16
	JMP  listtest512

listzero512:
	ZZERO16

listtest512:
	TESTQ CX, CX
	JZ    liststore512

listloop512:
	// AX: byte offset of B's row p; Z16, Z17: B[p][0:32]; Z18: a[t][r] broadcast
	MOVQ  (R10), AX
	IMULQ R11, AX
	VMOVUPS (DX)(AX*1), Z16
	VMOVUPS 64(DX)(AX*1), Z17
	ZFMA((SI), Z0, Z1)
	ZFMA(4(SI), Z2, Z3)
	ZFMA(8(SI), Z4, Z5)
	ZFMA(12(SI), Z6, Z7)
	ZFMA(16(SI), Z8, Z9)
	ZFMA(20(SI), Z10, Z11)
	ZFMA(24(SI), Z12, Z13)
	ZFMA(28(SI), Z14, Z15)
	ADDQ $32, SI
	ADDQ $8, R10
	DECQ CX
	JNZ  listloop512

liststore512:
	TESTQ $2, flags+80(FP)
	JEQ  listput512
	ZRELU16

listput512:
	MOVQ R12, BX
	ZSTORE16
	VZEROUPPER
	RET

// ZROWLOAD: Z16 = beta, BX = I. Starts accumulator z (columns off/4 ...) at beta·I.
#define ZROWLOAD(z, off) \
	VMULPS off(BX), Z16, z

// func rowAVX512(n int, vals *float32, offs *uintptr, b unsafe.Pointer, c unsafe.Pointer, init unsafe.Pointer, beta float32, flags uintptr)
TEXT ·rowAVX512(SB), NOSPLIT, $0-64
	MOVQ n+0(FP), CX       // CX: terms left
	MOVQ vals+8(FP), SI    // SI: &vals[t], the nonzero a
	MOVQ offs+16(FP), R10  // R10: &offs[t], the byte offset of a's row of B
	MOVQ b+24(FP), DX      // DX: &B[0][0]
	MOVQ c+32(FP), DI      // DI: &C[0]

	// Z0..Z7: acc, columns 16i..16i+15 in Zi
	TESTQ $1, flags+56(FP)
	JEQ  rowzero512
	VBROADCASTSS beta+48(FP), Z16
	MOVQ init+40(FP), BX
	ZROWLOAD(Z0, 0)
	ZROWLOAD(Z1, 64)
	ZROWLOAD(Z2, 128)
	ZROWLOAD(Z3, 192)
	ZROWLOAD(Z4, 256)
	ZROWLOAD(Z5, 320)
	ZROWLOAD(Z6, 384)
	ZROWLOAD(Z7, 448)
	JMP  rowtest512

rowzero512:
	ZZERO8

rowtest512:
	TESTQ CX, CX
	JZ    rowdone512

rowloop512:
	VBROADCASTSS (SI), Z8  // Z8: a broadcast
	MOVQ (R10), AX         // AX: offset of B's row
	VFMADD231PS (DX)(AX*1), Z8, Z0
	VFMADD231PS 64(DX)(AX*1), Z8, Z1
	VFMADD231PS 128(DX)(AX*1), Z8, Z2
	VFMADD231PS 192(DX)(AX*1), Z8, Z3
	VFMADD231PS 256(DX)(AX*1), Z8, Z4
	VFMADD231PS 320(DX)(AX*1), Z8, Z5
	VFMADD231PS 384(DX)(AX*1), Z8, Z6
	VFMADD231PS 448(DX)(AX*1), Z8, Z7
	ADDQ $4, SI
	ADDQ $8, R10
	DECQ CX
	JNZ  rowloop512

rowdone512:
	TESTQ $2, flags+56(FP)
	JEQ  rowput512
	ZRELU8

rowput512:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	VZEROUPPER
	RET

// YLOAD: Y12 = beta, BX = I row, AX = I's row stride. Starts the accumulators lo, hi of one
// row at beta·I.
#define YLOAD(lo, hi) \
	VMULPS (BX), Y12, lo; \
	VMULPS 32(BX), Y12, hi; \
	ADDQ   AX, BX

// YZERO8: the accumulators Y0..Y7 set to +0.
#define YZERO8 \
	VXORPS Y0, Y0, Y0; VXORPS Y1, Y1, Y1; VXORPS Y2, Y2, Y2; VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; VXORPS Y5, Y5, Y5; VXORPS Y6, Y6, Y6; VXORPS Y7, Y7, Y7

// YFMA: Y12, Y13 = B[p][0:16]. Adds a·B[p] to one row's accumulators lo, hi, a broadcast
// from addr (Y14 clobbered).
#define YFMA(addr, lo, hi) \
	VBROADCASTSS addr, Y14; \
	VFMADD231PS Y14, Y12, lo; \
	VFMADD231PS Y14, Y13, hi

// YRELU: Y13 = +0. Replaces y by max(y, +0), NaN kept (Y14, Y15 scratch).
#define YRELU(y) \
	VMAXPS Y13, y, Y14; \
	VCMPPS $3, y, y, Y15; \
	VBLENDVPS Y15, y, Y14, y

// YRELU8: YRELU on the accumulators Y0..Y7 (Y13 = +0 set here).
#define YRELU8 \
	VXORPS Y13, Y13, Y13; \
	YRELU(Y0); YRELU(Y1); YRELU(Y2); YRELU(Y3); \
	YRELU(Y4); YRELU(Y5); YRELU(Y6); YRELU(Y7)

// YSTORE: BX = C row. Stores the accumulators lo, hi of one row.
#define YSTORE(lo, hi) \
	VMOVUPS lo, (BX); \
	VMOVUPS hi, 32(BX); \
	ADDQ    R13, BX

// func tileAVX2(k int, a unsafe.Pointer, rs, ps uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, ldc uintptr, init unsafe.Pointer, ldi uintptr, beta float32, flags uintptr)
TEXT ·tileAVX2(SB), NOSPLIT, $0-96
	MOVQ k+0(FP), CX       // CX: terms left
	MOVQ a+8(FP), SI       // SI: &A[row 0][p]
	MOVQ rs+16(FP), R8     // R8: A's row stride (bytes)
	MOVQ ps+24(FP), R10    // R10: A's stride from p to p+1
	MOVQ b+32(FP), DX      // DX: &B[p][0]
	MOVQ bs+40(FP), R11    // R11: B's stride from p to p+1
	LEAQ (R8)(R8*2), R9    // R9: 3·rs
	LEAQ (SI)(R8*4), DI    // DI: &A[row 4][p]
	MOVQ c+48(FP), R12     // R12: &C[row 0][0]
	MOVQ ldc+56(FP), R13   // R13: C's row stride

	// Y0..Y11: acc, row r in Y(2r) (columns 0-7) and Y(2r+1) (columns 8-15)
	TESTQ $1, flags+88(FP)
	JEQ  tilezero2
	VBROADCASTSS beta+80(FP), Y12
	MOVQ init+64(FP), BX
	MOVQ ldi+72(FP), AX
	YLOAD(Y0, Y1)
	YLOAD(Y2, Y3)
	YLOAD(Y4, Y5)
	YLOAD(Y6, Y7)
	YLOAD(Y8, Y9)
	YLOAD(Y10, Y11)
	JMP  tileloop2

tilezero2:
	YZERO8
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

tileloop2:
	// Y12, Y13: B[p][0:16]; Y14: A[r][p] broadcast, r = 0..5
	VMOVUPS (DX), Y12
	VMOVUPS 32(DX), Y13
	YFMA((SI), Y0, Y1)
	YFMA((SI)(R8*1), Y2, Y3)
	YFMA((SI)(R8*2), Y4, Y5)
	YFMA((SI)(R9*1), Y6, Y7)
	YFMA((DI), Y8, Y9)
	YFMA((DI)(R8*1), Y10, Y11)
	ADDQ R10, SI
	ADDQ R10, DI
	ADDQ R11, DX
	DECQ CX
	JNZ  tileloop2

	TESTQ $2, flags+88(FP)
	JEQ  tilestore2
	YRELU8
	YRELU(Y8)
	YRELU(Y9)
	YRELU(Y10)
	YRELU(Y11)

tilestore2:
	MOVQ R12, BX
	YSTORE(Y0, Y1)
	YSTORE(Y2, Y3)
	YSTORE(Y4, Y5)
	YSTORE(Y6, Y7)
	YSTORE(Y8, Y9)
	YSTORE(Y10, Y11)
	VZEROUPPER
	RET

// YROWLOAD: Y12 = beta, BX = I. Starts accumulator y at beta·I (byte offset off).
#define YROWLOAD(y, off) \
	VMULPS off(BX), Y12, y

// func rowAVX2(n int, vals *float32, offs *uintptr, b unsafe.Pointer, c unsafe.Pointer, init unsafe.Pointer, beta float32, flags uintptr)
TEXT ·rowAVX2(SB), NOSPLIT, $0-64
	MOVQ n+0(FP), CX       // CX: terms left
	MOVQ vals+8(FP), SI    // SI: &vals[t], the nonzero a
	MOVQ offs+16(FP), R10  // R10: &offs[t], the byte offset of a's row of B
	MOVQ b+24(FP), DX      // DX: &B[0][0]
	MOVQ c+32(FP), DI      // DI: &C[0]

	// Y0..Y7: acc, columns 8i..8i+7 in Yi
	TESTQ $1, flags+56(FP)
	JEQ  rowzero2
	VBROADCASTSS beta+48(FP), Y12
	MOVQ init+40(FP), BX
	YROWLOAD(Y0, 0)
	YROWLOAD(Y1, 32)
	YROWLOAD(Y2, 64)
	YROWLOAD(Y3, 96)
	YROWLOAD(Y4, 128)
	YROWLOAD(Y5, 160)
	YROWLOAD(Y6, 192)
	YROWLOAD(Y7, 224)
	JMP  rowtest2

rowzero2:
	YZERO8

rowtest2:
	TESTQ CX, CX
	JZ    rowdone2

rowloop2:
	VBROADCASTSS (SI), Y8  // Y8: a broadcast
	MOVQ (R10), AX         // AX: offset of B's row
	VFMADD231PS (DX)(AX*1), Y8, Y0
	VFMADD231PS 32(DX)(AX*1), Y8, Y1
	VFMADD231PS 64(DX)(AX*1), Y8, Y2
	VFMADD231PS 96(DX)(AX*1), Y8, Y3
	VFMADD231PS 128(DX)(AX*1), Y8, Y4
	VFMADD231PS 160(DX)(AX*1), Y8, Y5
	VFMADD231PS 192(DX)(AX*1), Y8, Y6
	VFMADD231PS 224(DX)(AX*1), Y8, Y7
	ADDQ $4, SI
	ADDQ $8, R10
	DECQ CX
	JNZ  rowloop2

rowdone2:
	TESTQ $2, flags+56(FP)
	JEQ  rowput2
	YRELU8

rowput2:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	VZEROUPPER
	RET

// func nonzeroAVX512(blocks int, a *float32, vals *float32, offs *uintptr, lanes *[16]uintptr, step uintptr) int
//
// For each of blocks groups of 16 values of a, appends the values that are not ±0 to vals and
// their lanes' offsets (lanes[j] + block·step) to offs, in order; returns how many. Writes
// whole vectors: vals and offs need 16 elements of room past the count.
TEXT ·nonzeroAVX512(SB), NOSPLIT, $0-56
	MOVQ blocks+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ vals+16(FP), DI
	MOVQ offs+24(FP), R8
	MOVQ lanes+32(FP), R9
	VMOVDQU64 (R9), Z1            // Z1: offsets of lanes 0-7
	VMOVDQU64 64(R9), Z2          // Z2: offsets of lanes 8-15
	VPBROADCASTQ step+40(FP), Z3  // Z3: step
	VPXORD Z5, Z5, Z5
	XORQ AX, AX                   // AX: count
	TESTQ CX, CX
	JZ   nzdone

nzloop:
	VMOVUPS (SI), Z0
	VCMPPS $4, Z5, Z0, K1         // not equal (unordered): ±0 clear, NaN set
	VCOMPRESSPS Z0, K1, Z6
	VMOVUPS Z6, (DI)(AX*4)
	KMOVW K1, BX
	MOVL BX, DX
	ANDL $0xff, DX
	POPCNTL DX, DX
	VPCOMPRESSQ Z1, K1, Z7
	VMOVDQU64 Z7, (R8)(AX*8)
	ADDQ AX, DX                   // DX: count after lanes 0-7
	KSHIFTRW $8, K1, K2
	VPCOMPRESSQ Z2, K2, Z7
	VMOVDQU64 Z7, (R8)(DX*8)
	POPCNTL BX, BX
	ADDQ BX, AX
	VPADDQ Z3, Z1, Z1
	VPADDQ Z3, Z2, Z2
	ADDQ $64, SI
	DECQ CX
	JNZ  nzloop

nzdone:
	MOVQ AX, ret+48(FP)
	VZEROUPPER
	RET

// func cols8AVX(k int, a unsafe.Pointer, ps uintptr, pack *float32, idx *uintptr) int
//
// For p = 0 .. k-1, the 8 floats at a + p·ps (a column of op(A) = Aᵀ over a tile's 8 rows):
// if any is not ±0, appends them to pack (8 floats) and p to idx; returns how many were
// appended. Writes one group past the count (pack and idx need room for k+1 groups).
TEXT ·cols8AVX(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ ps+16(FP), R10
	MOVQ pack+24(FP), DI
	MOVQ idx+32(FP), R9
	XORQ DX, DX            // DX: p
	XORQ AX, AX            // AX: count
	MOVL $0x7fffffff, BX
	MOVQ BX, X1
	VPBROADCASTD X1, Y1    // Y1: all bits but the sign
	TESTQ CX, CX
	JZ   colsdone

colsloop:
	VMOVUPS (SI), Y0
	VPAND   Y1, Y0, Y2
	VMOVUPS Y0, (DI)
	MOVQ    DX, (R9)
	XORQ    BX, BX
	VPTEST  Y2, Y2
	SETNE   BL             // BX: 1 if any value is not ±0
	ADDQ    BX, AX
	SHLQ    $3, BX
	LEAQ    (R9)(BX*1), R9 // idx advances 8 bytes, pack 32, only for a kept column
	LEAQ    (DI)(BX*4), DI
	ADDQ    R10, SI
	INCQ    DX
	DECQ    CX
	JNZ     colsloop

colsdone:
	MOVQ AX, ret+40(FP)
	VZEROUPPER
	RET

// func packPanelAVX512(dst, src *float32, k, ldb int, lo, hi uint16)
TEXT ·packPanelAVX512(SB), NOSPLIT, $0-36
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    k+16(FP), CX
	MOVQ    ldb+24(FP), DX
	SHLQ    $2, DX
	MOVWQZX lo+32(FP), AX
	KMOVW   AX, K1
	MOVWQZX hi+34(FP), AX
	KMOVW   AX, K2
	TESTQ   CX, CX
	JZ      packdone

packloop:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVUPS   Z0, (DI)
	VMOVUPS   Z1, 64(DI)
	ADDQ      $128, DI
	ADDQ      DX, SI
	DECQ      CX
	JNZ       packloop

packdone:
	VZEROUPPER
	RET
