//go:build amd64 && gc && !purego

package patch

import "tinyq/internal/kernel"

// maxArgAsm is whether maxArg runs the AVX2 loop (pooltrain_amd64.s): when the float path
// chosen by tinyq/internal/kernel (TINYQ_KERNEL) is not generic, so AVX2 is there.
var maxArgAsm = floatAsm()

func floatAsm() bool {
	c, _ := kernel.Selected()
	return c.Float == "avx2" || c.Float == "avx512"
}

// maxArg is maxArgGo, 8 values at a time with AVX2 where enabled.
func maxArg(out []float32, arg []int32, in []float32, off int32) {
	n := 0
	if maxArgAsm {
		n = len(out) &^ 7
	}
	if n > 0 {
		_, _ = arg[n-1], in[n-1]
		maxArgAVX2(&out[0], &arg[0], &in[0], off, n)
	}
	maxArgGo(out[n:], arg[n:], in[n:], off+int32(n))
}

// maxArgAVX2 is maxArgGo on n (a multiple of 8) values.
//
//go:noescape
func maxArgAVX2(out *float32, arg *int32, in *float32, off int32, n int)

// maxArgAsmEnabled sets whether the AVX2 loop runs (if the CPU has AVX2) and returns the
// previous setting; for tests.
func maxArgAsmEnabled(on bool) bool {
	old := maxArgAsm
	maxArgAsm = on && kernel.Host().Has(kernel.Float, "avx2")
	return old
}
