//go:build amd64 && gc && !purego

#include "textflag.h"

// The lane numbers 0..7, added to the broadcast offset.
DATA lanes<>+0(SB)/4, $0
DATA lanes<>+4(SB)/4, $1
DATA lanes<>+8(SB)/4, $2
DATA lanes<>+12(SB)/4, $3
DATA lanes<>+16(SB)/4, $4
DATA lanes<>+20(SB)/4, $5
DATA lanes<>+24(SB)/4, $6
DATA lanes<>+28(SB)/4, $7
GLOBL lanes<>(SB), RODATA|NOPTR, $32

DATA eight<>+0(SB)/4, $8
GLOBL eight<>(SB), RODATA|NOPTR, $4

// func maxArgAVX2(out *float32, arg *int32, in *float32, off int32, n int)
//
// For i < n (a multiple of 8), 8 at a time: where in[i] > out[i] (ordered: false if either
// is a NaN) or in[i] is a NaN and out[i] is not, out[i] = in[i] and arg[i] = off + i.
TEXT ·maxArgAVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ arg+8(FP), SI
	MOVQ in+16(FP), DX
	MOVQ n+32(FP), CX
	MOVL off+24(FP), AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	VPADDD lanes<>(SB), Y7, Y7 // Y7: off + i for the 8 lanes
	VPBROADCASTD eight<>(SB), Y8
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (DI), Y0            // m = out
	VMOVUPS (DX), Y1            // v = in
	VCMPPS  $0x1e, Y0, Y1, Y2   // v > m (GT_OQ)
	VCMPPS  $3, Y1, Y1, Y3      // v is a NaN (UNORD_Q)
	VCMPPS  $7, Y0, Y0, Y4      // m is not (ORD_Q)
	VANDPS  Y4, Y3, Y3
	VORPS   Y3, Y2, Y2          // take v
	VBLENDVPS Y2, Y1, Y0, Y0    // Y2 ? v : m
	VMOVDQU (SI), Y5
	VBLENDVPS Y2, Y7, Y5, Y5    // Y2 ? off+i : arg
	VMOVUPS Y0, (DI)
	VMOVDQU Y5, (SI)
	VPADDD  Y8, Y7, Y7
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  loop

done:
	VZEROUPPER
	RET

// func addAVX2(dst, src *float32, n int)
//
// dst[i] += src[i] for i < n (a multiple of 8), 8 at a time.
TEXT ·addAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   adddone

addloop:
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ  addloop

adddone:
	VZEROUPPER
	RET

// func addRunsAVX2(dst, src *float32, runs, runLen, dstStride, srcStride int)
//
// dst[i·dstStride + j] += src[i·srcStride + j] for i < runs, j < runLen (a multiple of 8),
// the strides in bytes, 8 values at a time, runs in order.
TEXT ·addRunsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ runs+16(FP), BX
	MOVQ runLen+24(FP), DX
	MOVQ dstStride+32(FP), R8
	MOVQ srcStride+40(FP), R9
	SHRQ $3, DX
	TESTQ DX, DX
	JZ    runsdone
	TESTQ BX, BX
	JZ    runsdone

runsrow:
	MOVQ DI, R10
	MOVQ SI, R11
	MOVQ DX, CX

runsloop:
	VMOVUPS (R10), Y0
	VADDPS  (R11), Y0, Y0
	VMOVUPS Y0, (R10)
	ADDQ $32, R10
	ADDQ $32, R11
	DECQ CX
	JNZ  runsloop
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ BX
	JNZ  runsrow

runsdone:
	VZEROUPPER
	RET

// func maxRowsAVX2(out *float32, arg *int32, img *float32, first, count, stepX, k, rowStride, c int)
//
// Pools count windows of k×k taps lying inside the image img, the first one's top-left tap
// at element first, each next one stepX elements on; a tap (ky, kx) is at
// ky·rowStride + kx·c, and c (a multiple of 8) channels are pooled 8 at a time: m and arg
// start at the top-left tap, then every tap in (ky, kx) order (the first one again, which
// changes nothing) replaces them where it is greater, or a NaN where m is not. out and arg
// receive count·c values.
TEXT ·maxRowsAVX2(SB), NOSPLIT, $0-72
	MOVQ out+0(FP), DI
	MOVQ arg+8(FP), SI
	MOVQ img+16(FP), DX
	MOVQ first+24(FP), R8
	MOVQ count+32(FP), CX
	MOVQ c+64(FP), R12
	VMOVDQU lanes<>(SB), Y9
	TESTQ CX, CX
	JZ    rowsdone

pixel:
	XORQ R13, R13 // channel block

block:
	LEAQ (R8)(R13*1), AX // the block's top-left tap
	VMOVUPS (DX)(AX*4), Y0
	VMOVD AX, X5
	VPBROADCASTD X5, Y5
	VPADDD Y9, Y5, Y5
	MOVQ k+48(FP), R14
	MOVQ AX, BX // the tap row's first tap

tapy:
	MOVQ k+48(FP), R15
	MOVQ BX, R10

tapx:
	VMOVUPS (DX)(R10*4), Y1
	VMOVD R10, X7
	VPBROADCASTD X7, Y7
	VPADDD Y9, Y7, Y7
	VCMPPS $0x1e, Y0, Y1, Y2 // v > m (GT_OQ)
	VCMPPS $3, Y1, Y1, Y3    // v is a NaN
	VCMPPS $7, Y0, Y0, Y4    // m is not
	VANDPS Y4, Y3, Y3
	VORPS  Y3, Y2, Y2
	VBLENDVPS Y2, Y1, Y0, Y0
	VBLENDVPS Y2, Y7, Y5, Y5
	ADDQ R12, R10
	DECQ R15
	JNZ  tapx
	ADDQ rowStride+56(FP), BX
	DECQ R14
	JNZ  tapy

	VMOVUPS Y0, (DI)(R13*4)
	VMOVDQU Y5, (SI)(R13*4)
	ADDQ $8, R13
	CMPQ R13, R12
	JLT  block

	LEAQ (DI)(R12*4), DI
	LEAQ (SI)(R12*4), SI
	ADDQ stepX+40(FP), R8
	DECQ CX
	JNZ  pixel

rowsdone:
	VZEROUPPER
	RET

// func routeRowsAVX2(img, dy *float32, arg *int32, first, count, stepX, k, rowStride, c int)
//
// For count windows of k×k taps in the image img (the gradient, written), the first one's
// top-left tap at element first, each next one stepX elements on, a tap (ky, kx) at
// ky·rowStride + kx·c, c a multiple of 8: every tap's c values get +0 + dy where arg (the
// window's c offsets) names them, else +0. dy and arg hold count·c values.
TEXT ·routeRowsAVX2(SB), NOSPLIT, $0-72
	MOVQ img+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ arg+16(FP), DX
	MOVQ first+24(FP), R8
	MOVQ count+32(FP), CX
	MOVQ c+64(FP), R12
	VMOVDQU lanes<>(SB), Y9
	VXORPS Y6, Y6, Y6
	TESTQ CX, CX
	JZ    routedone

rwindow:
	XORQ R13, R13 // channel block

rblock:
	VADDPS  (SI)(R13*4), Y6, Y0 // +0 + dy
	VMOVDQU (DX)(R13*4), Y5     // arg
	LEAQ (R8)(R13*1), BX        // the block's top-left tap
	MOVQ k+48(FP), R14

rtapy:
	MOVQ k+48(FP), R15
	MOVQ BX, R10

rtapx:
	VMOVD R10, X7
	VPBROADCASTD X7, Y7
	VPADDD Y9, Y7, Y7
	VPCMPEQD Y7, Y5, Y1
	VANDPS Y1, Y0, Y2
	VMOVUPS Y2, (DI)(R10*4)
	ADDQ R12, R10
	DECQ R15
	JNZ  rtapx
	ADDQ rowStride+56(FP), BX
	DECQ R14
	JNZ  rtapy

	ADDQ $8, R13
	CMPQ R13, R12
	JLT  rblock

	LEAQ (SI)(R12*4), SI
	LEAQ (DX)(R12*4), DX
	ADDQ stepX+40(FP), R8
	DECQ CX
	JNZ  rwindow

routedone:
	VZEROUPPER
	RET
