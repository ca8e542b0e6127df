//go:build amd64 && gc && !purego

#include "textflag.h"

// func adamAVX512(p, grad, m, v *float32, n int, alpha, eps float32)
//
// adamGo on 16 lanes: every operation rounded to float32 in adamGo's order, no fused
// multiply-add; moments below adamTiny (|m|, v) set to 0 as adamGo does (an ordered
// less-than, so a NaN moment is kept, as Go's comparison keeps it).
TEXT ·adamAVX512(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), AX       // AX: &p[j]
	MOVQ grad+8(FP), BX    // BX: &grad[j]
	MOVQ m+16(FP), CX      // CX: &m[j]
	MOVQ v+24(FP), DX      // DX: &v[j]
	MOVQ n+32(FP), SI      // SI: parameters left (a multiple of 16)
	VBROADCASTSS alpha+40(FP), Z10  // Z10: alpha
	VBROADCASTSS eps+44(FP), Z15    // Z15: eps
	MOVL $0x3f666666, DI            // float32(0.9)
	VPBROADCASTD DI, Z11            // Z11: b1
	MOVL $0x3dcccccd, DI            // float32(0.1)
	VPBROADCASTD DI, Z12            // Z12: 1-b1
	MOVL $0x3f7fbe77, DI            // float32(0.999)
	VPBROADCASTD DI, Z13            // Z13: b2
	MOVL $0x3a83126f, DI            // float32(0.001)
	VPBROADCASTD DI, Z14            // Z14: 1-b2
	MOVL $0x7fffffff, DI
	VPBROADCASTD DI, Z8             // Z8: all bits but the sign
	MOVL $0x0d800000, DI            // float32(2^-100): adamTiny
	VPBROADCASTD DI, Z9             // Z9: adamTiny

loop:
	VMOVUPS (BX), Z0       // Z0: g
	VMULPS  (CX), Z11, Z1  // Z1: b1·m
	VMULPS  Z0, Z12, Z2    // Z2: (1-b1)·g
	VADDPS  Z2, Z1, Z1     // Z1: m' = b1·m + (1-b1)·g
	VPANDD  Z8, Z1, Z2     // Z2: |m'|
	VCMPPS  $0x11, Z9, Z2, K1 // K1: |m'| < adamTiny (LT, ordered, quiet)
	KNOTW   K1, K2
	VMOVAPS.Z Z1, K2, Z1   // Z1: m', 0 where tiny
	VMOVUPS Z1, (CX)
	VMULPS  (DX), Z13, Z3  // Z3: b2·v
	VMULPS  Z0, Z14, Z4    // Z4: (1-b2)·g
	VMULPS  Z0, Z4, Z4     // Z4: (1-b2)·g·g
	VADDPS  Z4, Z3, Z3     // Z3: v' = b2·v + (1-b2)·g·g
	VCMPPS  $0x11, Z9, Z3, K1 // K1: v' < adamTiny
	KNOTW   K1, K2
	VMOVAPS.Z Z3, K2, Z3   // Z3: v', 0 where tiny
	VMOVUPS Z3, (DX)
	VSQRTPS Z3, Z5         // Z5: sqrt(v')
	VADDPS  Z15, Z5, Z5    // Z5: sqrt(v') + eps
	VMULPS  Z1, Z10, Z6    // Z6: alpha·m'
	VDIVPS  Z5, Z6, Z6     // Z6: alpha·m' / (sqrt(v') + eps)
	VMOVUPS (AX), Z7
	VSUBPS  Z6, Z7, Z7     // Z7: p - step
	VMOVUPS Z7, (AX)
	ADDQ    $64, AX
	ADDQ    $64, BX
	ADDQ    $64, CX
	ADDQ    $64, DX
	SUBQ    $16, SI
	JNZ     loop
	VZEROUPPER
	RET
