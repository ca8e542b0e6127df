package autograd

import (
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"

	"tinyq/gemm"
)

// UseBLAS installs BLAS as gorgonia's (and gorgonia/tensor's) BLAS, the first time it is
// called in a process, so that every float32 matrix product of the graphs built afterwards
// (Linear and its gradients, and any stock gorgonia Mul) runs on tinyq/gemm's assembly
// kernels instead of gonum's pure-Go Sgemm, about ten times slower on the benchmark machine.
// Whoever builds graphs calls it: tinyq/nn does when it builds a model's graph (MLP.Build); a
// program that builds graphs of autograd's ops by hand calls it before running them.
// Importing autograd changes nothing of gorgonia's. Later calls do nothing, so a program that
// chose another BLAS with gorgonia.Use after the first call keeps it.
//
// The runtime (tinyq/infer) calls tinyq/gemm directly with the same arguments as
// Linear, which makes a model's runtime evaluation equal to the training graph's bit for bit.
func UseBLAS() { useBLAS.Do(func() { G.Use(BLAS{}) }) }

// useBLAS makes UseBLAS install BLAS once.
var useBLAS sync.Once

// BLAS is gonum's pure-Go BLAS with Sgemm replaced by tinyq/gemm.Sgemm. It implements
// gorgonia.BLAS; every other routine is gonum's.
type BLAS struct {
	gonum.Implementation
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C (row-major) with tinyq/gemm. Transpose values
// other than NoTrans, Trans and ConjTrans (the same as Trans for real matrices) go to gonum,
// which panics with its message.
func (BLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !known(tA) || !known(tB) {
		gonum.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemm.Sgemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func known(t blas.Transpose) bool {
	return t == blas.NoTrans || t == blas.Trans || t == blas.ConjTrans
}
