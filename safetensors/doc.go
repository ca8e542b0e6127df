// Package safetensors reads and writes the safetensors file format of Hugging Face; it
// favors strict validation and whole-file reads over streaming: a file is held in memory
// and every byte of it is checked before any tensor is returned.
//
// # Format
//
// A safetensors file is three parts:
//
//	8 bytes   N, the header length, an unsigned little-endian 64-bit integer
//	N bytes   the header, a UTF-8 JSON object
//	the rest  the byte buffer: the tensors' data, little-endian, row-major
//
// The header maps each tensor name to its entry, and the optional key "__metadata__" to
// an object of string values:
//
//	{"__metadata__":{"format_version":"1"},
//	 "w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}
//
// data_offsets [begin, end] locate the tensor's bytes in the buffer (not in the file).
// end-begin is the product of the shape (1 for a scalar, shape []) times the dtype size.
//
// Encode writes "__metadata__" first, then the tensors sorted by name, and lays out their
// data in that order with no gaps. Like the reference implementation it pads the header
// with spaces so that 8+N is a multiple of 8 and the buffer starts 8-byte aligned.
//
// # Reading a file from Python
//
// With NumPy only (BF16 and F8_* have no NumPy dtype):
//
//	import json, struct, numpy as np
//	raw = open("model.safetensors", "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
//	header = json.loads(raw[8:8 + n]); meta = header.pop("__metadata__", {})
//	DT = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
//	t = {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], DT[v["dtype"]]).reshape(v["shape"]) for k, v in header.items()}
//
// # Errors
//
// Decode and ReadFile return a [*FormatError] for malformed input: a file shorter than
// 8 bytes; a header length past the end of the file or over 100,000,000 bytes (10^8, the
// reference implementation's limit); a header that is not UTF-8, not JSON or not an
// object, or has a key twice; "__metadata__" not an object of
// strings; a tensor entry that is not an object of exactly "dtype" (a known [DType]),
// "shape" (non-negative integers whose product, times the dtype size, fits an int) and
// "data_offsets" ([begin, end] with begin <= end <= the buffer size, end-begin matching
// the shape); entries whose data overlap, leave a gap, or leave trailing bytes. Like the
// reference implementation, Decode requires the tensors to cover the buffer exactly, and
// reads a null "__metadata__" as no metadata; it is stricter in rejecting duplicate keys
// (which a JSON map reader would silently merge) and unknown fields in an entry. Values
// are not checked: a NaN is for the caller to find.
//
// Encode, WriteFile and [File.Validate] return an [*InvalidError] for a File that cannot
// be written; the typed accessors ([Tensor.F32], ...) return one for a dtype or length
// mismatch. Errors of the underlying writer or file system are wrapped with %w.
//
// # Invariants
//
// No function modifies its arguments. Decode never panics and allocates only what the
// input holds (about len(data) plus a small multiple of the header), never a size read
// from the header. Decode's result shares no memory with its input; ReadFile's tensors
// share one buffer. Encode(Decode(x)) decodes to the same tensors and metadata as x.
package safetensors
