//go:build amd64 && gc && !purego

#include "textflag.h"

// func poolF32AVX2(out, in unsafe.Pointer, c, kw, kh, row, step, n int)
//
// For each of n output pixels p and each group of 8 channels: acc = the window's tap
// (0, 0), then for every tap (ky, kx) in order, acc = v if v > acc or (v is NaN and acc
// is not), else acc; stored at out + p·c floats. Taps are at in + p·step + ky·row bytes
// + kx·c floats. c is a multiple of 8.
TEXT ·poolF32AVX2(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ c+16(FP), CX
	MOVQ kw+24(FP), R11
	MOVQ kh+32(FP), R12
	MOVQ row+40(FP), R8
	MOVQ step+48(FP), R9
	MOVQ n+56(FP), R10
	SHLQ $2, CX // bytes of one pixel's channels
	TESTQ R10, R10
	JZ f32done

f32pixel:
	XORQ DX, DX

f32chan:
	LEAQ (SI)(DX*1), AX
	VMOVUPS (AX), Y0
	MOVQ R12, R13

f32row:
	MOVQ AX, BX
	MOVQ R11, R14

f32tap:
	VMOVUPS (BX), Y1
	VMAXPS Y0, Y1, Y2     // v > acc ? v : acc (acc on ties and on any NaN)
	VCMPPS $3, Y1, Y1, Y3 // v is NaN
	VCMPPS $3, Y0, Y0, Y4 // acc is NaN
	VANDNPS Y3, Y4, Y3    // v is NaN and acc is not
	VBLENDVPS Y3, Y1, Y2, Y0
	ADDQ CX, BX
	DECQ R14
	JNZ f32tap
	ADDQ R8, AX
	DECQ R13
	JNZ f32row

	VMOVUPS Y0, (DI)(DX*1)
	ADDQ $32, DX
	CMPQ DX, CX
	JB f32chan

	ADDQ CX, DI
	ADDQ R9, SI
	DECQ R10
	JNZ f32pixel

f32done:
	VZEROUPPER
	RET

// ZPOOLTAP: acc = Z0. Takes the tap at addr into acc with MaxPool's rule (Z1, K1, K2
// clobbered).
#define ZPOOLTAP(addr) \
	VMOVUPS addr, Z1; \
	VCMPPS $6, Z0, Z1, K1; \
	VCMPPS $7, Z0, Z0, K2; \
	KANDW K1, K2, K1; \
	VMOVAPS Z1, K1, Z0

// func poolF32AVX512(out, in unsafe.Pointer, c, kw, kh, row, step, n int)
//
// poolF32AVX2 with 16 channels at a time (c is a multiple of 16): for every tap v,
// acc = v where !(v <= acc) (v > acc, or either is NaN) and acc is not NaN, that is where
// v > acc or (v is NaN and acc is not).
TEXT ·poolF32AVX512(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ c+16(FP), CX
	MOVQ kw+24(FP), R11
	MOVQ kh+32(FP), R12
	MOVQ row+40(FP), R8
	MOVQ step+48(FP), R9
	MOVQ n+56(FP), R10
	SHLQ $2, CX // bytes of one pixel's channels
	TESTQ R10, R10
	JZ z32done
	CMPQ R11, $2
	JNE  z32pixel
	CMPQ R12, $2
	JEQ  z32pixel2

z32pixel:
	XORQ DX, DX

z32chan:
	LEAQ (SI)(DX*1), AX
	VMOVUPS (AX), Z0
	MOVQ R12, R13

z32row:
	MOVQ AX, BX
	MOVQ R11, R14

z32tap:
	VMOVUPS (BX), Z1
	VCMPPS $6, Z0, Z1, K1 // !(v <= acc): v > acc or either is NaN
	VCMPPS $7, Z0, Z0, K2 // acc is not NaN
	KANDW K1, K2, K1
	VMOVAPS Z1, K1, Z0
	ADDQ CX, BX
	DECQ R14
	JNZ z32tap
	ADDQ R8, AX
	DECQ R13
	JNZ z32row

	VMOVUPS Z0, (DI)(DX*1)
	ADDQ $64, DX
	CMPQ DX, CX
	JB z32chan

	ADDQ CX, DI
	ADDQ R9, SI
	DECQ R10
	JNZ z32pixel

z32done:
	VZEROUPPER
	RET

	// 2×2 windows: the taps (0, 0), (0, 1), (1, 0), (1, 1) without loops (the first tap
	// starts acc; comparing it with itself changes nothing, so it is not repeated).
z32pixel2:
	XORQ DX, DX

z32chan2:
	LEAQ (SI)(DX*1), AX
	VMOVUPS (AX), Z0
	ZPOOLTAP((AX)(CX*1))
	ADDQ R8, AX
	ZPOOLTAP((AX))
	ZPOOLTAP((AX)(CX*1))
	VMOVUPS Z0, (DI)(DX*1)
	ADDQ $64, DX
	CMPQ DX, CX
	JB z32chan2

	ADDQ CX, DI
	ADDQ R9, SI
	DECQ R10
	JNZ z32pixel2
	VZEROUPPER
	RET

// func poolU8AVX(out, in unsafe.Pointer, c, kw, kh, row, step, n int)
//
// poolF32AVX2 for bytes: the unsigned maximum of every tap, 16 channels at a time (c is a
// multiple of 16).
TEXT ·poolU8AVX(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ c+16(FP), CX
	MOVQ kw+24(FP), R11
	MOVQ kh+32(FP), R12
	MOVQ row+40(FP), R8
	MOVQ step+48(FP), R9
	MOVQ n+56(FP), R10
	TESTQ R10, R10
	JZ u8done

u8pixel:
	XORQ DX, DX

u8chan:
	LEAQ (SI)(DX*1), AX
	VMOVDQU (AX), X0
	MOVQ R12, R13

u8row:
	MOVQ AX, BX
	MOVQ R11, R14

u8tap:
	VPMAXUB (BX), X0, X0
	ADDQ CX, BX
	DECQ R14
	JNZ u8tap
	ADDQ R8, AX
	DECQ R13
	JNZ u8row

	VMOVDQU X0, (DI)(DX*1)
	ADDQ $16, DX
	CMPQ DX, CX
	JB u8chan

	ADDQ CX, DI
	ADDQ R9, SI
	DECQ R10
	JNZ u8pixel

u8done:
	RET

// func copyRunsAVX(dst, src unsafe.Pointer, pixels, k, run, row, step int)
//
// For each of pixels windows p and each of its k rows ky: copies run bytes from
// src + p·step + ky·row to dst + (p·k + ky)·run, in 32-byte chunks (16-byte chunks for
// runs under 32, 8-byte ones under 16), the last chunk ending at the run's end
// (overlapping its predecessor): no byte outside a run is written, but for runs under 8
// bytes, where each run is one 8-byte load and store: up to 7 bytes past the run are read
// and written (the caller makes room).
TEXT ·copyRunsAVX(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ pixels+16(FP), R10
	MOVQ k+24(FP), R11
	MOVQ run+32(FP), CX
	MOVQ row+40(FP), R8
	MOVQ step+48(FP), R9
	TESTQ R10, R10
	JZ crdone
	CMPQ CX, $16
	JB crtiny
	CMPQ CX, $32
	JB crsmall
	LEAQ -32(CX), R12 // the last chunk's offset

crpixel:
	MOVQ SI, AX
	MOVQ R11, R13

crrow:
	XORQ DX, DX

crchunk:
	CMPQ DX, R12
	JAE crlast
	VMOVDQU (AX)(DX*1), Y0
	VMOVDQU Y0, (DI)(DX*1)
	ADDQ $32, DX
	JMP crchunk

crlast:
	VMOVDQU (AX)(R12*1), Y0
	VMOVDQU Y0, (DI)(R12*1)
	ADDQ CX, DI
	ADDQ R8, AX
	DECQ R13
	JNZ crrow
	ADDQ R9, SI
	DECQ R10
	JNZ crpixel
	VZEROUPPER
	RET

crsmall:
	LEAQ -16(CX), R12

crspixel:
	MOVQ SI, AX
	MOVQ R11, R13

crsrow:
	XORQ DX, DX

crschunk:
	CMPQ DX, R12
	JAE crslast
	VMOVDQU (AX)(DX*1), X0
	VMOVDQU X0, (DI)(DX*1)
	ADDQ $16, DX
	JMP crschunk

crslast:
	VMOVDQU (AX)(R12*1), X0
	VMOVDQU X0, (DI)(R12*1)
	ADDQ CX, DI
	ADDQ R8, AX
	DECQ R13
	JNZ crsrow
	ADDQ R9, SI
	DECQ R10
	JNZ crspixel

crdone:
	VZEROUPPER
	RET

	// Runs under 16 bytes: one 8-byte move for runs under 8 bytes (storing up to 7 bytes
	// past the run: the caller leaves room), else two 8-byte moves, the second ending at
	// the run's end.
crtiny:
	LEAQ -8(CX), R12
	CMPQ CX, $8
	JAE crtpixel
	XORQ R12, R12

crtpixel:
	MOVQ SI, AX
	MOVQ R11, R13

crtrow:
	MOVQ (AX), DX
	MOVQ DX, (DI)
	MOVQ (AX)(R12*1), DX
	MOVQ DX, (DI)(R12*1)
	ADDQ CX, DI
	ADDQ R8, AX
	DECQ R13
	JNZ crtrow
	ADDQ R9, SI
	DECQ R10
	JNZ crtpixel
	RET
