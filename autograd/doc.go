// Package autograd holds tinyq's differentiable gorgonia ops: a fused Linear, ReLU, softmax
// cross-entropy, and the fake-quant ops of quantization-aware training. It favours ops that
// own their buffers and allocate nothing per step over generality (float32 only).
//
// # Ops
//
// Each op is a gorgonia.Op with its backward pass as another op, applied by SymDiff, side by
// side in one file (FakeQuant's second backward, the LSQ scale gradient, has its own).
// Every op hashes its own name, so gorgonia never merges two sites that only look alike
// (two fake-quant sites with the same spec keep their own scales).
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
// rows on two goroutines (each half through quant.FakeQuantize, so the result is identical);
// and when the observer implements quant.RangeState (the min/max observers), whose
// parameters depend only on each tensor's per-channel range, the op computes that range
// itself with quant.RangeOf and shows the observer only the minima and maxima.
//
// FakeQuantBias rounds a bias to the int32 grid of the integer runtime with
// quant.FakeQuantizeBias, the float image of the converter's quant.QuantizeBias.
//
// # Files
//
// quantizer.go holds the Quantizer and how the forward pass observes; fakequant.go the
// fake-quant forward op and its clipped straight-through backward side by side; lsq.go the
// LSQ scale gradient; biasquant.go the bias rounding; parallel.go the two-goroutine split.
//
// # Invariants
//
//   - Inputs are never modified; outputs live in buffers owned by the op, rewritten in full
//     by every run and valid until the next run of the same program.
//   - Fake-quant forward: bit for bit quant.FakeQuantize. Backward: bit for bit dy masked by
//     quant.InRange. Tests check both exactly, not with tolerances.
//   - A Quantizer and the ops using it are not safe for concurrent use; separate graphs of
//     separate models may run in parallel.
package autograd
