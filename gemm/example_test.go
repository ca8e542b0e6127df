package gemm_test

import (
	"fmt"

	"tinyq/gemm"
)

// A layer's forward pass the way tinyq computes it: the bias copied into every row of the
// output, then y = 1·x·w + 1·y.
func ExampleSgemm() {
	x := []float32{ // [2, 3]
		1, 2, 3,
		0, 1, 0,
	}
	w := []float32{ // [3, 2]
		1, -1,
		0.5, 2,
		0, 1,
	}
	b := []float32{0.25, 0}
	y := make([]float32, 2*2) // [2, 2]
	copy(y[0:2], b)
	copy(y[2:4], b)
	gemm.Sgemm(false, false, 2, 2, 3, 1, x, 3, w, 2, 1, y, 2)
	fmt.Println(y)
	// Output: [2.25 6 0.75 2]
}

// The same layer with ReLU in one call: Affine starts every row at the bias and applies
// max(y, 0) inside the kernels, with the same result as the copy, Sgemm and a ReLU pass.
func ExampleAffine() {
	x := []float32{ // [2, 3]
		1, 2, 3,
		0, -1, 0,
	}
	w := []float32{ // [3, 2]
		1, -1,
		0.5, 2,
		0, 1,
	}
	b := []float32{0.25, 0}
	y := make([]float32, 2*2) // [2, 2]
	gemm.Affine(2, 2, 3, x, 3, w, 2, b, true, y, 2)
	fmt.Println(y)
	// Output: [2.25 6 0 0]
}

// ActivePath names the float path Sgemm runs on (TINYQ_KERNEL's choice or the fastest this
// CPU supports); qkernel.ActivePath names the integer one. Both print as TINYQ_KERNEL spells
// them, e.g. "avx512" (fmt.Println(p) prints it).
func ExampleActivePath() {
	p := gemm.ActivePath()
	known := p == gemm.Generic || p == gemm.AVX2 || p == gemm.AVX512
	fmt.Println("a known float path:", known)
	// Output:
	// a known float path: true
}
