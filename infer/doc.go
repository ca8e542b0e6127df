// Package infer is tinyq's runtime: it loads saved models and runs them, with nothing of the
// training stack (no gorgonia, no gonum). It favours exact, testable arithmetic over the last
// bit of speed: integer models compute in integers between one input quantization and the
// logits, and a QAT model's float simulation equals its training graph's evaluation.
//
// # Running a saved model
//
// Load reads a model file of any kind (fp32, fp16, qat, int); PredictPixels classifies raw
// pixels (bytes 0..255, 28x28 for MNIST), which become the model's input as its file says
// (Input: x = pixel/255 for MNIST); Pixels does only that conversion. Forward, Predict,
// Classes and Evaluate take already preprocessed float32 rows. Example_evaluate loads the
// tiny model shipped in the repository's testdata/tiny and measures its accuracy;
// ExamplePredictPixels classifies with it; Example saves a model and runs it from the file.
//
// # Models
//
// A Model is a *FloatModel or an *IntModel. A FloatModel holds float32 parameters (fp32, or
// fp16 widened once at load) and runs y = x·W + b with ReLU; with a Simulation it
// fake-quantizes each layer input and holds fake-quantized weights and biases, as a QAT
// model's evaluation does. An IntModel holds integer weights (int8, or int4/int2 packed, as
// quant.PackingFor decides), int32 biases and per-layer scales:
//
//	real value   r = s·(q − zp)
//	acc[o]       = Σ_i (q_in[i] − zp_in)·q_w[o,i]                         (qkernel, int32)
//	hidden out   q_out[o] = clamp(zp_out + M[o]·(acc[o] + bias[o]), lo, hi)  (qkernel.Requantize)
//	             M[o] = s_in·s_w[o]/s_out = mult·2^(shift−31), one rounding (quant.MultiplyByQuantizedMultiplier)
//	             lo = max(qmin, zp_out) fuses the ReLU
//	logits       float32(acc[o] + bias[o])·LogitScale[o],  LogitScale[o] = s_in·s_w[o] in float32
//
// # Convolutional networks
//
// A layer (FloatLayer, IntLayer) is one arch.Unit: a fully connected layer, or with Conv set
// a 2-D convolution over NHWC images (im2col in chunks of whole images, then the same dense
// kernels: gemm.Conv, qkernel's Weights.Conv with the input zero point as padding), its
// ReLU, and with Pool set a max pooling after it (on the requantized uint8 values in an
// integer model: exact, since requantization is monotonic; the runtime pools the int32
// accumulators and requantizes the maxima, the same bytes). Forward runs convolutional
// models 64 samples at a time per worker, so memory stays bounded at any batch, and
// allocates nothing at batch 1; below 32 samples it runs them on the calling goroutine,
// whose convolutions split their output pixels over the workers where that pays
// (qkernel: one image's second convolution of issue 20's CNN, on an idle machine). A float file's BatchNorm is folded into the convolution
// at load (FoldBatchNorm). Dynamic mode applies to fully connected layers only.
//
// In Dynamic mode each input row is quantized to 8 bits with its own range at run time and
// each layer's output is dequantized to float32 with a float bias (PyTorch's dynamic
// quantization). The file format, with every tensor and the exact arithmetic, is
// docs/FORMAT.md in the repository.
//
// # Invariants
//
// Models are immutable once built (NewFloatModel, NewIntModel, Load) and safe for concurrent
// use; Forward never modifies its input and gives the same result for any number of workers.
// Loading checks everything it reads and returns an error naming the file and the problem;
// it never panics on a bad file.
package infer
