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
