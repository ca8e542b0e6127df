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
