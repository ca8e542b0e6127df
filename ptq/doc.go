// Package ptq converts trained float models to integers and runs them: post-training
// quantization, and the one convert path that QAT models take too. It favours exact,
// testable integer arithmetic over the last bit of speed.
//
// # Workflow
//
//	ranges, _ := ptq.Calibrate(model, trainImages[:1024*784], cfg.Activation, cfg.Observer) // Static only
//	im, _ := ptq.Convert(model, ptq.Spec(ptq.Static, 8, 8), ptq.Plan{Inputs: ranges})
//	im.Forward(x, rows, logits)
//
// A QAT model converts with the scales it observed or learned: pass them as Plan.Inputs and
// Plan.Weights (see cmd/mnist). Float16 makes the FP16 variant.
//
// # Arithmetic (Static mode)
//
// real = scale·(q - zero_point). Weights are symmetric (zero point 0) per output channel, int8
// or int4 (packed two per byte); layer inputs are uint8 with an affine scale and zero point.
// For a layer with input scale s_in, weight scales s_w[o] and output scale s_out:
//
//	acc[o]  = Σ_i (q_in[i] - zp_in)·q_w[o,i]                      (int32, qkernel)
//	q_out[o] = clamp(zp_out + round(M[o]·(acc[o] + bias[o])), lo, hi)
//	M[o]    = s_in·s_w[o]/s_out = mult[o]·2^(shift[o]-31),  bias[o] = round(b[o]/(s_in·s_w[o]))
//
// with one rounding (qkernel.MultiplyBySingleRounding) and lo = zp_out for a fused ReLU. The
// last layer's logits are float32(acc + bias)·s_in·s_w[o]. Only the input quantization and
// these logits touch floats at run time; conversion (floats allowed) is kept apart from the
// runtime (integers only).
//
// # Dynamic mode
//
// Weights as above; each input row is quantized to uint8 with its own range at run time, and
// each layer's output is dequantized to float32 (with a float bias) before the next layer.
//
// # Invariants
//
// Calibrate and Convert never modify the model. A Model is immutable after NewModel and its
// Forward is safe for concurrent use.
package ptq
