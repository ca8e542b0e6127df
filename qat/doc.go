// Package qat prepares models for quantization-aware training: fake-quant nodes on every
// weight and layer input in the forward pass only, so gradients and updates stay float32.
// It favours one predictable recipe (PyTorch's eager QAT) over many knobs.
//
// # Workflow
//
//	qm, err := qat.Prepare(fp32Model, qat.Spec(4, 4)) // a new model; fp32Model is untouched
//	hist, err := train.Fit(qm.MLP, trainSet, testSet, qm.TrainConfig(cfg))
//
// Prepare copies the model and installs hooks (nn.Hook) that wrap each weight and each layer
// input in autograd.FakeQuant. The quantizers (autograd.Quantizer) live in the Model and are
// shared by the training and evaluation graphs: ranges observed while training are the ones
// evaluation and conversion (package ptq) use.
//
// # Defaults
//
//   - Weights: symmetric, per output channel, range of the current weight at each step.
//   - Activations: affine unsigned per-tensor (post-ReLU values are >= 0, so the zero point is
//     0 and no level is wasted on negatives), moving-average min/max (momentum 0.01).
//   - Observers update while training and are off while evaluating; FreezeObserversAfter
//     freezes them for the remaining epochs.
//   - LearnScales: LSQ, scales initialised from the first batch's range, learned by Adam with
//     their own learning rate and clamped to quant.MinScale.
package qat
