// Package imageprep turns an image of one handwritten digit into an MNIST input; it
// favours a faithful copy of MNIST's own preparation, and predictable output, over
// robustness to cluttered photos.
//
// [Decode] and [DecodeFile] read PNG, JPEG and GIF with the standard library's decoders
// (importing this package registers them with [image.Decode] for the whole program). A
// JPEG is turned or mirrored as its EXIF Orientation tag says (values 2 to 8, as phones
// write them), as image viewers show it; a missing or malformed tag leaves it as stored.
// The EXIF reader is this package's own, small and bounded: it looks only for IFD0's tag
// 0x0112 in the first APP1 Exif segment before the image data.
// [MNIST] turns the decoded image into Size*Size bytes, row-major, 0 for background and
// 255 for ink: the layout of the IDX files.
//
// The package imports only the standard library and golang.org/x/image/draw, so that a
// small inference binary can link it.
//
// # Recipe
//
// LeCun, Cortes and Burges made MNIST from NIST's binary images: each digit's bounding
// box was scaled to fit a 20×20 box keeping its aspect ratio, with anti-aliasing (hence
// the grey levels), then placed in a 28×28 image so that its centre of mass is at the
// centre. [MNIST] does the same, starting from any image:
//
//  1. Grey: the luma of [image/color.GrayModel] (BT.601). A translucent image is
//     first composited onto a backdrop: black or white, away from the ink's colour,
//     if it is mostly transparent (strokes on a transparent canvas); the paper's
//     colour if it is mostly opaque (transparent corners).
//  2. Background: a plane (level, and slope across the image for uneven light)
//     fitted robustly to the border pixels; the noise σ is 1.4826 times the median
//     absolute residual. A pixel's difference from the plane counts as ink only
//     beyond a margin of max(8, ⌈5σ⌉) levels. If that margin exceeds 64 levels (a
//     paper noise σ above 12.8), the border is mostly ink, not paper: a tight crop,
//     the digit touching every side. The margin is then 64 for step 3, and after it
//     the background is a constant, the border's 10th percentile (light ink) or 90th
//     (dark ink), with a margin from the noise of the border pixels near that level
//     (5 times 3.138 times the lower quartile of their distances to it, at least 8,
//     at most 64). If the border has no such level (a margin above 128), the plane
//     and the margin of 64 stay, provided that the ink's side is clear (16 times the
//     other side's contrast, as in the thinnest crops of a '1'); else (noise
//     everywhere) there is no digit.
//  3. Polarity: the ink is on the side of the background (lighter or darker) with more
//     total contrast beyond the margin (a tie: dark ink if the background is lighter
//     than mid-grey). Dark ink on light paper is inverted.
//  4. Pass-through: an image that is already MNIST-like is returned unchanged:
//     Size×Size, grey-valued (every pixel opaque with R == G == B, as an [*image.Gray]
//     is), light ink, and a black background: the median of its border (the 108
//     pixels of its outermost rows and columns) is at most 8. An MNIST image written to
//     a grey PNG thus comes back byte for byte (their border median is 0), and a
//     classifier sees exactly what it sees in the IDX file. Light ink on a grey
//     background (a dark-mode canvas, a screenshot) is prepared like any other image.
//  5. Contrast: the margin becomes 0 and the ink level (the 95th percentile of the
//     differences beyond the margin) becomes 255, linearly, clamped. Grey pencil on
//     grey paper becomes a bright digit on black.
//  6. Bounding box of the pixels at 32 (1/8 of the ink level) or more after step 5.
//  7. Scale: the box is resampled with golang.org/x/image/draw's Catmull-Rom kernel
//     (anti-aliased, and a proper low-pass filter when shrinking) so that its longer
//     side is [DigitSize] (20) pixels; the shorter side is rounded, at least 1. The
//     result is stretched once more so that its brightest pixel is 255.
//  8. Centre: the scaled digit is pasted into a black Size×Size image with its centre
//     of mass on pixel (14, 14), the shift rounded to whole pixels and clamped so that
//     no ink is cut off. Coordinates are pixel indices, as in MNIST, whose test set
//     has its mean centre of mass at (14.008, 13.993).
//
// An image with no ink is an error wrapping [ErrNoDigit].
//
// # Constants
//
// Each is derived where it is declared; in short:
//
//   - Border statistics (a robust plane, the median absolute residual) ignore ink on
//     up to half of the border, so a digit touching the edge does not move the
//     background; beyond that, the fallback for a border that is mostly ink (step 2).
//   - A 5σ margin: noise alone exceeds it in about 3 pixels of a 12-megapixel photo.
//     At least 8 levels: a clean border gives σ = 0, and 8-bit rounding and JPEG error
//     in smooth areas would otherwise count as ink.
//   - Ink level at the 95th percentile, not the maximum: a few glints or specks do not
//     set the scale, and stroke cores saturate at 255 as MNIST's do.
//   - At least 16 levels between ink level and margin, else "no digit": a blank, noisy
//     photo has a few pixels just beyond the margin, not a digit.
//   - Box threshold 1/8 of the ink: JPEG ringing (up to 12% of an edge's contrast at
//     quality 75) does not widen the box; a fainter anti-aliased fringe does not count
//     either.
//   - 20 and 28: MNIST's own sizes. The final stretch to 255 after scaling: a thin
//     pen stroke in a large photo is faint once shrunk 20 or 50 times; MNIST's are not.
//
// # Trade-offs and limits
//
//   - One digit, cropped, on a background that is smooth enough for a plane: strong
//     vignetting, shadows, ruled lines, other marks or a second digit all end up in the
//     bounding box or raise the margin. There is no segmentation, no connected-component
//     filtering and no deskewing.
//   - Stroke width is not normalised: a thin pen line stays thinner than MNIST's
//     strokes, which may cost accuracy.
//   - The pass-through trusts its input: a Size×Size grey image with a black
//     background is not re-centred or re-scaled, even if it was not prepared as MNIST.
//   - Noise is not a digit only when it is told apart from ink on the border: a large
//     image of uniform noise is "no digit", a small one (28×28) may have a "paper"
//     level on its border and be prepared like a tight crop.
//   - Catmull-Rom overshoots slightly at sharp edges; the overshoot is clamped to 0 and
//     255, so a binary digit comes out with anti-aliased but not ringing edges.
//   - The whole image is converted to an 8-bit grey copy first: one byte a pixel more,
//     50 MB at [MaxPixels]; about 0.3 s for a 12-megapixel photo.
//
// # Memory
//
// One image never needs more than about 600 MB, whatever its content: the encoded file,
// read whole (at most [MaxBytes], 64 MiB); the decoded image (at most
// [MaxDecodedBytes], 425 MB, estimated from the header before any pixel is decoded: a
// 50-megapixel 16-bit RGBA PNG; a baseline JPEG takes at most 7 bytes a pixel);
// the grey copy (1 byte a pixel, 50 MB); and the Catmull-Rom scaler's buffers (32 bytes
// for each of the 20 output columns and each source row of the digit's box, plus its
// weights: under 50 MB at [MaxSide]). Nothing is kept between calls, so a program that
// drops one image before it reads the next (cmd/classify) needs that much once, not once
// per image.
//
// # Errors
//
// Every error's text starts with "imageprep: ". Bad input gets a typed error carrying
// its data: [*SizeError] (empty, over [MaxPixels] or over [MaxSide] a side),
// [*MemoryError] (decoding would allocate more than [MaxDecodedBytes]),
// [*NotRegularError] (a directory, pipe or device given to DecodeFile), or an error
// wrapping [ErrNoDigit], [ErrTooManyBytes] or [image.ErrFormat]. No input makes these
// functions panic.
//
// # Invariants
//
// Inputs are never modified; every result is newly allocated. MNIST is idempotent: its
// output, as a Size×Size [*image.Gray], passes through it unchanged.
package imageprep
