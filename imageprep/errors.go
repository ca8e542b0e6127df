package imageprep

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// ErrNoDigit is wrapped by the error that [MNIST] returns for an image with no ink: every
// pixel is at the background level, or too close to it to be told apart from paper noise.
var ErrNoDigit = errors.New("imageprep: no digit found")

// ErrTooManyBytes is wrapped by the error that [Decode] and [DecodeFile] return for an
// input longer than [MaxBytes].
var ErrTooManyBytes = fmt.Errorf("imageprep: input is larger than %d bytes", MaxBytes)

// SizeError reports an image whose size is out of range: empty (no pixel), a side
// longer than [MaxSide], or more than [MaxPixels] pixels. Width and Height are those of
// the image's bounds, or those that a file's header declares.
type SizeError struct {
	Width, Height int
}

func (e *SizeError) Error() string {
	if e.Width <= 0 || e.Height <= 0 {
		return fmt.Sprintf("imageprep: image is empty (%dx%d pixels)", e.Width, e.Height)
	}
	if e.Width > MaxSide || e.Height > MaxSide {
		return fmt.Sprintf("imageprep: image is %dx%d pixels, more than the limit of %d pixels a side",
			e.Width, e.Height, MaxSide)
	}
	return fmt.Sprintf("imageprep: image is %dx%d pixels (%.1f megapixels), more than the limit of %d megapixels",
		e.Width, e.Height, float64(e.Width)*float64(e.Height)/1e6, MaxPixels/1_000_000)
}

// MemoryError reports an image that is within the pixel limits but whose decoding would
// allocate more than [MaxDecodedBytes].
type MemoryError struct {
	Width, Height int
	Kind          string // e.g. "progressive JPEG", "interlaced PNG"
	Bytes         int64  // the estimated need
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("imageprep: a %dx%d %s needs about %d MB to decode, more than the limit of %d MB",
		e.Width, e.Height, e.Kind, (e.Bytes+999_999)/1_000_000, MaxDecodedBytes/1_000_000)
}

// NotRegularError reports a path given to [DecodeFile] that is not a regular file: a
// directory, a named pipe, a device, a socket. Reading a pipe or a device could block
// forever or never end, so DecodeFile refuses them before opening.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("imageprep: %s is a %s, not a regular file", e.Path, kind(e.Mode))
}

// kind names the type of file that mode describes.
func kind(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "directory"
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case mode&fs.ModeCharDevice != 0:
		return "character device"
	case mode&fs.ModeDevice != 0:
		return "device"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeSymlink != 0:
		return "symbolic link"
	case mode&fs.ModeIrregular != 0:
		return "irregular file"
	}
	return "file of mode " + mode.String()
}

// pathError adds the file's path to an error of this package:
// "imageprep: PATH: what went wrong". errors.Is and errors.As see the wrapped error.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string {
	return "imageprep: " + e.path + ": " + strings.TrimPrefix(e.err.Error(), "imageprep: ")
}

func (e *pathError) Unwrap() error { return e.err }
