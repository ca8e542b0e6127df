// Package qat prepares models for quantization-aware training: fake-quant nodes on every
// weight and layer input in the forward pass only, so gradients and updates stay float32.
// It favours one predictable recipe (PyTorch's eager QAT) over many knobs.
//
// # Workflow
//
// Prepare returns a new model (the float model is untouched); Model.Fit trains it (or
// Model.NewTrainer and Trainer.Run, with checkpoints); Model.Convert returns the runtime's
// integer model, with bits and scales from the model's quantizers; Model.Simulation returns
// the same fake-quant model as the runtime's float model. Example_fit does all of it on the
// tiny model shipped in the repository's testdata/tiny: prepare W4A4, fit two epochs,
// convert, evaluate.
//
// Prepare copies the model and installs hooks (nn.Hook) that wrap each weight and each layer
// input in autograd.FakeQuant. The quantizers (autograd.Quantizer) live in the Model and are
// shared by the training and evaluation graphs: ranges observed while training are the ones
// evaluation and conversion use. The model owns its training lifecycle: NewTrainer wires the
// observers (on in training steps, off in evaluation, blind to a padded batch's padding rows,
// frozen on schedule) and LSQ's solver, so none of it can be forgotten; a prepared model's
// observers are off until its trainer switches them on. Convert goes through ptq.Convert, the
// one convert path, with every bit width, scale and range from the model's own quantizers.
// Save and Load write QAT files (the runtime runs them as their simulation); SaveCheckpoint,
// LoadCheckpoint and Checkpoints continue training exactly.
//
// # Defaults
//
//   - Weights: symmetric, per output channel, range of the current weight at each step.
//   - Activations: affine unsigned per-tensor (post-ReLU values are >= 0, so the zero point is
//     0 and no level is wasted on negatives), moving-average min/max (momentum 0.01).
//   - Observers update while training and are off while evaluating; FreezeObserversAfter
//     freezes them for the remaining epochs.
//   - BatchNorm: folded into its layer at Prepare with its running statistics
//     (Config.FreezeBNAfter 0), or with FreezeBNAfter N trained in PyTorch's ConvBn form
//     (the folded weight fake-quantized; batch statistics updating the running ones for N
//     epochs, then frozen) and folded by Model.FoldBatchNorm after training: Fit and Run
//     call it; after Trainer.Run, call it before Convert, Simulation or Save.
//   - LearnScales: LSQ, scales initialised from the first batch (LSQInit: its range, or the
//     LSQ paper's 2·mean|x|/sqrt(Qp) with InitMeanAbs, the better start at 2 and 3 bits), then
//     learned by Adam with their own learning rate and clamped to quant.MinScale; the observer
//     of a learned scale is used once.
package qat
