package safetensors

import (
	"strconv"
	"strings"
)

// FormatError reports malformed input to Decode or ReadFile: bytes that are not a valid
// safetensors file. Its message reads "safetensors: [FILE: ][tensor "NAME": ]WHAT[: ERR]",
// for example
//
//	safetensors: models/a.safetensors: header length 99999 past end of file (size 120)
//	safetensors: tensor "w": unknown dtype "F33"
type FormatError struct {
	File   string // the path given to ReadFile; empty from Decode
	Tensor string // the tensor whose header entry is wrong; may be empty
	What   string // what is wrong, with the values found and expected
	Err    error  // the underlying error (e.g. a *json.SyntaxError); may be nil
}

func (e *FormatError) Error() string {
	return message(e.File, e.Tensor, e.What, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// InvalidError reports a File or Tensor value that breaks the rules of the format: a
// mistake of the caller, not of a file. Encode, WriteFile and File.Validate return it,
// and so do the typed accessors (Tensor.F32, ...) for a dtype or length mismatch. Its
// message reads "safetensors: [FILE: ]invalid [tensor "NAME": ]WHAT".
type InvalidError struct {
	File   string // the path given to WriteFile; may be empty
	Tensor string // the tensor at fault; empty for metadata problems
	What   string
}

func (e *InvalidError) Error() string {
	what := "invalid "
	if e.Tensor != "" {
		what += "tensor " + strconv.Quote(e.Tensor) + ": "
	}
	return message(e.File, "", what+e.What, nil)
}

func message(file, tensor, what string, err error) string {
	var b strings.Builder
	b.WriteString("safetensors: ")
	if file != "" {
		b.WriteString(file)
		b.WriteString(": ")
	}
	if tensor != "" {
		b.WriteString("tensor ")
		b.WriteString(strconv.Quote(tensor))
		b.WriteString(": ")
	}
	b.WriteString(what)
	if err != nil {
		b.WriteString(": ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// quoteDType quotes a dtype for a message, so that an empty or odd one stays visible.
func quoteDType(d DType) string {
	if d.Size() != 0 {
		return string(d)
	}
	return strconv.Quote(string(d))
}
