// Package ptq is tinyq's offline converter: it calibrates trained float models, chooses how,
// and converts them to the runtime's integer models (package infer); it is also the one
// convert path that QAT models take (qat.Model.Convert). It favours exact, testable integer
// arithmetic over the last bit of speed.
//
// # Workflow
//
// ptq works on the runtime's float model (infer.FloatModel: a float file loaded by infer, or
// an nn.MLP's MLP.FloatModel), so quantizing links no training stack. One Config says how:
// Calibrate observes each layer's input at the widths and with the observer it names, and
// Convert with the same Config turns those ranges into an integer model; infer.SaveInt
// writes it. Example_workflow does this to the tiny float file shipped in the repository's
// testdata/tiny (load, calibrate, convert, save, load, classify); ExampleChoose calibrates
// and converts in one call.
//
// Choose picks the calibration observer by the smallest logit MSE against the float model
// on training images kept apart from calibration (LogitMSE); Compare measures how far a float
// fake-quant simulation and its integer model agree; Float16 makes the runtime's fp16 model.
// Command quantize (cmd/quantize) does this to a saved float file.
//
// # Arithmetic
//
// Conversion uses only quant's rules: weights symmetric per output channel (or per tensor),
// quantized with quant.Quantize and stored as quant.PackingFor says; biases on the int32 grid
// at scale s_in·s_w (quant.QuantizeBias, overflow is an error); parameters given in a Plan
// must have the configuration's integer ranges, so a model can never be mislabelled. The
// runtime arithmetic is described in package infer and docs/FORMAT.md.
//
// # Invariants
//
// Calibrate, Choose and Convert never modify the model.
package ptq
