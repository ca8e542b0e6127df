// Package modelfile saves and loads tinyq's models as safetensors files, so that NumPy,
// PyTorch and the Hugging Face tools can read them; it favours a flat, documented layout over
// compactness.
//
// # Layout
//
// Every file's __metadata__ holds format_version (1), tinyq_version, kind ("float", "qat",
// "int", "checkpoint" or "qat-checkpoint"), architecture ({"sizes": [...], "activations": [...]}) and, when
// known, training (the run's configuration as JSON). Tensors, for layer i = 1, 2, ...:
//
//	float, qat, checkpoint: fc<i>.w F32 [in, out], fc<i>.b F32 [out]
//	qat:        fc<i>.w.scale F32 [C], fc<i>.w.zero_point I32 [C], fc<i>.in.scale F32 [1], fc<i>.in.zero_point I32 [1]
//	int:        fc<i>.w I8 [out, in], or U8 [ceil(out·in/2)] holding int4 pairs (low nibble first),
//	            or U8 [ceil(out·in/4)] holding four 2-bit values (lowest bits first) for <= 2 bits,
//	            fc<i>.w.scale F32 [C], fc<i>.w.zero_point I32 [C] (zeros: symmetric),
//	            static: fc<i>.b I32 [out] at scale s_in·s_w, fc<i>.in.scale F32 [1], fc<i>.in.zero_point I32 [1],
//	            fc<i>.in.qrange I32 [2]; dynamic: fc<i>.b F32 [out]
//	checkpoint: opt.m.<k>, opt.v.<k> F32 (Adam moments; k indexes w1, b1, w2, b2, ...), and
//	            train_state in the metadata (epochs done, steps, history)
//	qat-checkpoint: the qat tensors, the checkpoint tensors, <site>.obs.min/.obs.max F32 (observer
//	            ranges), and opt.extra.m/v.<k> (learned scales' Adam moments)
//
// The quantization metadata key holds the model's specs in tinyq's own convention (weights
// [in, out], so per-channel weights have axis 1); tensor_specs gives each stored quantized
// tensor's spec as stored (integer weights are [out, in]: axis 0), with logical_shape and
// packed for int4 weights. Writes are atomic (temp file, fsync,
// rename). Loading checks everything it reads (dtypes, shapes against the architecture, NaN
// and Inf, version) and returns an error naming the file and the problem; it never panics.
package modelfile
