package imageprep

import (
	"image"
	"image/color"
)

// MaxDecodedBytes caps what the standard decoders may allocate for one image: 425 MB, 8.5
// bytes a pixel at MaxPixels, what a 50-megapixel 16-bit RGBA PNG (the widest pixel that
// the decoders return: 8 bytes, and 1/16 more for the decoder's buffers) takes. [Decode]
// estimates the need from the header (see decodedBytes) before decoding, and refuses more
// with a [*MemoryError]: a progressive colour JPEG (19 bytes a pixel) above 20
// megapixels, an interlaced 16-bit PNG above 25. Phone and camera photos are baseline
// JPEGs (at most 7 bytes a pixel): all of MaxPixels.
const MaxDecodedBytes = 8*MaxPixels + 8*MaxPixels/16

// decodedBytes is an upper bound of what image.Decode allocates for the image that data
// holds, whose header gave cfg and format, and a name for its kind. Per pixel, from the
// standard library's decoders (Go 1.26):
//
//   - GIF: 1 byte (an *image.Paletted of the first frame, which lies within the screen).
//   - PNG: the returned image's pixel (1 grey or paletted, 2 16-bit grey, 4 RGBA or
//     NRGBA, 8 for 16-bit colour), twice if interlaced (each of the 7 passes is decoded
//     into an image of its own, together as large as the result, before it is merged).
//   - JPEG: the YCbCr planes at most 3 bytes (4:4:4; 1 for grey) and, for RGB-coded or
//     4-component files, a converted RGBA or CMYK copy (4) and the black plane (1): 1, 7
//     or 8 bytes. A progressive file keeps every component's coefficients between scans,
//     a [64]int32 block for each 8×8 samples: 4 bytes a pixel for each component at full
//     resolution. The sides are first rounded up to whole MCUs of at most 32 pixels.
//
// To these it adds 1/16 for what the decoders allocate along the way: row buffers,
// Huffman and LZW tables, and the PNG decoder's small allocations per row, which come to
// 3.3% of a 16-bit PNG (measured for 1000×1000 to 3000×3000 pixels: 0.26 bytes a pixel).
func decodedBytes(cfg image.Config, format string, data []byte) (int64, string) {
	n, kind := imageBytes(cfg, format, data)
	return n + n/16, kind
}

// imageBytes is decodedBytes without the allowance for the decoders' buffers.
func imageBytes(cfg image.Config, format string, data []byte) (int64, string) {
	px := int64(cfg.Width) * int64(cfg.Height)
	switch format {
	case "gif":
		return px, "GIF"
	case "png":
		var bpp int64
		switch cfg.ColorModel {
		case color.GrayModel:
			bpp = 1
		case color.Gray16Model:
			bpp = 2
		case color.RGBAModel, color.NRGBAModel:
			bpp = 4
		default:
			bpp = 8 // 16-bit colour
			if _, ok := cfg.ColorModel.(color.Palette); ok {
				bpp = 1
			}
		}
		// The interlace method is the last byte of IHDR: 8 bytes of signature, 8 of
		// chunk length and type, then width, height, depth, colour type, compression,
		// filter and interlace.
		if len(data) > 28 && data[28] == 1 {
			return 2 * bpp * px, "interlaced PNG"
		}
		return bpp * px, "PNG"
	case "jpeg":
		components, progressive := 3, false
		jpegSegments(data, func(marker byte, seg []byte) bool {
			// SOF0, SOF1 (baseline, extended) and SOF2 (progressive) are the frames
			// that image/jpeg decodes; the payload is precision, height, width and
			// the number of components.
			if marker >= 0xc0 && marker <= 0xc2 && len(seg) >= 6 {
				components, progressive = int(seg[5]), marker == 0xc2
				return false
			}
			return true
		})
		padded := (int64(cfg.Width) + 31) / 32 * 32 * ((int64(cfg.Height) + 31) / 32 * 32)
		bpp := int64(1)
		switch {
		case components == 3:
			bpp = 7
		case components > 3:
			bpp = 8
		}
		kind := "JPEG"
		if progressive {
			bpp += 4 * int64(components)
			kind = "progressive JPEG"
		}
		return bpp * padded, kind
	}
	return 8 * px, format
}
