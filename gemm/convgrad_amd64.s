//go:build amd64 && gc && !purego

#include "textflag.h"

// The sparse kernels of convgrad_amd64.go: sparseRowsNAVX512 (N = 1 ... 8) runs, for each
// group k < ng, N zmm accumulators (Z0 ... Z(N-1)) over the group's entries i from
// spans[2k] to spans[2k+1]-1, in order:
//
//	acc_j = dst[doff[k] + 64j : +64]                   (byte offsets; j < N)
//	acc_j = fma(vals[i], src[off[i] + 64j : +64], acc_j)  for each entry i
//	dst[doff[k] + 64j : +64] = acc_j
//
// Z31 holds the entry's broadcast value; the N sums are independent chains.

// LOADn, FMAn and STOREn: the first n accumulators from dst at DX, the multiply-adds of an
// entry whose row is at R12, and the accumulators back to DX.

#define LOAD1 VMOVUPS 0(DX), Z0
#define LOAD2 LOAD1; VMOVUPS 64(DX), Z1
#define LOAD3 LOAD2; VMOVUPS 128(DX), Z2
#define LOAD4 LOAD3; VMOVUPS 192(DX), Z3
#define LOAD5 LOAD4; VMOVUPS 256(DX), Z4
#define LOAD6 LOAD5; VMOVUPS 320(DX), Z5
#define LOAD7 LOAD6; VMOVUPS 384(DX), Z6
#define LOAD8 LOAD7; VMOVUPS 448(DX), Z7
#define FMA1 VFMADD231PS 0(R12), Z31, Z0
#define FMA2 FMA1; VFMADD231PS 64(R12), Z31, Z1
#define FMA3 FMA2; VFMADD231PS 128(R12), Z31, Z2
#define FMA4 FMA3; VFMADD231PS 192(R12), Z31, Z3
#define FMA5 FMA4; VFMADD231PS 256(R12), Z31, Z4
#define FMA6 FMA5; VFMADD231PS 320(R12), Z31, Z5
#define FMA7 FMA6; VFMADD231PS 384(R12), Z31, Z6
#define FMA8 FMA7; VFMADD231PS 448(R12), Z31, Z7
#define STORE1 VMOVUPS Z0, 0(DX)
#define STORE2 STORE1; VMOVUPS Z1, 64(DX)
#define STORE3 STORE2; VMOVUPS Z2, 128(DX)
#define STORE4 STORE3; VMOVUPS Z3, 192(DX)
#define STORE5 STORE4; VMOVUPS Z4, 256(DX)
#define STORE6 STORE5; VMOVUPS Z5, 320(DX)
#define STORE7 STORE6; VMOVUPS Z6, 384(DX)
#define STORE8 STORE7; VMOVUPS Z7, 448(DX)

// SPARSE is the body of sparseRowsNAVX512 for LOADN, FMAN, STOREN.
#define SPARSE(LOADS, FMAS, STORES) \
	MOVQ ng+0(FP), CX; \
	TESTQ CX, CX; \
	JZ   done; \
	MOVQ spans+8(FP), R8; \
	MOVQ vals+16(FP), R9; \
	MOVQ off+24(FP), R10; \
	MOVQ src+32(FP), SI; \
	MOVQ dst+40(FP), DI; \
	MOVQ doff+48(FP), R11; \
group: \
	MOVLQSX (R11), DX; \
	ADDQ DI, DX; \
	MOVLQSX (R8), BX; \
	MOVLQSX 4(R8), AX; \
	LOADS; \
	CMPQ BX, AX; \
	JGE  store; \
entry: \
	VBROADCASTSS (R9)(BX*4), Z31; \
	MOVLQSX (R10)(BX*4), R12; \
	ADDQ SI, R12; \
	FMAS; \
	INCQ BX; \
	CMPQ BX, AX; \
	JLT  entry; \
store: \
	STORES; \
	ADDQ $8, R8; \
	ADDQ $4, R11; \
	DECQ CX; \
	JNZ  group; \
done: \
	VZEROUPPER; \
	RET

// func sparseRows1AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)
TEXT ·sparseRows1AVX512(SB), NOSPLIT, $0-56
	SPARSE(LOAD1, FMA1, STORE1)

// func sparseRows2AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)
TEXT ·sparseRows2AVX512(SB), NOSPLIT, $0-56
	SPARSE(LOAD2, FMA2, STORE2)

// func sparseRows3AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)
TEXT ·sparseRows3AVX512(SB), NOSPLIT, $0-56
	SPARSE(LOAD3, FMA3, STORE3)

// func sparseRows4AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)
TEXT ·sparseRows4AVX512(SB), NOSPLIT, $0-56
	SPARSE(LOAD4, FMA4, STORE4)

// func sparseRows5AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)
TEXT ·sparseRows5AVX512(SB), NOSPLIT, $0-56
	SPARSE(LOAD5, FMA5, STORE5)

// func sparseRows6AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)
TEXT ·sparseRows6AVX512(SB), NOSPLIT, $0-56
	SPARSE(LOAD6, FMA6, STORE6)

// func sparseRows7AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)
TEXT ·sparseRows7AVX512(SB), NOSPLIT, $0-56
	SPARSE(LOAD7, FMA7, STORE7)

// func sparseRows8AVX512(ng int, spans *int32, vals *float32, off *int32, src, dst unsafe.Pointer, doff *int32)
TEXT ·sparseRows8AVX512(SB), NOSPLIT, $0-56
	SPARSE(LOAD8, FMA8, STORE8)

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
