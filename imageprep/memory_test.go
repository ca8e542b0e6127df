package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"
)

// TestDecodedBytesBound (issue 18, item 12): for every kind of image the encoders can
// write, what image.Decode allocates (TotalAlloc) is at most decodedBytes' estimate plus
// 1 MiB (row buffers, Huffman and LZW tables), so MaxDecodedBytes bounds it.
func TestDecodedBytesBound(t *testing.T) {
	const w, h = 1000, 700
	fill := func(img interface{ Set(x, y int, c color.Color) }) {
		for y := range h {
			for x := range w {
				img.Set(x, y, color.RGBA64{uint16(x * 65), uint16(y * 93), uint16(x * y), 0xffff})
			}
		}
	}
	gray, gray16, rgba, nrgba64 := image.NewGray(image.Rect(0, 0, w, h)), image.NewGray16(image.Rect(0, 0, w, h)),
		image.NewRGBA(image.Rect(0, 0, w, h)), image.NewNRGBA64(image.Rect(0, 0, w, h))
	pal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White, color.Gray{Y: 99}})
	for _, m := range []interface{ Set(x, y int, c color.Color) }{gray, gray16, rgba, nrgba64, pal} {
		fill(m)
	}
	enc := func(f func(*bytes.Buffer) error) []byte {
		var buf bytes.Buffer
		if err := f(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"grey PNG", enc(func(b *bytes.Buffer) error { return png.Encode(b, gray) })},
		{"16-bit grey PNG", enc(func(b *bytes.Buffer) error { return png.Encode(b, gray16) })},
		{"RGBA PNG", enc(func(b *bytes.Buffer) error { return png.Encode(b, rgba) })},
		{"16-bit NRGBA PNG", enc(func(b *bytes.Buffer) error { return png.Encode(b, nrgba64) })},
		{"paletted PNG", enc(func(b *bytes.Buffer) error { return png.Encode(b, pal) })},
		{"GIF", enc(func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) })},
		{"grey JPEG", enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, gray, nil) })},
		{"colour JPEG", enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, rgba, nil) })},
	}
	if !testing.Short() {
		// The largest: 72 MB of 16-bit pixels, where the PNG decoder's allocations per
		// row add 2.3 MB (3.3%), beyond the 1 MiB of slack; the estimate's 1/16 covers it.
		const n = 3000
		big := image.NewNRGBA64(image.Rect(0, 0, n, n))
		for y := range n {
			for x := range n {
				p := big.Pix[y*big.Stride+8*x:]
				binary.BigEndian.PutUint16(p, uint16(x*65))
				binary.BigEndian.PutUint16(p[2:], uint16(y*93))
				binary.BigEndian.PutUint16(p[4:], uint16(x*y))
				binary.BigEndian.PutUint16(p[6:], 0xffff)
			}
		}
		cases = append(cases, struct {
			name string
			data []byte
		}{"16-bit NRGBA PNG, 9 MP", enc(func(b *bytes.Buffer) error { return png.Encode(b, big) })})
	}
	for _, c := range cases {
		cfg, format, err := image.DecodeConfig(bytes.NewReader(c.data))
		if err != nil {
			t.Fatal(err)
		}
		est, kind := decodedBytes(cfg, format, c.data)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, _, err := image.Decode(bytes.NewReader(c.data)); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		used := int64(after.TotalAlloc - before.TotalAlloc)
		t.Logf("%s (%s): decoding allocated %.2f MB, estimate %.2f MB", c.name, kind, float64(used)/1e6, float64(est)/1e6)
		if used > est+1<<20 {
			t.Errorf("%s: decoding allocated %d bytes, more than the estimate %d + 1 MiB", c.name, used, est)
		}
	}
}

// jpegSOF returns the start of a JPEG whose frame header (SOF0 or SOF2) declares w×h and
// n components, then a start of scan: enough for image.DecodeConfig.
func jpegSOF(marker byte, w, h, n int) []byte {
	out := []byte{0xff, 0xd8, 0xff, marker}
	out = binary.BigEndian.AppendUint16(out, uint16(8+3*n))
	out = append(out, 8)
	out = binary.BigEndian.AppendUint16(out, uint16(h))
	out = binary.BigEndian.AppendUint16(out, uint16(w))
	out = append(out, byte(n))
	for i := range n {
		out = append(out, byte(i+1), 0x11, 0)
	}
	return append(out, 0xff, 0xda, 0, 12) // the start of scan ends DecodeConfig
}

// pngIHDR returns a PNG signature and IHDR declaring w×h with the given depth, colour type
// and interlace method.
func pngIHDR(w, h uint32, depth, colour, interlace byte) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, depth, colour, 0, 0, interlace)
	chunk := append([]byte("IHDR"), ihdr...)
	out := append([]byte("\x89PNG\r\n\x1a\n"), binary.BigEndian.AppendUint32(nil, uint32(len(ihdr)))...)
	out = append(out, chunk...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
}

// TestDecodeMemoryLimit (issue 18, item 12): an image within the pixel limits whose
// decoding would allocate more than MaxDecodedBytes is refused from its header, before
// any pixel is decoded, with a *MemoryError; the largest images of the common kinds pass.
func TestDecodeMemoryLimit(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		refused bool
	}{
		{"progressive colour JPEG, 48 MP", jpegSOF(0xc2, 8000, 6000, 3), true},
		{"progressive colour JPEG, 20 MP", jpegSOF(0xc2, 5000, 4000, 3), false},
		{"baseline colour JPEG, 50 MP", jpegSOF(0xc0, 10000, 5000, 3), false},
		{"progressive grey JPEG, 50 MP", jpegSOF(0xc2, 10000, 5000, 1), false},
		{"interlaced 16-bit RGBA PNG, 49 MP", pngIHDR(7000, 7000, 16, 6, 1), true},
		{"16-bit RGBA PNG, 49 MP", pngIHDR(7000, 7000, 16, 6, 0), false},
		{"interlaced RGBA PNG, 49 MP", pngIHDR(7000, 7000, 8, 6, 1), false},
	}
	for _, tt := range tests {
		_, err := Decode(bytes.NewReader(tt.data))
		var me *MemoryError
		if got := errors.As(err, &me); got != tt.refused {
			t.Errorf("%s: %v; want refused %t", tt.name, err, tt.refused)
			continue
		}
		if tt.refused {
			t.Logf("%s: %v", tt.name, err)
			if me.Bytes <= MaxDecodedBytes {
				t.Errorf("%s: refused for %d bytes, within the limit", tt.name, me.Bytes)
			}
		} else if err == nil {
			t.Errorf("%s: a header alone decoded", tt.name)
		}
	}
}
