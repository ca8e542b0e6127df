//go:build amd64 && gc && !purego

#include "textflag.h"

// func compressRowsAVX512(rows, blocks int, vals *float32, offs *int32, outVals *float32, outOffs *int32, counts *int32)
//
// For each row r < rows of blocks·16 values of vals: appends the values that are not ±0
// (NaN is) to outVals and the matching offs[j] (j the value's column; offs has blocks·16
// entries, the same for every row) to outOffs, in order, and sets counts[r] to how many.
// Writes whole vectors: outVals and outOffs need 16 elements of room past the total.
TEXT ·compressRowsAVX512(SB), NOSPLIT, $0-56
	MOVQ rows+0(FP), CX
	MOVQ vals+16(FP), SI
	MOVQ outVals+32(FP), DI
	MOVQ outOffs+40(FP), R8
	MOVQ counts+48(FP), R9
	VPXORD Z5, Z5, Z5
	TESTQ CX, CX
	JZ   crdone

crrow:
	MOVQ blocks+8(FP), R10
	MOVQ offs+24(FP), R11
	XORQ AX, AX            // AX: the row's count
	TESTQ R10, R10
	JZ   crend

crblock:
	VMOVUPS (SI), Z0
	VCMPPS $4, Z5, Z0, K1  // not equal (unordered): ±0 clear, NaN set
	VCOMPRESSPS Z0, K1, Z6
	VMOVUPS Z6, (DI)
	VMOVDQU32 (R11), Z1
	VPCOMPRESSD Z1, K1, Z7
	VMOVDQU32 Z7, (R8)
	KMOVW K1, BX
	POPCNTL BX, BX
	ADDQ BX, AX
	LEAQ (DI)(BX*4), DI
	LEAQ (R8)(BX*4), R8
	ADDQ $64, SI
	ADDQ $64, R11
	DECQ R10
	JNZ  crblock

crend:
	MOVL AX, (R9)
	ADDQ $4, R9
	DECQ CX
	JNZ  crrow

crdone:
	VZEROUPPER
	RET

// func compressRowsAVX2(rows, blocks int, vals *float32, offs *int32, outVals *float32, outOffs *int32, counts *int32, perm *[256][8]int32)
//
// compressRowsAVX512 for AVX2, blocks of 8 values: the mask of a block's values that are
// not ±0 picks perm[mask], the lanes of the set bits first, for VPERMPS and VPERMD.
TEXT ·compressRowsAVX2(SB), NOSPLIT, $0-64
	MOVQ rows+0(FP), CX
	MOVQ vals+16(FP), SI
	MOVQ outVals+32(FP), DI
	MOVQ outOffs+40(FP), R8
	MOVQ counts+48(FP), R9
	MOVQ perm+56(FP), R12
	VXORPS Y5, Y5, Y5
	TESTQ CX, CX
	JZ   c2done

c2row:
	MOVQ blocks+8(FP), R10
	MOVQ offs+24(FP), R11
	XORQ AX, AX            // AX: the row's count
	TESTQ R10, R10
	JZ   c2end

c2block:
	VMOVUPS (SI), Y0
	VCMPPS $4, Y5, Y0, Y1  // not equal (unordered): ±0 clear, NaN set
	VMOVMSKPS Y1, BX
	MOVQ BX, DX
	SHLQ $5, DX            // 32 bytes per permutation
	VMOVDQU (R12)(DX*1), Y2
	VPERMPS Y0, Y2, Y3
	VMOVUPS Y3, (DI)
	VMOVDQU (R11), Y4
	VPERMD Y4, Y2, Y6
	VMOVDQU Y6, (R8)
	POPCNTL BX, BX
	ADDQ BX, AX
	LEAQ (DI)(BX*4), DI
	LEAQ (R8)(BX*4), R8
	ADDQ $32, SI
	ADDQ $32, R11
	DECQ R10
	JNZ  c2block

c2end:
	MOVL AX, (R9)
	ADDQ $4, R9
	DECQ CX
	JNZ  c2row

c2done:
	VZEROUPPER
	RET
