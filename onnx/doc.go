// Package onnx brings models in and out of tinyq as ONNX, the format every peer reads or
// writes (PyTorch's torch.onnx.export, ONNX Runtime, TensorRT, netron). It lives on the
// offline floor: it links protobuf (through the generated package tinyq/onnx/onnxpb), the
// runtime (tinyq/infer) never does. It favours refusing clearly over importing loosely: a
// graph it cannot map exactly onto tinyq's layers is refused naming the node, its operator
// and why, in one line.
//
// # Import
//
// Import (and Load, from a file) turns a float ONNX model, as torch.onnx.export writes it in
// opsets MinOpset to MaxOpset, into an *infer.FloatModel, which the runtime runs and package
// ptq quantizes: a multilayer perceptron (Gemm, or MatMul then Add; Relu; Flatten or Reshape
// to [batch, features]) or one of the CNNs tinyq runs (Conv with square kernels, equal
// strides and pads; BatchNormalization in inference mode, folded into the convolution by
// infer.FoldBatchNorm; Relu; MaxPool; Flatten, then Gemm). ONNX's images are NCHW and
// tinyq's NHWC: the input has one channel, where the two are the same memory, convolution
// weights [Out, C, K, K] become [K, K, C, Out], and the dense layer after a Flatten has its
// rows reordered from (c, y, x) to (y, x, c). The shape arithmetic of PyTorch's
// x.view(x.size(0), -1) folds into a Flatten, and a last Softmax or LogSoftmax is left out
// (tinyq's classes and probabilities come from the logits, the same as from their softmax).
// ONNX does not say how pixels were scaled: the model reads pixel/255 unless the file
// carries tinyq's own record (MetaInput) or the caller sets another (FloatModel.SetInput);
// Normalize folds a (x - mean)/std normalization, which PyTorch applies outside the model,
// into the first layer.
//
// # Export
//
// Export (and Save, to a file) writes any model the runtime runs as ONNX opset
// ExportOpset:
//
//   - fp32: per layer Conv or Gemm, then Relu and MaxPool, weights FLOAT; a Flatten before
//     the first dense layer (its rows in ONNX's (c, y, x) order after a convolution).
//   - fp16: the same with FLOAT16 weights and biases, each Cast to FLOAT: the graph
//     computes in float32, as tinyq's runtime does.
//   - static integer models: QDQ, the form ONNX Runtime and TensorRT fuse into integer
//     kernels. Each layer's input is QuantizeLinear then DequantizeLinear with the layer's
//     uint8 scale and zero point (activations below 8 bits are clipped to their range in
//     uint8 between the two); weights are INT8 [Out, In] (convolutions [Out, C, K, K]) with
//     per-channel (axis 0) or per-tensor scales, DequantizeLinear'd into a Gemm (transB 1)
//     or Conv; biases are INT32 at scale s_in·s_w, DequantizeLinear'd. Max pooling runs on
//     the float values before the next QuantizeLinear, the same as tinyq's pooling of the
//     requantized values (max commutes with the monotonic quantization). A QAT model's
//     simulation is written the same way from its fake-quant parameters. Weights of 4 and 2 bits are written as their INT8 values
//     (ONNX's INT4 needs opset 21, which ONNX Runtime's QDQ fusion does not take for Gemm).
//   - dynamic integer models: DynamicQuantizeLinear (uint8, per tensor), MatMulInteger with
//     the INT8 weights [In, Out], Cast to float, Mul by s_x·s_w, Add the float bias, Relu.
//     ONNX's DynamicQuantizeLinear takes one range for the whole batch where tinyq takes one
//     per row: the two agree exactly on batches of one image.
//
// ONNX's QuantizeLinear rounds x/s half to even as tinyq does, but an ONNX runtime
// requantizes in float (s_in·s_w/s_out) where tinyq's runtime uses a fixed-point multiplier
// (quant.QuantizeMultiplier), so a value can land on the other side of a rounding step and
// an exported integer model's predictions could differ from tinyq's. Measured in ONNX
// Runtime 1.31 on the 10,000 MNIST test images (TestOnnxRuntimeAgreement), the exports of
// PyTorch's MLP and CNNs at fp32, W8A8, W4A8, W4A4 and W2A2 (and W8 dynamic for the MLP)
// predict what tinyq predicts on every image; the integer logits differ by at most 0.08.
//
// # Invariants
//
// Import and Export never modify their argument; Write writes atomically.
package onnx
