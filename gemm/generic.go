package gemm

import "tinyq/internal/par"

// genericGemm is the pure-Go path: each row of C is scaled by beta, then gets the terms
// a[i,p]·op(B)[p,:] added in order of p, each product and sum rounded to float32 (no fused
// multiply-add), skipping a[i,p] = 0: gonum's pure-Go Sgemm for op(B) = B. Rows are spread
// over tinyq/internal/par's goroutines.
func genericGemm(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	s := newCall(tA, tB, m, n, k, a, lda, b, ldb, beta, c, ldc)
	var bt *[]float32
	if tB {
		// op(B) row-major [k, n], so that the inner loop reads it contiguously.
		bt = buffers.get(k * n)
		s.bt = *bt
		for j := 0; j < n; j++ {
			for p, v := range b[j*ldb : j*ldb+k] {
				s.bt[p*n+j] = v
			}
		}
	}
	s.parts = partsFor(m, n, k, m)
	par.Do(s.parts, s.work)
	if bt != nil {
		buffers.put(bt)
	}
	s.done()
}

// genericPart computes rows split(m, parts, i) of C.
func (s *call) genericPart(i int) {
	lo, hi := split(s.m, s.parts, i)
	n, k := s.n, s.k
	for r := lo; r < hi; r++ {
		acc := s.c[r*s.ldc : r*s.ldc+n]
		switch s.beta {
		case 0:
			clear(acc)
		case 1:
		default:
			for j, v := range acc {
				acc[j] = float32(s.beta * v)
			}
		}
		for p := 0; p < k; p++ {
			var av float32
			if s.tA {
				av = s.a[p*s.lda+r]
			} else {
				av = s.a[r*s.lda+p]
			}
			if av == 0 {
				continue
			}
			if s.tB {
				axpy(acc, s.bt[p*n:(p+1)*n], av)
			} else {
				axpy(acc, s.b[p*s.ldb:p*s.ldb+n], av)
			}
		}
	}
}

// axpy computes y[j] += float32(a·x[j]) in order of j, four at a time. The conversion rounds
// each product, so no build fuses it into a multiply-add.
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	j := 0
	for ; j+4 <= len(y); j += 4 {
		yy, xx := y[j:j+4:j+4], x[j:j+4:j+4]
		yy[0] += float32(a * xx[0])
		yy[1] += float32(a * xx[1])
		yy[2] += float32(a * xx[2])
		yy[3] += float32(a * xx[3])
	}
	for ; j < len(y); j++ {
		y[j] += float32(a * x[j])
	}
}
