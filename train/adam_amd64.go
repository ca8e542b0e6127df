//go:build amd64 && gc && !purego

package train

import "tinyq/internal/kernel"

// adamAsm is whether adamStep runs the AVX-512 loop (adam_amd64.s) on 16 parameters at a time:
// when the float path (tinyq/gemm's, chosen by tinyq/internal/kernel) is avx512.
var adamAsm = kernel.FloatAVX512()

// adamStep applies adamGo's update to every j, with AVX-512 when adamAsm is set: the same
// float32 operations in the same order, so the same results bit for bit.
func adamStep(p, g, m, v []float32, alpha, eps float32) {
	n := len(g)
	if adamAsm && n >= 16 {
		k := n &^ 15
		adamAVX512(&p[0], &g[0], &m[0], &v[0], k, alpha, eps)
		p, g, m, v = p[k:], g[k:], m[k:], v[k:]
	}
	adamGo(p, g, m, v, alpha, eps)
}

// adamAVX512 is adamGo for n, a multiple of 16, parameters.
//
//go:noescape
func adamAVX512(p, grad, m, v *float32, n int, alpha, eps float32)
