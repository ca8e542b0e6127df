// Package nn holds tinyq's layers and models and builds them into gorgonia graphs. It
// favours one small, explicit model type (an MLP) over a general module system.
//
// # Models and graphs
//
// An MLP owns its parameters as float32 tensors (weights [in, out], biases [out]). Build turns
// it into a graph for one batch size; graphs share the model's tensors, so a training graph and
// an evaluation graph of one model see the same weights. Hooks (Hook) on the input, on each
// weight, bias and layer output let other packages transform nodes while a graph is built:
// qat puts fake-quant nodes there without nn knowing about quantization.
//
// # Evaluation
//
// An Evaluator runs a forward-only program (only the subgraph the logits need is compiled)
// at a fixed batch size; a shorter last batch is padded with zero rows that are ignored, so
// every sample is evaluated.
//
// # Invariants
//
// Clone copies parameters and drops hooks. Build and NewEvaluator never modify parameters.
package nn
