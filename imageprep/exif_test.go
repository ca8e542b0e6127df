package imageprep

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"testing"
)

// exifSegment returns an APP1 Exif segment whose IFD0 holds the given entries (tag, type,
// count, value), in the byte order of "II" (little endian) or "MM" (big endian).
func exifSegment(order string, entries ...[4]uint32) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	tiff := []byte("II*\x00")
	if order == "MM" {
		bo, tiff = binary.BigEndian, []byte("MM\x00*")
	}
	tiff = bo.AppendUint32(tiff, 8) // IFD0 right after the header
	tiff = bo.AppendUint16(tiff, uint16(len(entries)))
	for _, e := range entries {
		tiff = bo.AppendUint16(tiff, uint16(e[0]))
		tiff = bo.AppendUint16(tiff, uint16(e[1]))
		tiff = bo.AppendUint32(tiff, e[2])
		tiff = bo.AppendUint16(tiff, uint16(e[3])) // a SHORT in the first half of the value
		tiff = bo.AppendUint16(tiff, 0)
	}
	tiff = bo.AppendUint32(tiff, 0) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xff, 0xe1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(2+len(payload)))
	return append(seg, payload...)
}

// withSegment inserts seg after the SOI marker of a JPEG.
func withSegment(jpg, seg []byte) []byte {
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// orientationEntry is the IFD entry Orientation = o: tag 0x0112, SHORT, count 1.
func orientationEntry(o uint32) [4]uint32 { return [4]uint32{0x0112, 3, 1, o} }

// TestDecodeEXIFOrientation (issue 18, item 5): a JPEG with each EXIF Orientation comes
// back as it is shown, exact to the pixel: a 3x2 grid of 8x8 blocks of six grey levels
// (uniform 8x8 blocks at quality 100 decode exactly), little- and big-endian EXIF. The
// expected grids are written out from the TIFF 6.0 definitions (tag 274: where the stored
// image's 0th row and 0th column are shown).
func TestDecodeEXIFOrientation(t *testing.T) {
	levels := [6]uint8{30, 70, 110, 150, 190, 230} // blocks 1 to 6
	// Stored:  1 2 3
	//          4 5 6
	stored := newGray(24, 16, func(x, y int) uint8 { return levels[(y/8)*3+x/8] })
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, stored, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	plain := buf.Bytes()
	want := map[uint32][][]int{
		1: {{1, 2, 3}, {4, 5, 6}},
		2: {{3, 2, 1}, {6, 5, 4}},   // 0th row at the top, 0th column on the right
		3: {{6, 5, 4}, {3, 2, 1}},   // 0th row at the bottom, 0th column on the right
		4: {{4, 5, 6}, {1, 2, 3}},   // 0th row at the bottom, 0th column on the left
		5: {{1, 4}, {2, 5}, {3, 6}}, // 0th row on the left, 0th column at the top
		6: {{4, 1}, {5, 2}, {6, 3}}, // 0th row on the right, 0th column at the top
		7: {{6, 3}, {5, 2}, {4, 1}}, // 0th row on the right, 0th column at the bottom
		8: {{3, 6}, {2, 5}, {1, 4}}, // 0th row on the left, 0th column at the bottom
	}
	for _, order := range []string{"II", "MM"} {
		for o := uint32(1); o <= 8; o++ {
			img, err := Decode(bytes.NewReader(withSegment(plain, exifSegment(order, [4]uint32{0x010f, 2, 4, 0}, orientationEntry(o)))))
			if err != nil {
				t.Fatal(err)
			}
			grid := want[o]
			b := img.Bounds()
			if b != image.Rect(0, 0, 8*len(grid[0]), 8*len(grid)) {
				t.Fatalf("%s orientation %d: bounds %v, want %dx%d blocks", order, o, b, len(grid[0]), len(grid))
			}
			g, _ := toGray(img)
			for y := range b.Dy() {
				for x := range b.Dx() {
					if w := levels[grid[y/8][x/8]-1]; g.Pix[y*g.Stride+x] != w {
						t.Fatalf("%s orientation %d: pixel (%d, %d) = %d, want %d (block %d)", order, o, x, y, g.Pix[y*g.Stride+x], w, grid[y/8][x/8])
					}
					if r, _, _, _ := img.At(x, y).RGBA(); uint8(r>>8) != levels[grid[y/8][x/8]-1] {
						t.Fatalf("%s orientation %d: At(%d, %d) = %d", order, o, x, y, r>>8)
					}
				}
			}
		}
	}
}

// TestEXIFOrientationMalformed (issue 18, item 5): a malformed or unusual EXIF segment is
// ignored (orientation 0: the image is used as stored), never a panic or a loop.
func TestEXIFOrientationMalformed(t *testing.T) {
	soi := []byte{0xff, 0xd8}
	good := exifSegment("II", orientationEntry(6))
	sos := []byte{0xff, 0xda, 0, 2}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		data []byte
		want orientation
	}{
		{"good", cat(soi, good, sos), rightTop},
		{"big endian", cat(soi, exifSegment("MM", orientationEntry(8)), sos), leftBottom},
		{"after other segments and fill bytes", cat(soi, []byte{0xff, 0xe0, 0, 4, 'J', 'F'}, []byte{0xff, 0xff}, good), rightTop},
		{"not a JPEG", cat([]byte("\x89PNG"), good), 0},
		{"empty", nil, 0},
		{"after the start of scan", cat(soi, sos, good), 0},
		{"value 0", cat(soi, exifSegment("II", orientationEntry(0))), 0},
		{"value 9", cat(soi, exifSegment("II", orientationEntry(9))), 0},
		{"type LONG", cat(soi, exifSegment("II", [4]uint32{0x0112, 4, 1, 6})), 0},
		{"count 2", cat(soi, exifSegment("II", [4]uint32{0x0112, 3, 2, 6})), 0},
		{"no orientation tag", cat(soi, exifSegment("II", [4]uint32{0x010f, 2, 4, 0})), 0},
		{"segment truncated", cat(soi, good[:len(good)-5]), 0},
		{"segment length 0", cat(soi, []byte{0xff, 0xe1, 0, 0}, good), 0},
		{"segment length past the end", cat(soi, []byte{0xff, 0xe1, 0xff, 0xff, 'E', 'x'}), 0},
		{"garbage between segments", cat(soi, []byte{0x00, 0x01}, good), 0},
	}
	// Corrupt the TIFF structure of the good segment: byte order, IFD offset, entry count.
	tiff := 4 + 6 // the TIFF header's offset in the segment
	corrupt := func(name string, at int, b ...byte) {
		s := append([]byte{}, good...)
		copy(s[tiff+at:], b)
		tests = append(tests, struct {
			name string
			data []byte
			want orientation
		}{name, cat(soi, s), 0})
	}
	corrupt("byte order XX", 0, 'X', 'X')
	corrupt("magic 43", 2, 43, 0)
	corrupt("IFD offset past the end", 4, 0xff, 0xff, 0, 0)
	corrupt("IFD offset 0xffffffff", 4, 0xff, 0xff, 0xff, 0xff)
	corrupt("IFD offset inside the header", 4, 2, 0, 0, 0)
	corrupt("entry count 65535", 8, 0xff, 0xff)
	for _, tt := range tests {
		if got := exifOrientation(tt.data); got != tt.want {
			t.Errorf("%s: orientation %d, want %d", tt.name, got, tt.want)
		}
	}
}

// FuzzEXIFOrientation: any bytes give an orientation of 0 to 8 without a panic, and an
// oriented image of any size maps every shown pixel into the stored bounds.
func FuzzEXIFOrientation(f *testing.F) {
	f.Add(append([]byte{0xff, 0xd8}, exifSegment("II", orientationEntry(6))...))
	f.Add(append([]byte{0xff, 0xd8}, exifSegment("MM", orientationEntry(7))...))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xe1, 0, 8, 'E', 'x', 'i', 'f', 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		o := exifOrientation(data)
		if o < 0 || o > leftBottom {
			t.Fatalf("orientation %d", o)
		}
		if len(data) < 2 {
			return
		}
		src := image.NewGray(image.Rect(-3, 5, -3+int(data[0]%9)+1, 5+int(data[1]%9)+1))
		img := orient(src, o)
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if m, ok := img.(*oriented); ok {
					if p := image.Pt(m.source(x, y)); !p.In(src.Rect) {
						t.Fatalf("orientation %d: shown (%d, %d) maps to %v outside %v", o, x, y, p, src.Rect)
					}
				}
			}
		}
	})
}
