package safetensors

import (
	"errors"
	"fmt"
	"io"
	"os"

	"tinyq/internal/atomicfile"
)

// ReadFile reads and decodes the safetensors file at path. A malformed file yields a
// *FormatError whose File is path; an I/O error is wrapped (errors.Is(err,
// fs.ErrNotExist) works). The tensors' Data share one buffer, the file's content.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := decode(data, false) // data is ours: no need to copy it again
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.File = path
		}
		return nil, err
	}
	return f, nil
}

// WriteFile writes f to path atomically: a reader sees the previous file or the whole new
// one, never a part. An invalid f yields an *InvalidError whose File is path, and leaves
// any previous file untouched, as does any failure while writing.
func WriteFile(path string, f *File) error {
	header, order, err := encodeHeader(f)
	if err != nil {
		var ie *InvalidError
		if errors.As(err, &ie) {
			ie.File = path
		}
		return err
	}
	err = atomicfile.Write(path, func(w io.Writer) error { return write(w, header, order) })
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}
