// Package modelfile defines every tinyq file schema, once, as plain structs: FloatFile (a
// float model, fp32 or fp16), IntFile (an integer model, static or dynamic, uniform or with
// per-layer widths), QATFile (a float model with its fake-quant parameters), CheckpointFile
// and QATCheckpointFile (a model in training with its state). Each has a decoder, which
// parses and validates its metadata records and tensors, and an encoder; the packages with
// model types (infer, nn, qat, train) only map these structs to and from their own. It also
// holds what every file shares: the format version, the kinds, the metadata keys, the
// architecture and input records, the spec JSON and strict typed tensor readers. It imports
// only safetensors, quant, float16 and arch, so the runtime can use it without the training
// stack.
//
// docs/FORMAT.md in the repository is the specification of the files: every tensor name,
// dtype, shape and metadata key, and the exact arithmetic a reader must reproduce. Readers
// accept format versions 1 to 4; writers write version 2 (3 for per-layer widths) for an
// MLP, and version 4 for any other network (Info.Net: the architecture as arch.Arch, conv
// weights [KH, KW, C, Out] float and [Out, KH, KW, C] int, BatchNorm tensors in float files). Writes are
// atomic (temp file, fsync, rename) and store the SHA-256 of the data section
// (KeyDataSHA256), which readers verify when present. Readers check everything (checksum,
// dtypes, shapes against the architecture, NaN and Inf, version) and return an error naming
// the problem; they never panic.
package modelfile
