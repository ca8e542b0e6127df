package imageprep

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // register GIF with image.Decode
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
)

// Limits on what [Decode], [DecodeFile] and [MNIST] accept, so that a hostile or
// mistaken input cannot make them read or allocate without bound. MNIST checks the
// pixel limits too, for images that were not decoded by this package.
const (
	// MaxBytes caps the encoded input: 64 MiB. A 50-megapixel JPEG straight from a
	// camera is 10 to 25 MB; a PNG photo of the same size can reach 60 MB.
	MaxBytes = 64 << 20

	// MaxPixels caps the decoded image: 50 megapixels, above the 48-50 MP of the
	// largest phone sensors. What decoding may allocate is capped too, by
	// MaxDecodedBytes (8 bytes a pixel at MaxPixels), and MNIST needs 1 byte a pixel
	// more for its grey copy.
	MaxPixels = 50_000_000

	// MaxSide caps each side: 65535 pixels, the most that JPEG and GIF can declare.
	// Shrinking a box to 20 pixels costs memory in proportion to its long side
	// (golang.org/x/image/draw keeps a weight for each pair of source and output
	// pixels that its kernel joins, about 4 per source pixel), so a 50-megapixel
	// image one pixel tall would need gigabytes.
	MaxSide = 1<<16 - 1
)

// Decode reads a PNG, JPEG or GIF image (the first frame of an animated GIF) from r. It
// reads at most MaxBytes bytes, and checks the size that the header declares against
// MaxPixels and MaxSide before decoding the pixels. A JPEG whose EXIF Orientation tag
// (in its APP1 Exif segment, IFD0, tag 0x0112) is 2 to 8 is returned as it is shown: a
// view of the decoded pixels mirrored or turned as that value says, with origin (0, 0)
// and, for 5 to 8, width and height swapped, as image viewers show it. A missing,
// out-of-range or malformed tag leaves the image as stored. Errors start with "imageprep: "; an input in
// another format wraps [image.ErrFormat].
func Decode(r io.Reader) (image.Image, error) {
	return decode(r, MaxBytes)
}

// decode is Decode with the byte limit as a parameter, so that tests can exercise it
// without writing MaxBytes bytes.
func decode(r io.Reader, limit int64) (image.Image, error) {
	// The header is decoded before the pixels, so the whole input is held in memory;
	// it is at most limit bytes.
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("imageprep: reading image: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, ErrTooManyBytes
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, decodeError(format, err)
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if need, kind := decodedBytes(cfg, format, data); need > MaxDecodedBytes {
		return nil, &MemoryError{Width: cfg.Width, Height: cfg.Height, Kind: kind, Bytes: need}
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, decodeError(format, err)
	}
	// The decoders keep to the declared size; check again rather than trust them.
	if err := checkSize(img.Bounds().Dx(), img.Bounds().Dy()); err != nil {
		return nil, err
	}
	if format == "jpeg" {
		img = orient(img, exifOrientation(data))
	}
	return img, nil
}

// decodeError turns an error of image.DecodeConfig or image.Decode into one of this
// package, keeping the original wrapped.
func decodeError(format string, err error) error {
	if errors.Is(err, image.ErrFormat) {
		return fmt.Errorf("imageprep: unknown image format (want PNG, JPEG or GIF): %w", err)
	}
	return fmt.Errorf("imageprep: corrupt %s image: %w", format, err)
}

// checkSize returns a *SizeError unless the image has at least one pixel, at most
// MaxSide a side and at most MaxPixels. It tests the sides first so that the product
// cannot overflow.
func checkSize(w, h int) error {
	if w <= 0 || h <= 0 || w > MaxSide || h > MaxSide || int64(w)*int64(h) > MaxPixels {
		return &SizeError{Width: w, Height: h}
	}
	return nil
}

// DecodeFile opens the file at path and decodes it as [Decode] does. It refuses, with a
// [*NotRegularError], anything but a regular file (after following symbolic links):
// reading a directory fails, and reading a named pipe or a device may block or never
// end. A file larger than MaxBytes is refused before it is read. Errors other than
// those of the operating system (which name the path themselves) read
// "imageprep: PATH: ...".
func DecodeFile(path string) (image.Image, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("imageprep: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, &NotRegularError{Path: path, Mode: st.Mode()}
	}
	if st.Size() > MaxBytes {
		return nil, &pathError{path: path, err: ErrTooManyBytes}
	}
	// If the file is replaced by a pipe between Stat and Open, Open may block; the
	// check below then comes late. That race needs someone changing the file system
	// under us, which this package does not defend against.
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageprep: %w", err)
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("imageprep: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, &NotRegularError{Path: path, Mode: st.Mode()}
	}
	img, err := decode(f, MaxBytes)
	if err != nil {
		return nil, &pathError{path: path, err: err}
	}
	return img, nil
}
