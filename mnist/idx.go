package mnist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// IDX magic numbers: 0x0000TTDD with element type TT = 0x08 (unsigned byte) and DD
// dimensions.
const (
	imagesMagic = 0x00000803 // ubyte, 3 dimensions: n, rows, cols
	labelsMagic = 0x00000801 // ubyte, 1 dimension: n
)

// MaxBytes bounds the payload (n*rows*cols pixels, or n labels) that ReadImages and
// ReadLabels accept, so that a corrupt header cannot ask for a huge allocation.
// 1<<28 = 268,435,456 bytes is 5.7 times the MNIST training images (60000*28*28 =
// 47,040,000) and becomes 1 GiB once converted to float32.
const MaxBytes = 1 << 28

// chunk is the first allocation when reading a payload; the buffer then doubles, so
// memory stays within twice the bytes actually read, whatever the header claims.
const chunk = 1 << 16

// ReadImages parses an IDX3 image file (magic 0x00000803) from r, which must already be
// decompressed. It returns the n*rows*cols pixels, row-major. name identifies the input
// in errors. Any rows, cols > 0 are accepted; the payload is limited to MaxBytes, and r
// must end exactly after it.
func ReadImages(r io.Reader, name string) (pixels []uint8, n, rows, cols int, err error) {
	var hdr [16]byte
	if err := readHeader(r, name, hdr[:]); err != nil {
		return nil, 0, 0, 0, err
	}
	if err := checkMagic(name, hdr[:4], imagesMagic); err != nil {
		return nil, 0, 0, 0, err
	}
	// Dimensions are uint32, so they fit an int on 64-bit platforms; the product is
	// checked against MaxBytes step by step so it cannot overflow.
	dims := [3]uint64{
		uint64(binary.BigEndian.Uint32(hdr[4:])),
		uint64(binary.BigEndian.Uint32(hdr[8:])),
		uint64(binary.BigEndian.Uint32(hdr[12:])),
	}
	for i, field := range [...]string{"", "rows", "cols"} {
		if i > 0 && dims[i] == 0 {
			return nil, 0, 0, 0, &FormatError{File: name, Field: field, Got: "0", Want: "> 0"}
		}
	}
	if dims[1]*dims[2] > MaxBytes || dims[0]*dims[1]*dims[2] > MaxBytes {
		return nil, 0, 0, 0, &FormatError{File: name, Field: "size",
			Got:  fmt.Sprintf("%d×%d×%d pixels", dims[0], dims[1], dims[2]),
			Want: "at most " + strconv.Itoa(MaxBytes)}
	}
	n, rows, cols = int(dims[0]), int(dims[1]), int(dims[2])
	pixels, err = readPayload(r, name, len(hdr), n*rows*cols)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	return pixels, n, rows, cols, nil
}

// ReadLabels parses an IDX1 label file (magic 0x00000801) from r, which must already be
// decompressed. Every label must be a digit 0..9. name identifies the input in errors.
func ReadLabels(r io.Reader, name string) ([]uint8, error) {
	var hdr [8]byte
	if err := readHeader(r, name, hdr[:]); err != nil {
		return nil, err
	}
	if err := checkMagic(name, hdr[:4], labelsMagic); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n > MaxBytes {
		return nil, &FormatError{File: name, Field: "size",
			Got: fmt.Sprintf("%d labels", n), Want: "at most " + strconv.Itoa(MaxBytes)}
	}
	labels, err := readPayload(r, name, len(hdr), int(n))
	if err != nil {
		return nil, err
	}
	for i, l := range labels {
		if l > 9 {
			return nil, &FormatError{File: name, Field: "label[" + strconv.Itoa(i) + "]",
				Got: strconv.Itoa(int(l)), Want: "0..9"}
		}
	}
	return labels, nil
}

func readHeader(r io.Reader, name string, hdr []byte) error {
	got, err := io.ReadFull(r, hdr)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &FormatError{File: name, Field: "header",
			Got:  strconv.Itoa(got) + " bytes (truncated)",
			Want: strconv.Itoa(len(hdr)) + " bytes"}
	}
	if err != nil {
		return readError(name, err)
	}
	return nil
}

func checkMagic(name string, b []byte, want uint32) error {
	if got := binary.BigEndian.Uint32(b); got != want {
		return &FormatError{File: name, Field: "magic",
			Got: fmt.Sprintf("0x%08x", got), Want: fmt.Sprintf("0x%08x", want)}
	}
	return nil
}

// readPayload reads exactly size bytes from r and then requires r to be at its end.
// hdrLen is only used to report file lengths in errors. The buffer grows with the data
// read, never ahead of it.
func readPayload(r io.Reader, name string, hdrLen, size int) ([]byte, error) {
	buf := make([]byte, 0, min(size, chunk))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(size, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		got, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+got]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, &FormatError{File: name, Field: "length",
				Got:  strconv.Itoa(hdrLen+len(buf)) + " bytes (truncated)",
				Want: strconv.Itoa(hdrLen+size) + " bytes"}
		}
		if err != nil {
			return nil, readError(name, err)
		}
	}
	// The stream must end here. Reading to EOF also makes compress/gzip verify its
	// CRC-32 and length trailer.
	var one [1]byte
	got, err := io.ReadFull(r, one[:])
	if got == 0 {
		if err == io.EOF {
			return buf, nil
		}
		return nil, readError(name, err)
	}
	// Count the trailing bytes, up to a limit, to make the message useful.
	const limit = 1 << 20
	extra, err := io.CopyN(io.Discard, r, limit)
	if err != nil && err != io.EOF {
		return nil, readError(name, err)
	}
	length := fmt.Sprintf("%d bytes (%d trailing)", int64(hdrLen+size)+1+extra, 1+extra)
	if extra == limit {
		length = fmt.Sprintf("over %d bytes (trailing data)", hdrLen+size+limit)
	}
	return nil, &FormatError{File: name, Field: "length", Got: length,
		Want: strconv.Itoa(hdrLen+size) + " bytes"}
}

// readError wraps an error from the reader. A *FormatError (from the gzip layer set up
// by LoadFiles) is returned as is, since it already names the file.
func readError(name string, err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("mnist: %s: read: %w", name, err)
}
