// Package quant is the one definition of how a float32 becomes a small
// integer and back; it favors bit-exact agreement between quantization-aware
// training and post-training conversion over speed or generality.
//
// The fake-quant op used in training, the observers used in calibration and
// the converter that produces the integer model all call the functions here,
// so they cannot disagree on a single rounding.
//
// # Formulas
//
// A quantized tensor stores integers q and parameters (scale, zero_point):
//
//	real = scale * (q - zero_point)
//
// Quantization inverts that with round-half-to-even and a clamp (as PyTorch's
// fake_quantize and TFLite do):
//
//	q = clamp(roundHalfEven(x / scale) + zero_point, qmin, qmax)
//
// where x/scale is a float32 division (not x * (1/scale), which moves ties)
// and the rounding is math.RoundToEven of that float32 value. Dequantization
// is float32(q - zero_point) * scale, and fake quantization, used in the
// forward pass of QAT, is dequantize(quantize(x)) in float32.
//
// A Spec chooses the integer grid. Symmetric b-bit quantization is signed with
// zero_point 0 and q in [-(2^(b-1)-1), 2^(b-1)-1] (int8: ±127, int4: ±7):
//
//	scale = max(|min|, |max|) / qmax
//
// Affine b-bit quantization (for post-ReLU activations) is unsigned with q in
// [0, 2^b-1] (uint8: 0..255, uint4: 0..15). The range is widened to contain 0
// and the zero point is an integer, so 0.0 is exactly representable:
//
//	scale      = (max - min) / (qmax - qmin)
//	zero_point = clamp(qmin - roundHalfEven(min / scale), qmin, qmax)
//
// A zero range never divides by zero: the scale falls back to MinScale
// (float32 epsilon, as in PyTorch). Granularity is per-tensor (one scale) or
// per-channel along Spec.Axis (one scale per output feature of a weight).
//
// Observers (min/max, moving-average min/max, percentile, MSE-optimal) turn
// calibration data into a range (RangeOf, MinMax) and then into Params via
// ChooseParams.
//
// # Widths and model specs
//
// The quantization of a model is said once, here, for every package that trains, converts
// or runs one (qat, ptq, infer, the commands and the study). Widths are one layer's weight
// and activation bits; their name, "w4a8" (Widths.String), and their parser, "4/8" or "4"
// (ParseWidths; per layer "2/8+2/8+4/8", ParseLayerWidths), are written nowhere else, and
// CheckBits is the one check of the range MinBits..MaxBits. A LayerSpec is one layer's
// weight and input Spec (LayerSpecFor gives the usual one); a ModelSpec is a list of them:
// one entry for every layer (Uniform) or one per layer (WithWidths, mixed precision), the
// layers differing only in widths. ModelSpec.Validate checks it once; Layer(i) answers for
// each layer, so no caller overrides a model-wide width with a per-layer one.
//
// # Integer rules
//
// The integer runtime computes a layer's output from int32 accumulators
// acc = sum_i (q_in[i] - zp_in) * q_w[i] (TFLite's quantization spec):
//
//	bias      q_b[o] = roundHalfEven(b[o] / (s_in*s_w[o]))                 QuantizeBias
//	output    q_out  = zp_out + M*(acc + q_b),  M = s_in*s_w[o]/s_out
//	          M = mult * 2^(shift-31), mult in [2^30, 2^31)                 QuantizeMultiplier
//	          M*x = floor(x*mult / 2^(31-shift) + 1/2), one rounding       MultiplyByQuantizedMultiplier
//
// FakeQuantizeBias is the float image of QuantizeBias that QAT trains with.
// Each rule is written once, here, so that the fake-quant simulation, the
// converter and the runtime cannot disagree. Packing (from PackingFor) says
// how quantized weights are stored: one int8 per byte, two int4 or four int2.
//
// # Invariants
//
//   - Inputs are never modified; results go to a dst argument or a new value.
//     FakeQuantize allows dst and x to be the same slice.
//   - On error, dst is left unchanged and an observer's state is unchanged.
//   - NaN or ±Inf in a tensor to be quantized or observed is an error
//     (*NonFiniteError), never a silent garbage scale.
//   - Every scale produced is finite and >= MinScale; every zero point is in
//     [qmin, qmax]; Params.Validate checks both.
//   - The tensor functions equal the scalar ones (QuantizeValue,
//     DequantizeValue, FakeQuantizeValue) bit for bit, on every platform: no
//     step is open to fused multiply-add.
//   - For x in [(qmin-zp)*scale, (qmax-zp)*scale], |x - fakeQuantize(x)| <=
//     scale/2 up to float32 rounding of the division and the product.
//   - Observers are deterministic: the same batches give the same Params.
//     Nothing in this package uses global or time-seeded randomness.
package quant
