// Package moduletest tests tinyq as another Go module uses it: TestModuleBuild builds a
// throwaway module that requires tinyq through a replace directive (the README's recipe, "Use
// tinyq from your module") and runs it on the committed model testdata/tiny/fp32.safetensors.
// TestTinyData checks that model and its synthetic data set, which the packages' Examples
// use, and regenerates them with TINYQ_UPDATE_TINY=1.
//
// # The tiny data set
//
// testdata/tiny holds 8x8 grey images of four classes (0: a horizontal bar, 1: a vertical
// bar, 2: a falling diagonal, 3: a rising diagonal) on a noisy background, as raw bytes
// (train-images.u8 and test-images.u8: 64 bytes an image, row-major; train-labels.u8 and
// test-labels.u8: one byte an image), drawn from a fixed-seed PCG so that they are the same
// everywhere, and fp32.safetensors, a 64-16-4 MLP trained on them (a float model file with
// input 8x8, pixel/255).
package moduletest
