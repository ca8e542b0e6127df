// Package autograd holds tinyq's differentiable gorgonia ops: a fused Linear, ReLU, softmax
// cross-entropy, the convolutional network's Conv2D, MaxPool and BatchNorm, and the
// fake-quant ops of quantization-aware training. It favours ops that
// own their buffers and allocate nothing per step over generality (float32 only).
//
// # Ops
//
// Each op is a gorgonia.Op with its backward pass as another op, applied by SymDiff, side by
// side in one file (FakeQuant's second backward, the LSQ scale gradient, has its own).
// Every op hashes its own name, so gorgonia never merges two sites that only look alike
// (two fake-quant sites with the same spec keep their own scales).
//
// # Convolutional layers
//
// Every node is a matrix [N, features]; an image's features are NHWC (H, W, C in that
// order, tinyq/arch), so flattening moves nothing and Linear applies to a convolution's
// output unchanged. Conv2D is im2col (tinyq/internal/patch) followed by gemm.Affine with the
// weights in training layout [KH·KW·C, Out], a few images at a time; its backward is
// dw = colsᵀ·dy, db = Σ dy, and dx = col2im(dy·wᵀ). MaxPool records where each maximum was
// and routes the gradient there (the first maximum of a window). BatchNorm follows PyTorch:
// batch statistics and a running-statistics update (momentum 0.1, the unbiased variance)
// in training, the running statistics in evaluation (BatchNormState). Reductions
// (BatchNorm's statistics and gradient sums, Conv2D's bias gradient and its weight
// gradient's groups of images) run over fixed blocks added in order, so no result depends
// on the number of goroutines.
//
// # Fake quantization
//
// FakeQuant(x, q) computes quant.FakeQuantize(x) with the parameters of a Quantizer, bit for
// bit, and its gradient is the clipped straight-through estimator: dy where quant.InRange(x),
// 0 elsewhere; with Quantizer.LSQ the scale also gets LSQ's gradient (Esser et al. 2019).
// A Quantizer is shared by every graph of a model: its observer updates the scales in the
// forward pass while Observe is on, and Disabled makes the site the identity.
//
// For speed the forward pass records the STE mask, which the backward pass applies instead
// of dividing again; tensors of 2^14 elements or more are processed in two halves of whole
// rows on two goroutines (tinyq/internal/par; the result does not depend on the split);
// and when the observer implements quant.RangeState (the min/max observers), whose
// parameters depend only on each tensor's per-channel range, the op computes that range
// itself with quant.RangeOf and shows the observer only the minima and maxima.
//
// FakeQuantBias rounds a bias to the int32 grid of the integer runtime with
// quant.FakeQuantizeBias, the float image of the converter's quant.QuantizeBias.
//
// The fake-quant forward and its mask run, where they can (per tensor, or per channel along
// the last axis, finite values), through fqfast.go: the same arithmetic as quant, 16 values
// at a time with AVX-512 (fqkernel_amd64.s; the purego build tag leaves the Go loop), tested
// bit for bit against quant.FakeQuantize and quant.InRange.
//
// # Matrix products
//
// Linear and its gradients call gorgonia.WhichBLAS().Sgemm. UseBLAS (called by tinyq/nn when
// it builds a graph; importing this package changes nothing) installs BLAS: gonum's pure-Go
// BLAS with Sgemm replaced by tinyq/gemm (blas.go), so every float32 product of a training
// program runs on gemm's assembly kernels, and a program may still choose another BLAS with
// gorgonia.Use after it. The runtime (tinyq/infer) calls gemm with the same
// arguments as Linear, so on the same gemm path the two agree bit for bit.
//
// # Files
//
// quantizer.go holds the Quantizer and how the forward pass observes; fakequant.go the
// fake-quant forward op and its clipped straight-through backward side by side; fqfast.go and
// fqkernel_*.{go,s} the fast forward; lsq.go the LSQ scale gradient; xent.go the softmax
// cross-entropy loss and distill.go the distillation loss; biasquant.go the bias rounding;
// conv.go Conv2D and its gradients; pool.go MaxPool; batchnorm.go BatchNorm and
// the fixed-block reductions; blas.go gorgonia's BLAS; parallel.go the two-part split (on
// tinyq/internal/par's warm workers).
//
// # Invariants
//
//   - Inputs are never modified; outputs live in buffers owned by the op, rewritten in full
//     by every run and valid until the next run of the same program. BatchNorm updates its
//     BatchNormState's running statistics (training mode only).
//   - The gradients of BatchNorm, MaxPool and Conv2D's weights use what their forward op
//     recorded when it last ran (the statistics and mode; where the maxima were; the patch
//     matrix), which in a program is the run they belong to. MaxPool's and Conv2D's
//     gradients compute theirs again if handed another x.
//   - Fake-quant forward: bit for bit quant.FakeQuantize. Backward: bit for bit dy masked by
//     quant.InRange. Tests check both exactly, not with tolerances.
//   - A Quantizer and the ops using it are not safe for concurrent use; separate graphs of
//     separate models may run in parallel.
package autograd
