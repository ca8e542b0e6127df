// Package train is tinyq's training loop: gorgonia's protocol (Let, RunAll, Step, Reset)
// written once, with in-place Adam and SGD, seeded shuffling and per-epoch evaluation. It
// favours determinism (same seed, same weights) over flexibility.
//
// # Protocol
//
// NewTrainer builds the model's graph at the training batch size, adds a softmax
// cross-entropy loss (or, with Config.Distill, the distillation loss against a teacher's
// logits, computed by the teacher on each batch's real rows) and the parameter gradients, and compiles only what the loss and the
// gradients need. Each step binds a batch (the last partial batch is padded with rows whose
// target is all zeros, which the loss ignores), runs the tape, updates the parameters in
// place, and resets the machine. Gradients are read straight from the gradient nodes.
// Config.Schedule sets each step's learning rate from its position in the run (CosineLR), so
// a restored run continues on the same curve.
//
// # Checkpoints
//
// State and Restore capture and restore what continuing exactly needs: epochs done, the
// optimizer's moments and step count, and (implied by the epoch count) the shuffling RNG.
package train
