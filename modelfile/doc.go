// Package modelfile holds what every tinyq model file shares: the format version, the kinds,
// the metadata keys, the architecture and input records, the spec JSON, and strict typed
// readers for tensors. It favours one small shared header over a hub: each kind of file is
// read and written next to what it stores (float models in nn and infer, checkpoints in
// train, QAT models and checkpoints in qat, integer models in infer), and they all use these
// helpers, so the layout is stated once. It imports only safetensors, quant and float16, so
// the runtime can use it without the training stack.
//
// docs/FORMAT.md in the repository is the specification of the files: every tensor name,
// dtype, shape and metadata key, and the exact arithmetic a reader must reproduce. Readers
// accept format versions 1 to 3; writers write version 2 (3 for per-layer widths). Writes are
// atomic (temp file, fsync, rename) and store the SHA-256 of the data section
// (KeyDataSHA256), which readers verify when present. Readers check everything (checksum,
// dtypes, shapes against the architecture, NaN and Inf, version) and return an error naming
// the problem; they never panic.
package modelfile
