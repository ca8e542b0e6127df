// Shared by the six-row micro-kernels, whose first arguments are (a, lda, w, ...): R8..R13
// point at the six rows of a (stride lda bytes), DI at the weight block; AX is clobbered.
#define SIX_ROWS_ARGS \
	MOVQ a+0(FP), R8;       \
	MOVQ lda+8(FP), AX;     \
	LEAQ (R8)(AX*1), R9;    \
	LEAQ (R9)(AX*1), R10;   \
	LEAQ (R10)(AX*1), R11;  \
	LEAQ (R11)(AX*1), R12;  \
	LEAQ (R12)(AX*1), R13;  \
	MOVQ w+16(FP), DI

// ZERO_6x2_YMM clears the ymm six-row kernels' accumulators Y0..Y11 (row r in Y(2r), Y(2r+1)).
#define ZERO_6x2_YMM \
	VPXOR Y0, Y0, Y0;    \
	VPXOR Y1, Y1, Y1;    \
	VPXOR Y2, Y2, Y2;    \
	VPXOR Y3, Y3, Y3;    \
	VPXOR Y4, Y4, Y4;    \
	VPXOR Y5, Y5, Y5;    \
	VPXOR Y6, Y6, Y6;    \
	VPXOR Y7, Y7, Y7;    \
	VPXOR Y8, Y8, Y8;    \
	VPXOR Y9, Y9, Y9;    \
	VPXOR Y10, Y10, Y10; \
	VPXOR Y11, Y11, Y11

// STORE_6x2_YMM stores Y0..Y11 as six rows of 16 int32 to c (row stride ldc bytes), from the
// arguments c+40(FP) and ldc+48(FP); DI and AX are clobbered.
#define STORE_6x2_YMM \
	MOVQ    c+40(FP), DI;   \
	MOVQ    ldc+48(FP), AX; \
	VMOVDQU Y0, (DI);       \
	VMOVDQU Y1, 32(DI);     \
	ADDQ    AX, DI;         \
	VMOVDQU Y2, (DI);       \
	VMOVDQU Y3, 32(DI);     \
	ADDQ    AX, DI;         \
	VMOVDQU Y4, (DI);       \
	VMOVDQU Y5, 32(DI);     \
	ADDQ    AX, DI;         \
	VMOVDQU Y6, (DI);       \
	VMOVDQU Y7, 32(DI);     \
	ADDQ    AX, DI;         \
	VMOVDQU Y8, (DI);       \
	VMOVDQU Y9, 32(DI);     \
	ADDQ    AX, DI;         \
	VMOVDQU Y10, (DI);      \
	VMOVDQU Y11, 32(DI)
