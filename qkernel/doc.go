// Package qkernel holds the integer kernels of tinyq's runtime: int8 (or packed int4 or
// int2) weights by uint8 activations into int32 accumulators, quantization of the input,
// requantization back to uint8, and the float stages of dynamic mode. It favors speed over
// simplicity, but never exactness: every path gives the same bits.
//
// # Paths
//
// Each kernel has a Go assembly path per CPU feature and a pure-Go path, chosen once at start
// from the CPU features that tinyq/internal/kernel reads (Kernel reports which):
//
//   - avx512vnni: VPDPBUSD on 512-bit registers multiplies 4 unsigned activation bytes by 4
//     signed weights and adds them to an int32 lane, 64 multiply-adds an instruction. Weights
//     are packed once (on first use) into blocks of 64 output channels x 4 inputs; a micro-
//     kernel computes 6 rows x 64 channels in 24 accumulators (1 x 64 for single samples,
//     6 x 16 for layers of at most 16 outputs). Groups of 4 inputs that are zero in all 6
//     rows are skipped (about half of them on MNIST images, none in dense hidden layers);
//     the zero point's share is subtracted afterwards from column sums.
//   - avxvnni: VPDPBUSD on 256-bit registers, VEX-encoded (CPUs with AVX-VNNI but without
//     AVX-512), 6 rows x 16 channels; element-wise stages use the AVX2 code.
//   - avx2: VPMADDWD on operands widened to int16 (VPMADDUBSW's int16 pair sums could
//     saturate at 8-bit weights), 6 rows x 16 channels.
//   - generic: the SWAR kernel below, and scalar element-wise code; the build tag purego
//     forces it everywhere, and it is what every other CPU and architecture runs.
//
// The environment variable TINYQ_KERNEL picks a supported path at start, for tests and
// benchmarks: an integer path's name (generic, avx2, avxvnni, avx512vnni) or a float path's
// name of tinyq/gemm (generic, avx2, avx512), each choosing the other family's path of the
// same register width (avx512 runs avx512vnni here; see RequestError). RequestError reports
// a setting that could not be honoured, for either family, and the commands refuse to run
// with one. QuantizeInput, Requantize, RowRange, Dequantize and
// Logits are vectorized the same way; the tests run every supported path against the
// naive references (AccumulateRef, the quant package's scalar rules), bit for bit.
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
// lowest bits first), and NewWeightsPacked dispatches on a quant.Packing. Each path repacks
// them once, on its first use, into its run-time layout (int2 values go into the int4 one
// on the generic path).
//
// # The generic kernel
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
// end by subtracting 128*sum_i a_i (or 8*sum). Batch rows are spread over
// tinyq/internal/par's worker pool.
// AccumulateRef is the naive triple loop that Accumulate is tested against, bit for bit.
//
// # Convolution
//
// Weights.Conv is a convolution over NHWC uint8 images: the patches of whole images laid out
// as rows (im2col, tinyq/internal/patch, with the input's zero point as the padding, the
// integer that represents 0.0), then Accumulate over them with weights [Out, KH, KW, C]. On
// the AVX-512 VNNI path, layers of at most 48 outputs skip the patch matrix: each window is
// read in place from a padded copy of the images (the same integer sums), and one sample's
// work is split over tinyq/internal/par's workers where it pays, unless splits have been
// stalling (another program busy on the cores). A max pooling after a convolution is exact
// on the requantized uint8 values (requantization is monotonic, so the maximum of the
// quantized values is the quantized maximum); MaxPoolAcc takes it on the int32
// accumulators before the requantization, the same bytes for a quarter of the work after
// a 2x2 pooling. Requantizer is Requantize with its constants checked and laid out once.
//
// # Invariants
//
//   - Inputs are never modified; outputs go to a dst argument. Weights are immutable after
//     construction (but for their lazily built layouts and a hint of whether splitting pays)
//     and safe for concurrent use.
//   - Accumulate equals AccumulateRef bit for bit, for any shape, zero point and worker
//     count; both wrap in int32 arithmetic on overflow (which needs In of about 66000 with
//     extreme values). Results never depend on the number of goroutines.
//   - Requantize applies quant.MultiplyByQuantizedMultiplier's rule bit for bit.
//   - Bad lengths and shapes are errors starting with "qkernel: ", not panics. (Only the
//     debugging accessor Weights.At panics, on out-of-range indices.)
//
// # Cost
//
// Every path builds its own weight layout once, on first use, from the stored weights (int8,
// or int4 and int2 packed bytes, which are kept): the generic path SWAR words (8*ceil(Out/3)
// bytes per input for int8, 8*ceil(Out/4) for int4 and int2), the SIMD paths int8
// (avx512vnni, avxvnni) or int16 (avx2) blocks padded to whole blocks. Resident weights are
// then about 1 to 3 bytes per weight whatever the stored width (ResidentBytes counts them),
// which is what makes int4 and int2 as fast as int8, at batch 1 too.
package qkernel
