// Package qkernel holds the integer kernels of tinyq's runtime: int8 (or packed int4) by
// uint8 matrix products into int32, and requantization back to uint8. It favors speed in
// pure, portable Go over simplicity: weights are repacked for SWAR and zero inputs skipped.
//
// # Integers only at run time
//
// After post-training quantization a layer is integers plus a few constants computed offline
// (by the converter, with floats): weights W (int8 symmetric per output channel, or int4), an
// int32 bias at scale s_in*s_w, and per output channel a multiplier M = s_in*s_w/s_out
// written as a fixed-point mantissa and a power of two. At run time this package then uses
// only integer arithmetic (no float anywhere), as gemmlowp and TFLite do:
//
//	real value          r = s*(q - zp)
//	accumulator         acc[o] = sum_i (q_in[i] - zp_in) * W[o,i]          (Weights.Accumulate)
//	output              q_out[o] = zp_out + M*(acc[o] + bias[o])             (Requantize)
//	                    M = s_in*s_w[o]/s_out = mult[o] * 2^(shift[o]-31),  mult in [2^30, 2^31)
//	                    M*x = MultiplyByQuantizedMultiplier(x, mult[o], shift[o])
//	                    q_out clamped to [qmin, qmax]; a fused ReLU is qmin = zp_out
//
// The fixed-point primitives (SaturatingRoundingDoublingHighMul, RoundingDivideByPOT,
// MultiplyByQuantizedMultiplier) are bit-exact with gemmlowp's fixedpoint.h and TFLite's
// kernels/internal/common.h, including TFLite's double rounding.
//
// # Kernels
//
// Accumulate computes one sample at a time as an outer product over the nonzero inputs only:
// for each input i whose stored value a_i is not 0, acc[0:Out] += a_i * Wt[i][0:Out], with
// the weights stored transposed. MNIST pixels are ~81% zero and ReLU outputs ~50%, so this
// skips most of the work. Skipping is exact for any zero point: the zero point's share,
// -zp*sum_i W[o,i], is added afterwards from precomputed column sums.
//
// The rows Wt[i] are stored SWAR-packed ("SIMD within a register"): each uint64 holds 3
// lanes of 21 bits with w+128 (int8) or 4 lanes of 16 bits with w+8 (int4), so a single
// 64-bit multiply-add performs 3 or 4 multiply-accumulates. A lane holds at most
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
//     extreme values).
//   - Bad lengths and shapes are errors starting with "qkernel: ", not panics. (Only the
//     primitive RoundingDivideByPOT and the debugging accessor Weights.At panic, on
//     out-of-range arguments.)
//
// # Cost
//
// Int8 weights use 8*ceil(Out/3) bytes per input at run time, 2.7 times their Bytes(). Int4
// weights keep only the packed nibbles (Bytes() = (Out*In+1)/2) and are unpacked into a
// pooled scratch buffer of 8*ceil(Out/4)*In bytes on every Accumulate call, which costs
// little at large batch sizes.
package qkernel
