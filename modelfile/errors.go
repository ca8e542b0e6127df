package modelfile

import (
	"errors"
	"io/fs"
	"strings"
)

// FileError is an error reading or decoding the model file Path, reported by the package the
// caller called (Pkg: "infer", "nn", "qat", "train", ...). Its message names that package and
// the file once, "infer: model.safetensors: file too short: ...", however many layers below
// (modelfile, safetensors, the file system) found the problem and prefixed it with their own
// names; Unwrap gives the error they returned, so errors.Is and errors.As see through it.
type FileError struct {
	Pkg  string // the package the caller called, e.g. "infer"
	Path string // the file
	Err  error  // what went wrong, as the layers below reported it
}

// innerPrefixes are the package prefixes of the layers below a loader, which FileError's
// message drops: the loader's own name replaces them.
var innerPrefixes = []string{"modelfile: ", "safetensors: "}

// Error returns "PKG: PATH: WHAT" (or "PKG: PATH is a directory, ..." when the problem's
// description starts with the path).
func (e *FileError) Error() string {
	var what string
	var pe *fs.PathError
	if errors.As(e.Err, &pe) && pe.Path == e.Path {
		what = pe.Op + ": " + pe.Err.Error() // "stat: no such file or directory"
	} else {
		what = e.Err.Error()
		for stripped := true; stripped; {
			stripped = false
			for _, p := range [...]string{innerPrefixes[0], innerPrefixes[1], e.Pkg + ": "} {
				if rest, ok := strings.CutPrefix(what, p); ok {
					what, stripped = rest, true
				}
			}
		}
		if rest, ok := strings.CutPrefix(what, e.Path+": "); ok {
			what = rest
		} else if strings.HasPrefix(what, e.Path+" ") {
			return e.Pkg + ": " + what
		}
	}
	return e.Pkg + ": " + e.Path + ": " + what
}

// Unwrap returns the error the layers below returned.
func (e *FileError) Unwrap() error { return e.Err }

// WrapFile returns err (from Read or a decoder of the file at path) as a *FileError of pkg,
// the package the caller called, or nil if err is nil. A *FileError of the same file is
// re-labelled, not stacked.
func WrapFile(pkg, path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FileError
	if errors.As(err, &fe) && fe.Path == path {
		err = fe.Err
	}
	return &FileError{Pkg: pkg, Path: path, Err: err}
}
