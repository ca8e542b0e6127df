package imageprep

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
)

// orientation is the EXIF Orientation of a JPEG (tag 0x0112 of IFD0): how the stored
// pixels must be turned to be seen as the camera saw them. The values are those of the
// EXIF and TIFF specifications; 1 (and 0, no tag) needs nothing. Phones store photos as the
// sensor read them and set this tag rather than turn the pixels; every image viewer
// applies it.
type orientation int

// The eight orientations, named by what the stored image's first row and first column
// are when shown (TIFF 6.0, tag 274), and by the transform that shows it.
const (
	topLeft     orientation = 1 + iota // as stored
	topRight                           // mirrored left to right
	bottomRight                        // turned 180°
	bottomLeft                         // mirrored top to bottom
	leftTop                            // transposed: mirrored about the main diagonal
	rightTop                           // turned 90° clockwise
	rightBottom                        // transversed: mirrored about the other diagonal
	leftBottom                         // turned 90° anticlockwise
)

// exifOrientation returns the orientation that the first APP1 Exif segment of a JPEG
// declares, or 0 if data is not a JPEG, has no such segment before the image data, or the
// segment is malformed in any way (the image is then used as stored). It reads only within
// data, checks every offset before using it, and visits each segment and IFD entry once:
// it cannot loop or read out of bounds.
func exifOrientation(data []byte) orientation {
	var o orientation
	jpegSegments(data, func(marker byte, seg []byte) bool {
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			o = tiffOrientation(seg[6:])
			return false
		}
		return true
	})
	return o
}

// jpegSegments calls f with the marker and the payload of each marker segment of a JPEG
// before its first scan, in order, until f returns false. It stops at the first malformed
// segment. Each step moves forward: it cannot loop.
func jpegSegments(data []byte, f func(marker byte, payload []byte) bool) {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return
	}
	// Segments: 0xff, a marker, a 2-byte big-endian length that counts itself.
	for p := 2; p+4 <= len(data); {
		if data[p] != 0xff {
			return
		}
		marker := data[p+1]
		switch {
		case marker == 0xff: // fill byte
			p++
			continue
		case marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01:
			p += 2 // markers without a length
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return
		}
		if !f(marker, data[p+4:p+2+n]) {
			return
		}
		p += 2 + n
	}
}

// tiffOrientation reads tag 0x0112 (a SHORT, count 1, value 1 to 8) from IFD0 of a TIFF
// structure, or returns 0.
func tiffOrientation(t []byte) orientation {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 0
	}
	count := int64(bo.Uint16(t[ifd:]))
	if ifd+2+12*count > int64(len(t)) {
		return 0
	}
	const tagOrientation, typeShort = 0x0112, 3
	for i := range count {
		e := t[ifd+2+12*i:]
		if bo.Uint16(e) != tagOrientation {
			continue
		}
		if bo.Uint16(e[2:]) != typeShort || bo.Uint32(e[4:]) != 1 {
			return 0
		}
		// A SHORT value fills the first two bytes of the 4-byte value field.
		if o := orientation(bo.Uint16(e[8:])); o >= topLeft && o <= leftBottom {
			return o
		}
		return 0
	}
	return 0
}

// orient returns img as it is shown with orientation o: img itself for 0 or topLeft,
// else a view that maps each pixel to the stored one. The view copies no pixels, so it
// costs no memory; its origin is (0, 0).
func orient(img image.Image, o orientation) image.Image {
	if o <= topLeft || o > leftBottom {
		return img
	}
	return &oriented{src: img, o: o, b: img.Bounds()}
}

// oriented is an image shown with an EXIF orientation other than topLeft.
type oriented struct {
	src image.Image
	o   orientation
	b   image.Rectangle // src's bounds
}

// transposes reports whether o swaps the width and the height.
func (o orientation) transposes() bool { return o >= leftTop }

func (m *oriented) ColorModel() color.Model { return m.src.ColorModel() }

func (m *oriented) Bounds() image.Rectangle {
	if m.o.transposes() {
		return image.Rect(0, 0, m.b.Dy(), m.b.Dx())
	}
	return image.Rect(0, 0, m.b.Dx(), m.b.Dy())
}

// source maps the shown pixel (x, y) to the stored one. With w and h the stored
// image's size: topRight shows stored (w-1-x, y); bottomRight (w-1-x, h-1-y);
// bottomLeft (x, h-1-y); leftTop (y, x); rightTop (y, h-1-x); rightBottom
// (w-1-y, h-1-x); leftBottom (w-1-y, x).
func (m *oriented) source(x, y int) (int, int) {
	w, h := m.b.Dx(), m.b.Dy()
	var sx, sy int
	switch m.o {
	case topRight:
		sx, sy = w-1-x, y
	case bottomRight:
		sx, sy = w-1-x, h-1-y
	case bottomLeft:
		sx, sy = x, h-1-y
	case leftTop:
		sx, sy = y, x
	case rightTop:
		sx, sy = y, h-1-x
	case rightBottom:
		sx, sy = w-1-y, h-1-x
	default: // leftBottom
		sx, sy = w-1-y, x
	}
	return m.b.Min.X + sx, m.b.Min.Y + sy
}

func (m *oriented) At(x, y int) color.Color {
	if !(image.Point{x, y}.In(m.Bounds())) {
		return m.src.ColorModel().Convert(color.Transparent)
	}
	return m.src.At(m.source(x, y))
}

// RGBA64At is At without allocating a color.Color, for the source types that have it
// (all those of the standard decoders).
func (m *oriented) RGBA64At(x, y int) color.RGBA64 {
	if !(image.Point{x, y}.In(m.Bounds())) {
		return color.RGBA64{}
	}
	sx, sy := m.source(x, y)
	if s, ok := m.src.(image.RGBA64Image); ok {
		return s.RGBA64At(sx, sy)
	}
	r, g, b, a := m.src.At(sx, sy).RGBA()
	return color.RGBA64{R: uint16(r), G: uint16(g), B: uint16(b), A: uint16(a)}
}

// Opaque reports whether the source is opaque, for the types that can tell.
func (m *oriented) Opaque() bool {
	o, ok := m.src.(interface{ Opaque() bool })
	return ok && o.Opaque()
}
