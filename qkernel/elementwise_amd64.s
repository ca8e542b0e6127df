//go:build amd64 && gc && !purego

#include "textflag.h"

// Element-wise stages (see elementwise_amd64.go for the contracts). The *AVX512 routines
// handle the last partial block of a row with a k-register mask built from the count left:
// masked loads read and masked stores write only the lanes in range (and cannot fault on
// the others). The *AVX2 routines only see whole blocks of 8.

// MASK16(k) sets k to the low CX bits (CX in [1, 16]); clobbers AX.
#define MASK16(k) \
	MOVL  $1, AX; \
	SHLL  CX, AX; \
	DECL  AX;     \
	KMOVW AX, k

// func nonFiniteAVX2(x *float32, n int) bool
TEXT ·nonFiniteAVX2(SB), NOSPLIT, $0-17
	// SI: x; CX: elements left (a multiple of 8); Y0: OR of v-v.
	MOVQ   x+0(FP), SI
	MOVQ   n+8(FP), CX
	VPXOR  Y0, Y0, Y0

nf2loop:
	TESTQ  CX, CX
	JZ     nf2done
	VMOVUPS (SI), Y1
	VSUBPS Y1, Y1, Y1
	VPOR   Y1, Y0, Y0
	ADDQ   $32, SI
	SUBQ   $8, CX
	JMP    nf2loop

nf2done:
	VPTEST Y0, Y0
	SETNE  ret+16(FP)
	VZEROUPPER
	RET

// func quantizeAVX512(dst *uint8, x *float32, n int, scale, lo, hi float32, zp int32)
TEXT ·quantizeAVX512(SB), NOSPLIT, $0-41
	// DI: dst; SI: x; CX: elements left.
	// Z28: scale; Z29: lo = qmin-zp; Z30: hi = qmax-zp; Z31: zp (int32). All broadcast.
	// K3: lanes that met a NaN or ±Inf so far (x-x is NaN exactly for those).
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS scale+24(FP), Z28
	VBROADCASTSS lo+28(FP), Z29
	VBROADCASTSS hi+32(FP), Z30
	MOVL zp+36(FP), AX
	VPBROADCASTD AX, Z31
	KXORW K3, K3, K3

q512loop:
	// 16 elements: t = x/scale (the IEEE float32 division of Go's x/scale), clamped in
	// float to [lo, hi] so the conversion cannot overflow, rounded half to even by
	// VCVTPS2DQ (MXCSR's default mode), plus zp: now in [qmin, qmax], so truncating to a
	// byte is exact. Non-finite inputs are only noted (K3); the caller then reports them.
	CMPQ      CX, $16
	JLT       q512tail
	VMOVUPS   (SI), Z0
	VSUBPS    Z0, Z0, Z1
	VCMPPS    $3, Z1, Z1, K2
	KORW      K2, K3, K3
	VDIVPS    Z28, Z0, Z0
	VMAXPS    Z29, Z0, Z0
	VMINPS    Z30, Z0, Z0
	VCVTPS2DQ Z0, Z0
	VPADDD    Z31, Z0, Z0
	VPMOVDB   Z0, (DI)
	ADDQ      $64, SI
	ADDQ      $16, DI
	SUBQ      $16, CX
	JMP       q512loop

q512tail:
	// The same on the last n%16 elements under mask K1.
	TESTQ     CX, CX
	JZ        q512done
	MASK16(K1)
	VMOVUPS.Z (SI), K1, Z0
	VSUBPS    Z0, Z0, Z1
	VCMPPS    $3, Z1, Z1, K2
	KORW      K2, K3, K3
	VDIVPS    Z28, Z0, Z0
	VMAXPS    Z29, Z0, Z0
	VMINPS    Z30, Z0, Z0
	VCVTPS2DQ Z0, Z0
	VPADDD    Z31, Z0, Z0
	VPMOVDB   Z0, K1, (DI)

q512done:
	// ret: whether every element was finite.
	KORTESTW K3, K3
	SETEQ    finite+40(FP)
	VZEROUPPER
	RET

// func quantizeAVX2(dst *uint8, x *float32, n int, scale, lo, hi float32, zp int32)
TEXT ·quantizeAVX2(SB), NOSPLIT, $0-40
	// DI: dst; SI: x; CX: elements left (a multiple of 8).
	// Y12: scale; Y13: lo; Y14: hi; Y15: zp. All broadcast.
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y12
	VBROADCASTSS lo+28(FP), Y13
	VBROADCASTSS hi+32(FP), Y14
	MOVL zp+36(FP), AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

q2loop:
	// 8 elements, as in quantizeAVX512; then the 8 int32 (each in [0, 255]) are packed to
	// words and bytes (the saturation of the packs never acts) and stored as 8 bytes.
	TESTQ      CX, CX
	JZ         q2done
	VMOVUPS    (SI), Y0
	VDIVPS     Y12, Y0, Y0
	VMAXPS     Y13, Y0, Y0
	VMINPS     Y14, Y0, Y0
	VCVTPS2DQ  Y0, Y0
	VPADDD     Y15, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW  X1, X0, X0
	VPACKUSWB  X0, X0, X0
	VMOVQ      X0, (DI)
	ADDQ       $32, SI
	ADDQ       $8, DI
	SUBQ       $8, CX
	JMP        q2loop

q2done:
	VZEROUPPER
	RET

// func rangeAVX512(x *float32, n int) (lo, hi float32, nan bool)
TEXT ·rangeAVX512(SB), NOSPLIT, $0-25
	// SI: x; CX: elements left; Z0: lane minima; Z1: lane maxima; K3: lanes that saw a NaN.
	// VMINPS/VMAXPS return their second source when one is NaN, so NaN is tracked apart.
	MOVQ     x+0(FP), SI
	MOVQ     n+8(FP), CX
	MOVL     $0x7f800000, AX // +Inf
	VPBROADCASTD AX, Z0
	MOVL     $0xff800000, AX // -Inf
	VPBROADCASTD AX, Z1
	KXORW    K3, K3, K3

r512loop:
	CMPQ     CX, $16
	JLT      r512tail
	VMOVUPS  (SI), Z2
	VMINPS   Z2, Z0, Z0
	VMAXPS   Z2, Z1, Z1
	VCMPPS   $3, Z2, Z2, K2 // unordered: NaN
	KORW     K2, K3, K3
	ADDQ     $64, SI
	SUBQ     $16, CX
	JMP      r512loop

r512tail:
	// The last n%16 elements update only their own lanes (merge masking).
	TESTQ    CX, CX
	JZ       r512reduce
	MASK16(K1)
	VMOVUPS.Z (SI), K1, Z2
	VMINPS   Z2, Z0, K1, Z0
	VMAXPS   Z2, Z1, K1, Z1
	VCMPPS   $3, Z2, Z2, K1, K2
	KORW     K2, K3, K3

r512reduce:
	// Halve the 16 lanes four times: 8, 4, 2, 1.
	VEXTRACTF64X4 $1, Z0, Y2
	VEXTRACTF64X4 $1, Z1, Y3
	VMINPS   Y2, Y0, Y0
	VMAXPS   Y3, Y1, Y1
	VEXTRACTF128 $1, Y0, X2
	VEXTRACTF128 $1, Y1, X3
	VMINPS   X2, X0, X0
	VMAXPS   X3, X1, X1
	VPSHUFD  $0x4e, X0, X2
	VPSHUFD  $0x4e, X1, X3
	VMINPS   X2, X0, X0
	VMAXPS   X3, X1, X1
	VPSHUFD  $0xb1, X0, X2
	VPSHUFD  $0xb1, X1, X3
	VMINSS   X2, X0, X0
	VMAXSS   X3, X1, X1
	VMOVSS   X0, lo+16(FP)
	VMOVSS   X1, hi+20(FP)
	KORTESTW K3, K3
	SETNE    nan+24(FP)
	VZEROUPPER
	RET

// func rangeAVX2(x *float32, n int) (lo, hi float32, nan bool)
TEXT ·rangeAVX2(SB), NOSPLIT, $0-25
	// SI: x; CX: elements left (a positive multiple of 8); Y0: lane minima; Y1: lane maxima;
	// Y4: OR of the unordered (NaN) compare masks.
	MOVQ     x+0(FP), SI
	MOVQ     n+8(FP), CX
	VMOVUPS  (SI), Y0
	VMOVUPS  Y0, Y1
	VCMPPS   $3, Y0, Y0, Y4
	ADDQ     $32, SI
	SUBQ     $8, CX

r2loop:
	TESTQ    CX, CX
	JZ       r2reduce
	VMOVUPS  (SI), Y2
	VMINPS   Y2, Y0, Y0
	VMAXPS   Y2, Y1, Y1
	VCMPPS   $3, Y2, Y2, Y3
	VORPS    Y3, Y4, Y4
	ADDQ     $32, SI
	SUBQ     $8, CX
	JMP      r2loop

r2reduce:
	VEXTRACTF128 $1, Y0, X2
	VEXTRACTF128 $1, Y1, X3
	VMINPS   X2, X0, X0
	VMAXPS   X3, X1, X1
	VPSHUFD  $0x4e, X0, X2
	VPSHUFD  $0x4e, X1, X3
	VMINPS   X2, X0, X0
	VMAXPS   X3, X1, X1
	VPSHUFD  $0xb1, X0, X2
	VPSHUFD  $0xb1, X1, X3
	VMINSS   X2, X0, X0
	VMAXSS   X3, X1, X1
	VMOVSS   X0, lo+16(FP)
	VMOVSS   X1, hi+20(FP)
	VPTEST   Y4, Y4
	SETNE    nan+24(FP)
	VZEROUPPER
	RET

// func dequantizeAVX512(dst *float32, acc *int32, rows, cols, ld int, rowScale, wScale, bias *float32, flags int)
TEXT ·dequantizeAVX512(SB), NOSPLIT, $0-72
	// R8: dst row; R9: acc row; R10: rows left; R11: cols; R12: ld in bytes;
	// R13: rowScale[r]; R14: wScale; R15: bias; DX: flags.
	// Per row: Z30: rowScale[r] broadcast; Z29: rowScale[r]*wScale[0] (per tensor).
	// Z31: +0.
	MOVQ dst+0(FP), R8
	MOVQ acc+8(FP), R9
	MOVQ rows+16(FP), R10
	MOVQ cols+24(FP), R11
	MOVQ ld+32(FP), R12
	SHLQ $2, R12
	MOVQ rowScale+40(FP), R13
	MOVQ wScale+48(FP), R14
	MOVQ bias+56(FP), R15
	MOVQ flags+64(FP), DX
	VPXORD Z31, Z31, Z31

dq512row:
	VBROADCASTSS (R13), Z30
	VBROADCASTSS (R14), Z29
	VMULPS   Z29, Z30, Z29
	// BX: byte offset of the column block; CX: columns left in the row.
	XORQ     BX, BX
	MOVQ     R11, CX

dq512col:
	CMPQ     CX, $16
	JLT      dq512tail
	KXNORW   K1, K1, K1 // all 16 lanes

dq512block:
	// Z0 = float32(acc); Z1 = s (rowScale[r]*wScale[o], or Z29); Z0 = float32(Z0*Z1) +
	// bias: a VMULPS and a VADDPS, each rounded, never fused. Lanes outside K1 are neither
	// loaded nor stored.
	VMOVDQU32.Z (R9)(BX*1), K1, Z0
	VCVTDQ2PS Z0, Z0
	VMOVAPS  Z29, Z1
	TESTQ    $1, DX
	JZ       dq512scaled
	VMOVUPS.Z (R14)(BX*1), K1, Z1
	VMULPS   Z1, Z30, Z1

dq512scaled:
	VMULPS   Z1, Z0, Z0
	VMOVUPS.Z (R15)(BX*1), K1, Z2
	VADDPS   Z2, Z0, Z0
	TESTQ    $2, DX
	JZ       dq512store
	// ReLU as Go's max(v, 0): VMAXPS gives v when v is NaN (its second source) and when
	// 0 > v is false; adding +0 then turns -0 into +0 and leaves everything else.
	VMAXPS   Z0, Z31, Z0
	VADDPS   Z31, Z0, Z0

dq512store:
	VMOVUPS  Z0, K1, (R8)(BX*1)
	ADDQ     $64, BX
	SUBQ     $16, CX
	JG       dq512col
	JMP      dq512next

dq512tail:
	// 1..15 columns left: the same block under the mask of the first CX lanes.
	MASK16(K1)
	XORQ     CX, CX
	JMP      dq512block

dq512next:
	ADDQ     R12, R8
	ADDQ     R12, R9
	ADDQ     $4, R13
	DECQ     R10
	JNZ      dq512row
	VZEROUPPER
	RET

// func dequantizeAVX2(dst *float32, acc *int32, rows, cols, ld int, rowScale, wScale, bias *float32, flags int)
TEXT ·dequantizeAVX2(SB), NOSPLIT, $0-72
	// Registers as in dequantizeAVX512, with Y for Z; cols is a positive multiple of 8.
	MOVQ dst+0(FP), R8
	MOVQ acc+8(FP), R9
	MOVQ rows+16(FP), R10
	MOVQ cols+24(FP), R11
	MOVQ ld+32(FP), R12
	SHLQ $2, R12
	MOVQ rowScale+40(FP), R13
	MOVQ wScale+48(FP), R14
	MOVQ bias+56(FP), R15
	MOVQ flags+64(FP), DX
	VXORPS Y15, Y15, Y15

dq2row:
	VBROADCASTSS (R13), Y14
	VBROADCASTSS (R14), Y13
	VMULPS   Y13, Y14, Y13
	XORQ     BX, BX
	MOVQ     R11, CX

dq2col:
	VCVTDQ2PS (R9)(BX*1), Y0
	VMOVAPS  Y13, Y1
	TESTQ    $1, DX
	JZ       dq2scaled
	VMULPS   (R14)(BX*1), Y14, Y1

dq2scaled:
	VMULPS   Y1, Y0, Y0
	VADDPS   (R15)(BX*1), Y0, Y0
	TESTQ    $2, DX
	JZ       dq2store
	VMAXPS   Y0, Y15, Y0
	VADDPS   Y15, Y0, Y0

dq2store:
	VMOVUPS  Y0, (R8)(BX*1)
	ADDQ     $32, BX
	SUBQ     $8, CX
	JNZ      dq2col
	ADDQ     R12, R8
	ADDQ     R12, R9
	ADDQ     $4, R13
	DECQ     R10
	JNZ      dq2row
	VZEROUPPER
	RET

// func logitsAVX512(dst *float32, acc *int32, rows, cols, ld int, bias *int32, scale *float32, flags int)
TEXT ·logitsAVX512(SB), NOSPLIT, $0-64
	// R8: dst row; R9: acc row; R10: rows left; R11: cols; R12: ld in bytes; R14: scale;
	// R15: bias; DX: flags. Y29: scale[0] broadcast; Y31: +0.
	MOVQ dst+0(FP), R8
	MOVQ acc+8(FP), R9
	MOVQ rows+16(FP), R10
	MOVQ cols+24(FP), R11
	MOVQ ld+32(FP), R12
	SHLQ $2, R12
	MOVQ bias+40(FP), R15
	MOVQ scale+48(FP), R14
	MOVQ flags+56(FP), DX
	VBROADCASTSS (R14), Y29
	VPXORD Y31, Y31, Y31

lg512row:
	// BX: byte offset of the 8-column block; CX: columns left.
	XORQ     BX, BX
	MOVQ     R11, CX

lg512col:
	CMPQ     CX, $8
	JLT      lg512tail
	KXNORW   K1, K1, K1

lg512block:
	// Z0 = int64(acc) + int64(bias), 8 lanes; Y0 = float32 of it, rounded once, half to
	// even (VCVTQQ2PS, as Go's CVTSQ2SS); times the scale; ReLU as in dequantizeAVX512.
	VMOVDQU32.Z (R9)(BX*1), K1, Y0
	VMOVDQU32.Z (R15)(BX*1), K1, Y1
	VPMOVSXDQ Y0, Z0
	VPMOVSXDQ Y1, Z1
	VPADDQ   Z1, Z0, Z0
	VCVTQQ2PS Z0, Y0
	VMOVAPS  Y29, Y1
	TESTQ    $1, DX
	JZ       lg512scaled
	VMOVUPS.Z (R14)(BX*1), K1, Y1

lg512scaled:
	VMULPS   Y1, Y0, Y0
	TESTQ    $2, DX
	JZ       lg512store
	VMAXPS   Y0, Y31, Y0
	VADDPS   Y31, Y0, Y0

lg512store:
	VMOVUPS  Y0, K1, (R8)(BX*1)
	ADDQ     $32, BX
	SUBQ     $8, CX
	JG       lg512col
	JMP      lg512next

lg512tail:
	MASK16(K1)
	XORQ     CX, CX
	JMP      lg512block

lg512next:
	ADDQ     R12, R8
	ADDQ     R12, R9
	DECQ     R10
	JNZ      lg512row
	VZEROUPPER
	RET

// func logitsAVX2(dst *float32, acc *int32, rows, cols, ld int, bias *int32, scale *float32, flags int)
TEXT ·logitsAVX2(SB), NOSPLIT, $0-64
	// Registers as in logitsAVX512; cols is a positive multiple of 8. Without VCVTQQ2PS the
	// int64 sum is formed in float64, where it is exact (|sum| <= 2^32 < 2^53), and
	// VCVTPD2PS rounds it once to float32, half to even: the same single rounding.
	// Y15: +0; Y14: scale[0] broadcast.
	MOVQ dst+0(FP), R8
	MOVQ acc+8(FP), R9
	MOVQ rows+16(FP), R10
	MOVQ cols+24(FP), R11
	MOVQ ld+32(FP), R12
	SHLQ $2, R12
	MOVQ bias+40(FP), R15
	MOVQ scale+48(FP), R14
	MOVQ flags+56(FP), DX
	VBROADCASTSS (R14), Y14
	VXORPS   Y15, Y15, Y15

lg2row:
	XORQ     BX, BX
	MOVQ     R11, CX

lg2col:
	// Y0, Y1: float64 of acc, 4 + 4 lanes; Y2, Y3: of bias; X0, X1: the float32 sums.
	VCVTDQ2PD (R9)(BX*1), Y0
	VCVTDQ2PD 16(R9)(BX*1), Y1
	VCVTDQ2PD (R15)(BX*1), Y2
	VCVTDQ2PD 16(R15)(BX*1), Y3
	VADDPD   Y2, Y0, Y0
	VADDPD   Y3, Y1, Y1
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VINSERTF128 $1, X1, Y0, Y0
	VMOVAPS  Y14, Y1
	TESTQ    $1, DX
	JZ       lg2scaled
	VMOVUPS  (R14)(BX*1), Y1

lg2scaled:
	VMULPS   Y1, Y0, Y0
	TESTQ    $2, DX
	JZ       lg2store
	VMAXPS   Y0, Y15, Y0
	VADDPS   Y15, Y0, Y0

lg2store:
	VMOVUPS  Y0, (R8)(BX*1)
	ADDQ     $32, BX
	SUBQ     $8, CX
	JNZ      lg2col
	ADDQ     R12, R8
	ADDQ     R12, R9
	DECQ     R10
	JNZ      lg2row
	VZEROUPPER
	RET

// func requantizeAVX512(dst *uint8, acc *int32, rows, cols, ld int, tab *reqTable, c, lo, hi int64)
TEXT ·requantizeAVX512(SB), NOSPLIT, $0-72
	// R8: dst row; R9: acc row; R10: rows left; R11: cols; R12: ld (elements);
	// R13: tab. Z29: c = 1+2*zpOut; Z30: qmin; Z31: qmax (int64, broadcast).
	MOVQ dst+0(FP), R8
	MOVQ acc+8(FP), R9
	MOVQ rows+16(FP), R10
	MOVQ cols+24(FP), R11
	MOVQ ld+32(FP), R12
	MOVQ tab+40(FP), R13
	VPBROADCASTQ c+48(FP), Z29
	VPBROADCASTQ lo+56(FP), Z30
	VPBROADCASTQ hi+64(FP), Z31

rq512row:
	// BX: column; CX: columns left.
	XORQ     BX, BX
	MOVQ     R11, CX

rq512col:
	CMPQ     CX, $8
	JLT      rq512tail
	KXNORW   K1, K1, K1

rq512block:
	// 8 channels in int64 lanes (reqTable's offsets: mult 0, bm 2048, t 4096 bytes):
	// Z0 = acc*mult + bias*mult = x*mult; >> t; + c; >> 1 (floors: arithmetic shifts);
	// clamped to [qmin, qmax], so truncating to a byte is exact.
	VMOVDQU32.Z (R9)(BX*4), K1, Y0
	VPMOVSXDQ Y0, Z0
	VPMULDQ  (R13)(BX*8), Z0, Z0
	VPADDQ   2048(R13)(BX*8), Z0, Z0
	VPSRAVQ  4096(R13)(BX*8), Z0, Z0
	VPADDQ   Z29, Z0, Z0
	VPSRAQ   $1, Z0, Z0
	VPMAXSQ  Z30, Z0, Z0
	VPMINSQ  Z31, Z0, Z0
	VPMOVQB  Z0, K1, (R8)(BX*1)
	ADDQ     $8, BX
	SUBQ     $8, CX
	JG       rq512col
	JMP      rq512next

rq512tail:
	MASK16(K1)
	XORQ     CX, CX
	JMP      rq512block

rq512next:
	ADDQ     R12, R8
	LEAQ     (R9)(R12*4), R9
	DECQ     R10
	JNZ      rq512row
	VZEROUPPER
	RET
