package gemm

import "fmt"

// AffineNarrow is Affine for the narrow products of a convolution with few output channels
// (the CNN's first convolution: out = 16, PatchLen = 25): equal bit for bit to
// Affine(m, n, k, a, lda, b, ldb, bias, relu, c, ldc) on every path. When n is 16, relu is
// off, ldb is 16 and the AVX-512 path is active, it computes each group of 8 rows on the
// calling goroutine with one zmm accumulator per row (16 columns), starting from the bias
// and adding the terms in order of p with fused multiply-adds (B's row and each A value
// broadcast from memory), as Affine's dense tile kernel does; the other rows, and other
// calls, go to Affine. Affine's 8×32 tiles would leave half of each tile empty and take
// their edge path (a copy of every tile) for n = 16.
func AffineNarrow(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, relu bool, c []float32, ldc int) {
	if err := check(false, false, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err)
	}
	if len(bias) < n {
		panic(fmt.Errorf("gemm: len(bias)=%d for %d columns", len(bias), n))
	}
	done := 0
	if n == 16 && ldb == 16 && !relu && k > 0 && m >= narrowRows && ActivePath() == AVX512 {
		done = m / narrowRows * narrowRows
		affine16(done, k, a, lda, b, bias, c, ldc)
	}
	if done < m {
		Affine(m-done, n, k, a[done*lda:], lda, b, ldb, bias, relu, c[done*ldc:], ldc)
	}
}

// narrowRows is the rows AffineNarrow's kernel computes at a time: 8 accumulators, as many
// fused multiply-adds in flight as two FMA units of latency 4 need.
const narrowRows = 8
