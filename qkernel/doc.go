// Package qkernel holds the integer kernels of tinyq's runtime: int8 (or packed int4 or
// int2) weights by uint8 activations into int32 accumulators, and requantization back to
// uint8. It favors speed in pure, portable Go over simplicity: weights are repacked for
// SWAR and zero inputs are skipped.
//
// # Integers only at run time
//
// After post-training quantization a layer is integers plus a few constants computed offline
// by the converter, with floats, through package quant: weights W (symmetric per output
// channel, stored with the quant.Packing that quant.PackingFor gives their bit width), an
// int32 bias at scale s_in*s_w (quant.QuantizeBias), and per output channel a multiplier
// M = s_in*s_w/s_out written as a fixed-point mantissa and a power of two
// (quant.QuantizeMultiplier). At run time this package then uses only integer arithmetic:
//
//	real value          r = s*(q - zp)
//	accumulator         acc[o] = sum_i (q_in[i] - zp_in) * W[o,i]          (Weights.Accumulate)
//	output              q_out[o] = zp_out + M*(acc[o] + bias[o])             (Requantize)
//	                    M = s_in*s_w[o]/s_out = mult[o] * 2^(shift[o]-31),  mult in [2^30, 2^31)
//	                    M*x = quant.MultiplyByQuantizedMultiplier(x, mult[o], shift[o])
//	                    q_out clamped to [qmin, qmax]; a fused ReLU is qmin = zp_out
//
// M*x is rounded once, half up, from the exact product (TFLite's single-rounding variant),
// so that the integer model agrees with the float fake-quant simulation QAT trains against;
// gemmlowp's default double rounding is kept only as a test reference, which documents
// where the two differ. Requantize adds the bias in int64, so nothing wraps before the clamp.
//
// # Weights
//
// NewWeights takes int8 values; NewWeightsInt4 and NewWeightsInt2 take the packed bytes of
// quant.PackedInt4 (two per byte, low nibble first) and quant.PackedInt2 (four per byte,
// lowest bits first), and NewWeightsPacked dispatches on a quant.Packing. Int8 weights are
// repacked once into the run-time layout below; packed weights keep only their bytes and
// are unpacked into that layout (int2 values into the int4 one) on every Accumulate call.
//
// # Kernel
//
// Accumulate computes one sample at a time as an outer product over the nonzero inputs only:
// for each input i whose stored value a_i is not 0, acc[0:Out] += a_i * Wt[i][0:Out], with
// the weights stored transposed. MNIST pixels are ~81% zero and ReLU outputs ~50%, so this
// skips most of the work. Skipping is exact for any zero point: the zero point's share,
// -zp*sum_i W[o,i], is added afterwards from precomputed column sums.
//
// The rows Wt[i] are stored SWAR-packed ("SIMD within a register"): each uint64 holds 3
// lanes of 21 bits with w+128 (int8) or 4 lanes of 16 bits with w+8 (int4 and int2), so a
// single 64-bit multiply-add performs 3 or 4 multiply-accumulates. A lane holds at most
// (sum of the inputs added since it was emptied) * 255 (or 15), so the lanes are flushed
// into uint32 totals before that could reach 2^21 (or 2^16); the offsets are removed at the
// end by subtracting 128*sum_i a_i (or 8*sum). Batch rows are spread over goroutines.
// AccumulateRef is the naive triple loop that Accumulate is tested against, bit for bit.
//
// # Invariants
//
//   - Inputs are never modified; outputs go to a dst argument. Weights are immutable after
//     construction and safe for concurrent use.
//   - Accumulate equals AccumulateRef bit for bit, for any shape, zero point and worker
//     count; both wrap in int32 arithmetic on overflow (which needs In of about 66000 with
//     extreme values). Results never depend on the number of goroutines.
//   - Requantize applies quant.MultiplyByQuantizedMultiplier's rule bit for bit.
//   - Bad lengths and shapes are errors starting with "qkernel: ", not panics. (Only the
//     debugging accessor Weights.At panics, on out-of-range indices.)
//
// # Cost
//
// Int8 weights use 8*ceil(Out/3) bytes per input at run time, 2.7 times their Bytes(). Int4
// and int2 weights keep only their packed bytes (Bytes() = (Out*In+1)/2 or (Out*In+3)/4) and
// are unpacked into a pooled scratch buffer of 8*ceil(Out/4)*In bytes on every Accumulate
// call, which costs little at large batch sizes.
package qkernel
