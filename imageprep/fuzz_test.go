package imageprep

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"strings"
	"testing"
)

// fuzzImage builds a small image from fuzz bytes: data[0] picks the type, data[1] and
// data[2] the size (0 to 63 pixels a side, so empty images occur), the rest the pixels,
// repeated as needed.
func fuzzImage(data []byte) image.Image {
	if len(data) < 4 {
		return image.NewGray(image.Rectangle{})
	}
	kind, w, h, pix := data[0]%4, int(data[1]%64), int(data[2]%64), data[3:]
	r := image.Rect(0, 0, w, h)
	at := func(i int) uint8 { return pix[i%len(pix)] }
	switch kind {
	case 0:
		m := image.NewGray(r)
		for i := range m.Pix {
			m.Pix[i] = at(i)
		}
		return m
	case 1: // opaque colour
		m := image.NewRGBA(r)
		for i := range m.Pix {
			m.Pix[i] = at(i)
			if i%4 == 3 {
				m.Pix[i] = 255
			}
		}
		return m
	case 2: // translucent
		m := image.NewNRGBA(r)
		for i := range m.Pix {
			m.Pix[i] = at(i)
		}
		return m
	}
	m := image.NewPaletted(r, color.Palette{color.Black, color.White, color.Gray{Y: 128}, color.Transparent})
	for i := range m.Pix {
		m.Pix[i] = at(i) % 4
	}
	return m
}

// MNIST never panics; it returns Size*Size bytes or an error of this package; and its
// output passes through it unchanged.
func FuzzMNIST(f *testing.F) {
	f.Add([]byte{0, 28, 28, 0, 0, 0, 255, 0, 0})
	f.Add([]byte{0, 40, 30, 255, 255, 255, 0, 255})
	f.Add([]byte{1, 50, 50, 200, 100, 50, 255, 10, 20, 30, 255})
	f.Add([]byte{2, 33, 20, 0, 0, 0, 0, 0, 0, 0, 255})
	f.Add([]byte{3, 60, 7, 0, 1, 2, 3, 3, 3})
	f.Add([]byte{0, 1, 1, 7})
	f.Add([]byte{0, 0, 5, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		img := fuzzImage(data)
		out, err := MNIST(img)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "imageprep: ") {
				t.Fatalf("error %q does not start with \"imageprep: \"", err)
			}
			var se *SizeError
			if !errors.Is(err, ErrNoDigit) && !errors.As(err, &se) {
				t.Fatalf("error %v is neither ErrNoDigit nor a *SizeError", err)
			}
			return
		}
		if len(out) != Size*Size {
			t.Fatalf("%d bytes, want %d", len(out), Size*Size)
		}
		again, err := MNIST(grayFromBytes(out))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("output does not pass through: err %v\n%s\nagain\n%s", err, ascii(out), ascii(again))
		}
	})
}

// Decode never panics on any bytes, and what it returns has a size within limits.
func FuzzDecode(f *testing.F) {
	digit := strokes(20, 20, 255, 0, 2, segment{5, 5, 15, 15})
	for _, enc := range []func(*bytes.Buffer, image.Image) error{encodePNG, encodeJPEG, encodeGIF} {
		var buf bytes.Buffer
		if err := enc(&buf, digit); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	// JPEGs with an EXIF orientation (turned, mirrored, malformed): issue 18, item 5.
	var jpg bytes.Buffer
	if err := encodeJPEG(&jpg, digit); err != nil {
		f.Fatal(err)
	}
	f.Add(withSegment(jpg.Bytes(), exifSegment("II", orientationEntry(6))))
	f.Add(withSegment(jpg.Bytes(), exifSegment("MM", orientationEntry(7))))
	f.Add(withSegment(jpg.Bytes(), exifSegment("II", [4]uint32{0x0112, 3, 1, 9})[:20]))
	f.Add(pngHeader(100000, 100000))
	f.Add(gifHeader(65535, 65535))
	f.Add([]byte("not an image"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "imageprep: ") {
				t.Fatalf("error %q does not start with \"imageprep: \"", err)
			}
			return
		}
		if checkSize(img.Bounds().Dx(), img.Bounds().Dy()) != nil {
			t.Fatalf("decoded an image of size %v", img.Bounds().Size())
		}
		if _, err := MNIST(img); err != nil && !strings.HasPrefix(err.Error(), "imageprep: ") {
			t.Fatalf("MNIST error %q does not start with \"imageprep: \"", err)
		}
	})
}
