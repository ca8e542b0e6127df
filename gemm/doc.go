// Package gemm is tinyq's float32 matrix product, C = alpha·op(A)·op(B) + beta·C (Sgemm, BLAS
// semantics, row-major), with Go assembly micro-kernels for AVX-512 and AVX2 (both with FMA)
// and a pure-Go path for every other CPU. It favours tinyq's shapes (batch 128 or 1,000 by
// 784-256-128-10, their transposes for the gradients, and batch 1) and exact reproducibility
// over generality: it has no blocking over k (fine up to k of a few thousand), and no
// kernel for complex or float64 matrices.
//
// Affine is a fully connected layer on the same kernels, C = A·B + bias, optionally with
// ReLU: the kernels start each element at its bias and apply max(c, 0) before storing, so the
// layer costs no pass over C beyond the product (the runtime's float model uses it).
//
// Conv is a convolution layer with the same arithmetic: on the AVX-512 path, for a multiple
// of 16 output channels, a direct convolution whose kernels read the images in place (a
// copy with padded columns) and compute tiles of output pixels; otherwise the patches of
// the images laid out as rows (im2col, tinyq/internal/patch) in chunks of whole images,
// then Affine.
//
// ConvGrad computes a convolution's two gradients from an output gradient that is mostly
// zeros (below a max pooling and ReLU): it lists dy's nonzero values (VCOMPRESSPS on
// AVX-512, a permutation per mask on AVX2) and adds only their terms, reading the images
// and adding to the input gradient in place (zero-padded copies), with no patch matrix and
// no col2im: assembly on the AVX-512 and AVX2 paths (a whole window's accumulators in
// registers where they fit), Go on the generic path.
//
// It imports only the standard library, tinyq/internal/kernel (which reads the CPU features
// and TINYQ_KERNEL), tinyq/internal/par (the worker pool), tinyq/arch and
// tinyq/internal/patch (the window geometry and im2col, for Conv): tinyq's runtime (infer)
// uses it, and gorgonia uses it through the adapter in tinyq/autograd.
//
// # Arithmetic
//
// Every path computes every element of C the same way, in a fixed order that depends on
// nothing but k:
//
//	c = beta·c                  (rounded; C is not read when beta = 0, and left as is when beta = 1)
//	for p = 0, 1, ..., k-1:
//	    c = c + (alpha·a[i,p])·b[p,j]     (alpha·a rounded first when alpha != 1)
//
// The generic path rounds each product and each sum to float32 (so for op(B) = B it is gonum's
// pure-Go Sgemm and the arithmetic of docs/FORMAT.md, bit for bit); the avx2 and avx512 paths
// fuse each multiply-add (one rounding). The paths therefore differ in the last bits; each is
// within the classic bound of recursive summation of the float64 result (see TestSgemm). A
// path's results do not depend on GOMAXPROCS or on how the work is split between goroutines,
// and, but for one exception, not on m, n, the other rows of A or where in C an element lies
// (tiles at the edges run the same kernel on padded copies). The exception: terms with
// a[i,p] = ±0 may be skipped, and whether they are depends on the call's shape and on A (the
// row kernel, for fewer rows than a tile or for an A whose sampled rows are at most 30%
// nonzero, such as MNIST's pixels, skips them one row at a time, when n is at least a row
// kernel's width; the list kernel, for op(A) = Aᵀ with mostly zero columns, skips a column
// that is zero in all the rows of a tile; Conv's direct convolution skips the terms that
// lie in the padding). Adding a zero term changes c only from -0 to +0, so a skip changes
// at most the sign of a zero result; and it hides a NaN or an infinity in B that would
// have been multiplied by zero, as gonum and the reference BLAS also do.
//
// As a consequence, tinyq's training graph and its runtime, which call Sgemm with the same
// arguments (bias rows in C, beta = 1), agree bit for bit on the same path.
//
// # Paths
//
// The path is chosen once at start: the fastest this CPU supports (ActivePath names it), or the
// one named by the environment variable TINYQ_KERNEL (generic, avx2, avx512; avxvnni and
// avx512vnni, names of tinyq/qkernel's integer paths, choose avx2 and avx512). A value that
// names no path, or a path this CPU or build does not support (float or integer: one
// variable picks both), leaves the fastest path and is reported by RequestError (and by
// qkernel.RequestError, which tinyq's commands check before running). The purego build tag
// leaves only the generic path. The variable is parsed in one place, tinyq/internal/kernel.
//
//   - avx512: tiles of 8×32 (16 zmm accumulators), B read in place or from a packed panel,
//     A read in place by rows or by columns; rows of 128 columns for fewer than 8 rows and
//     for sparse rows, over a list of the row's nonzero terms built with VCOMPRESSPS.
//     Conv's direct kernels: 7 pixels × 32 channels or 14 pixels × 16 (14 zmm); ConvGrad's
//     sparse kernels: up to 28 zmm accumulators over a list of rows (15 ymm on avx2).
//   - avx2: tiles of 6×16 (12 ymm accumulators); rows of 64 columns, for few or sparse rows
//     (the list built in Go: MNIST's first layer at batch 1,000 runs 1.5x faster than dense).
//   - generic: one row at a time, four columns at a time.
//
// # Parallelism
//
// Products of 2^18 multiply-adds or more are split into parts by rows or by panels of
// columns, run by tinyq/internal/par (the one worker pool of tinyq) on the calling goroutine and on worker goroutines that stay awake
// briefly between calls (a goroutine started per call wakes too late on a small virtual
// machine). Scratch space comes from a sync.Pool: at steady state Sgemm and Affine allocate
// nothing.
//
// # Invariants
//
//   - a, b and the bias are only read; only c is written, and only its m×n block.
//   - Bad sizes or short slices panic with an error starting "gemm:", as gonum's BLAS panics.
package gemm
