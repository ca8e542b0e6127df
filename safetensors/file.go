package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"tinyq/internal/atomicfile"
	"tinyq/internal/regfile"
)

// MaxFileSize is the largest file ReadFile reads: 2 GiB. tinyq's largest models (two hidden
// layers of 65,536 units, about 4.4e9 float32 parameters) could not be trained within it anyway;
// the bound keeps a sparse or endless file (/dev/zero, a 64 GiB hole) from exhausting memory.
const MaxFileSize = 2 << 30

// ReadFile reads and decodes the safetensors file at path. Only a regular file (or a link
// to one) of at most MaxFileSize bytes is read; a FIFO, device or directory is refused
// without being opened for reading, and the header length is checked against the limit and
// the file size before the rest is read. A malformed file yields a *FormatError whose File is path; an I/O
// error is wrapped (errors.Is(err, fs.ErrNotExist) works). The tensors' Data share one
// buffer, the file's content.
func ReadFile(path string) (*File, error) {
	data, err := readRegular(path)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.File = path
			return nil, err
		}
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

// readRegular reads the whole regular file at path, checking its size and header length
// before reading its body.
func readRegular(path string) ([]byte, error) {
	fd, fi, err := regfile.Open(path, "a file")
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	size := fi.Size()
	if size > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the limit of %d (MaxFileSize)", path, size, int64(MaxFileSize))
	}
	if size < 8 {
		return nil, &FormatError{What: fmt.Sprintf("file too short: %d bytes, want at least 8 for the header length", size)}
	}
	data := make([]byte, 8, size)
	if _, err := io.ReadFull(fd, data); err != nil {
		return nil, fmt.Errorf("%s: read: %w", path, err)
	}
	switch n := binary.LittleEndian.Uint64(data); {
	case n > maxHeader: // as decode says, before reading (and holding) the rest
		return nil, &FormatError{What: fmt.Sprintf("header length %d exceeds the limit of %d", n, maxHeader)}
	case n > uint64(size-8):
		return nil, &FormatError{What: fmt.Sprintf("header length %d past end of file (size %d)", n, size)}
	}
	data = data[:size]
	if _, err := io.ReadFull(fd, data[8:]); err != nil {
		return nil, fmt.Errorf("%s: read: %w", path, err)
	}
	return data, nil
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
