//go:build amd64 && gc && !purego

package patch

import "tinyq/internal/kernel"

// vecAsm is whether maxArg and addTo run the AVX2 loops (pooltrain_amd64.s): when the float path
// chosen by tinyq/internal/kernel (TINYQ_KERNEL) is not generic, so AVX2 is there.
var vecAsm = floatAsm()

func floatAsm() bool {
	c, _ := kernel.Selected()
	return c.Float == "avx2" || c.Float == "avx512"
}

// maxArg is maxArgGo, 8 values at a time with AVX2 where enabled.
func maxArg(out []float32, arg []int32, in []float32, off int32) {
	n := 0
	if vecAsm {
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

// vecAsmEnabled sets whether the AVX2 loops run (if the CPU has AVX2) and returns the
// previous setting; for tests.
func vecAsmEnabled(on bool) bool {
	old := vecAsm
	vecAsm = on && kernel.Host().Has(kernel.Float, "avx2")
	return old
}

// addTo is addGo, 8 values at a time with AVX2 where enabled (vecAsm).
func addTo(dst, src []float32) {
	n := 0
	if vecAsm {
		n = len(src) &^ 7
	}
	if n > 0 {
		_ = dst[n-1]
		addAVX2(&dst[0], &src[0], n)
	}
	addGo(dst[n:], src[n:])
}

// addAVX2 is addGo on n (a multiple of 8) values.
//
//go:noescape
func addAVX2(dst, src *float32, n int)
