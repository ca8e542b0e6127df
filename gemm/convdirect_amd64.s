//go:build amd64 && gc && !purego

#include "textflag.h"

// The direct convolution kernels of convdirect_amd64.go. Each computes one tile of output
// pixels of one row of a convolution over a horizontally padded NHWC image, reading the
// image in place: pixel r's window row ky is the run of `run` contiguous values (kx, c) at
// a + r·rs + ky·(run·4 + skip) bytes, and the weights' row p of the tile's columns at
// b + p·bs, p counting the terms in the order (ky, kx, c). Every accumulator starts at the
// bias, gets one fused multiply-add per term in that order, then max(c, +0) with NaN kept
// (Go's max(c, 0)) if relu is set, and is stored to c + r·cs. conv32AVX512 skips, in each
// segment of a window row's run, the pixels whose bit is clear in the segment's mask (the
// pixels whose window column lies in the padding: their values are zero).

// CFMA: Z16, Z17 = b[p][0:32]. Adds a·b[p] to one pixel's accumulators lo, hi, a
// broadcast from addr (Z18 clobbered).
#define CFMA(addr, lo, hi) \
	VBROADCASTSS addr, Z18; \
	VFMADD231PS Z18, Z16, lo; \
	VFMADD231PS Z18, Z17, hi

// CRELU: Z17 = +0. Replaces z by max(z, +0), NaN kept (Z18 scratch, K1 clobbered).
#define CRELU(z) \
	VMAXPS Z17, z, Z18; \
	VCMPPS $3, z, z, K1; \
	VMOVAPS z, K1, Z18; \
	VMOVAPS Z18, z

// CGUARD: R10 = the block's mask of pixels. CFMA for pixel r if bit r of R10 is set.
#define CGUARD(r, addr, lo, hi, skip) \
	BTQ $r, R10; \
	JCC skip; \
	CFMA(addr, lo, hi); \
skip:

// func conv32AVX512(nky, nseg int, a unsafe.Pointer, rs, skip uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, cs uintptr, bias unsafe.Pointer, relu uintptr, segs *uint32)
//
// 7 pixels × 32 columns: pixel r in Z(2r) (columns 0-15) and Z(2r+1) (columns 16-31). A
// window row's run is nseg segments: segs[i] = terms<<8 | mask, the segment's terms added
// to the pixels whose bit is set in mask (0x7f: all seven, the loop without tests).
TEXT ·conv32AVX512(SB), NOSPLIT, $0-96
	MOVQ nky+0(FP), BX     // BX: window rows left
	MOVQ a+16(FP), SI      // SI: pixel 0's value of term p
	MOVQ rs+24(FP), R8     // R8: pixel stride (bytes)
	MOVQ skip+32(FP), AX   // AX: from the end of a window row's run to the next run
	MOVQ b+40(FP), DX      // DX: &b[p][0]
	MOVQ bs+48(FP), R11    // R11: b's stride from p to p+1
	MOVQ bias+72(FP), R12
	LEAQ (R8)(R8*2), R9    // R9: 3·rs
	LEAQ (SI)(R8*4), DI    // DI: pixel 4's value of term p
	VMOVUPS (R12), Z0
	VMOVUPS 64(R12), Z1
	VMOVAPS Z0, Z2
	VMOVAPS Z1, Z3
	VMOVAPS Z0, Z4
	VMOVAPS Z1, Z5
	VMOVAPS Z0, Z6
	VMOVAPS Z1, Z7
	VMOVAPS Z0, Z8
	VMOVAPS Z1, Z9
	VMOVAPS Z0, Z10
	VMOVAPS Z1, Z11
	VMOVAPS Z0, Z12
	VMOVAPS Z1, Z13
	TESTQ BX, BX
	JZ    c32end

c32row:
	MOVQ segs+88(FP), R12  // R12: &segs[i]
	MOVQ nseg+8(FP), R13   // R13: segments left in this window row

c32seg:
	MOVBQZX (R12), R10     // R10: the segment's pixels
	MOVL (R12), CX
	SHRL $8, CX            // CX: terms left in this segment
	CMPQ R10, $0x7f
	JNE  c32guard

c32term:
	VMOVUPS (DX), Z16
	VMOVUPS 64(DX), Z17
	CFMA((SI), Z0, Z1)
	CFMA((SI)(R8*1), Z2, Z3)
	CFMA((SI)(R8*2), Z4, Z5)
	CFMA((SI)(R9*1), Z6, Z7)
	CFMA((DI), Z8, Z9)
	CFMA((DI)(R8*1), Z10, Z11)
	CFMA((DI)(R8*2), Z12, Z13)
	ADDQ $4, SI
	ADDQ $4, DI
	ADDQ R11, DX
	DECQ CX
	JNZ  c32term
	JMP  c32next

c32guard:
	VMOVUPS (DX), Z16
	VMOVUPS 64(DX), Z17
	CGUARD(0, (SI), Z0, Z1, c32g0)
	CGUARD(1, (SI)(R8*1), Z2, Z3, c32g1)
	CGUARD(2, (SI)(R8*2), Z4, Z5, c32g2)
	CGUARD(3, (SI)(R9*1), Z6, Z7, c32g3)
	CGUARD(4, (DI), Z8, Z9, c32g4)
	CGUARD(5, (DI)(R8*1), Z10, Z11, c32g5)
	CGUARD(6, (DI)(R8*2), Z12, Z13, c32g6)
	ADDQ $4, SI
	ADDQ $4, DI
	ADDQ R11, DX
	DECQ CX
	JNZ  c32guard

c32next:
	ADDQ $4, R12
	DECQ R13
	JNZ  c32seg
	ADDQ AX, SI
	ADDQ AX, DI
	DECQ BX
	JNZ  c32row

c32end:
	TESTQ $1, relu+80(FP)
	JEQ   c32store
	VPXORD Z17, Z17, Z17
	CRELU(Z0); CRELU(Z1); CRELU(Z2); CRELU(Z3); CRELU(Z4); CRELU(Z5); CRELU(Z6)
	CRELU(Z7); CRELU(Z8); CRELU(Z9); CRELU(Z10); CRELU(Z11); CRELU(Z12); CRELU(Z13)

c32store:
	MOVQ c+56(FP), DI
	MOVQ cs+64(FP), R13
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ    R13, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ    R13, DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	ADDQ    R13, DI
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	ADDQ    R13, DI
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, 64(DI)
	ADDQ    R13, DI
	VMOVUPS Z10, (DI)
	VMOVUPS Z11, 64(DI)
	ADDQ    R13, DI
	VMOVUPS Z12, (DI)
	VMOVUPS Z13, 64(DI)
	VZEROUPPER
	RET

// func conv16AVX512(nky, run int, a unsafe.Pointer, rs, skip uintptr, b unsafe.Pointer, bs uintptr, c unsafe.Pointer, cs uintptr, bias unsafe.Pointer, relu uintptr)
//
// 14 pixels × 16 columns: pixel r in Zr.
TEXT ·conv16AVX512(SB), NOSPLIT, $0-88
	MOVQ nky+0(FP), BX     // BX: window rows left
	MOVQ a+16(FP), SI      // SI: pixel 0's value of term p
	MOVQ rs+24(FP), R8     // R8: pixel stride (bytes)
	MOVQ skip+32(FP), AX   // AX: from the end of a window row's run to the next run
	MOVQ b+40(FP), DX      // DX: &b[p][0]
	MOVQ bs+48(FP), R11    // R11: b's stride from p to p+1
	MOVQ bias+72(FP), R12
	LEAQ (R8)(R8*2), R9    // R9: 3·rs
	LEAQ (SI)(R8*4), DI    // DI: pixel 4's value of term p
	LEAQ (DI)(R8*4), R10   // R10: pixel 8's
	VMOVUPS (R12), Z0
	LEAQ (R10)(R8*4), R12  // R12: pixel 12's
	VMOVAPS Z0, Z1
	VMOVAPS Z0, Z2
	VMOVAPS Z0, Z3
	VMOVAPS Z0, Z4
	VMOVAPS Z0, Z5
	VMOVAPS Z0, Z6
	VMOVAPS Z0, Z7
	VMOVAPS Z0, Z8
	VMOVAPS Z0, Z9
	VMOVAPS Z0, Z10
	VMOVAPS Z0, Z11
	VMOVAPS Z0, Z12
	VMOVAPS Z0, Z13
	TESTQ BX, BX
	JZ    c16end

c16row:
	MOVQ run+8(FP), CX     // CX: terms left in this window row

c16term:
	VMOVUPS (DX), Z16
	VFMADD231PS.BCST (SI), Z16, Z0
	VFMADD231PS.BCST (SI)(R8*1), Z16, Z1
	VFMADD231PS.BCST (SI)(R8*2), Z16, Z2
	VFMADD231PS.BCST (SI)(R9*1), Z16, Z3
	VFMADD231PS.BCST (DI), Z16, Z4
	VFMADD231PS.BCST (DI)(R8*1), Z16, Z5
	VFMADD231PS.BCST (DI)(R8*2), Z16, Z6
	VFMADD231PS.BCST (DI)(R9*1), Z16, Z7
	VFMADD231PS.BCST (R10), Z16, Z8
	VFMADD231PS.BCST (R10)(R8*1), Z16, Z9
	VFMADD231PS.BCST (R10)(R8*2), Z16, Z10
	VFMADD231PS.BCST (R10)(R9*1), Z16, Z11
	VFMADD231PS.BCST (R12), Z16, Z12
	VFMADD231PS.BCST (R12)(R8*1), Z16, Z13
	ADDQ $4, SI
	ADDQ $4, DI
	ADDQ $4, R10
	ADDQ $4, R12
	ADDQ R11, DX
	DECQ CX
	JNZ  c16term
	ADDQ AX, SI
	ADDQ AX, DI
	ADDQ AX, R10
	ADDQ AX, R12
	DECQ BX
	JNZ  c16row

c16end:
	TESTQ $1, relu+80(FP)
	JEQ   c16store
	VPXORD Z17, Z17, Z17
	CRELU(Z0); CRELU(Z1); CRELU(Z2); CRELU(Z3); CRELU(Z4); CRELU(Z5); CRELU(Z6)
	CRELU(Z7); CRELU(Z8); CRELU(Z9); CRELU(Z10); CRELU(Z11); CRELU(Z12); CRELU(Z13)

c16store:
	MOVQ c+56(FP), DI
	MOVQ cs+64(FP), R13
	LEAQ (R13)(R13*2), R9  // R9: 3·cs
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, (DI)(R13*1)
	VMOVUPS Z2, (DI)(R13*2)
	VMOVUPS Z3, (DI)(R9*1)
	LEAQ (DI)(R13*4), DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, (DI)(R13*1)
	VMOVUPS Z6, (DI)(R13*2)
	VMOVUPS Z7, (DI)(R9*1)
	LEAQ (DI)(R13*4), DI
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, (DI)(R13*1)
	VMOVUPS Z10, (DI)(R13*2)
	VMOVUPS Z11, (DI)(R9*1)
	LEAQ (DI)(R13*4), DI
	VMOVUPS Z12, (DI)
	VMOVUPS Z13, (DI)(R13*1)
	VZEROUPPER
	RET
