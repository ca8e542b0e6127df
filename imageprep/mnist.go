package imageprep

import (
	"fmt"
	"image"
	"math"
	"slices"

	"golang.org/x/image/draw"
)

// Size is the side of an MNIST image (28).
const Size = 28

// DigitSize is the side of the box that the digit is scaled to fit, keeping its aspect
// ratio, before it is centred in the Size×Size image (LeCun et al.: 20×20).
const DigitSize = 20

// Constants of the background and contrast steps, in 8-bit grey levels (0 to 255).
// The package documentation sums up their reasons.
const (
	// noiseSigmas is the margin above the background, in standard deviations of the
	// paper noise, below which a pixel is paper. A Gaussian exceeds 5σ with
	// probability 2.9e-7: about 3 pixels of a 12-megapixel photo, too few and too
	// scattered to matter. Ink fainter than that cannot be told from noise.
	noiseSigmas = 5

	// madToSigma turns a median absolute deviation into the standard deviation of a
	// Gaussian: 1/Φ⁻¹(3/4) = 1/0.6745 = 1.4826.
	madToSigma = 1.4826

	// minMargin is the least margin: 8 levels, 3% of full scale. A clean or synthetic
	// border has a MAD of 0, so 5σ would be 0 and every level off the background,
	// down to 8-bit rounding and the few levels of JPEG error in smooth areas, would
	// count as ink.
	minMargin = 8

	// inkPercentile picks the ink level that is stretched to 255: the 95th percentile
	// of the pixels above the margin. The maximum would let one glint or dust speck
	// set the scale; at the 95th percentile up to 5% of the ink may be such outliers,
	// and the densest 5% of the strokes saturate, as MNIST's stroke cores do.
	inkPercentile = 0.95

	// minInk is the least contrast between the ink level and the margin: 16 levels,
	// 6% of full scale. Below that the "digit" is a few noise pixels just above the
	// margin, and the image is reported as blank.
	minInk = 16

	// boxLevel: a pixel sets the bounding box only if its stretched level is at least
	// 32, 1/8 of the ink's; fainter pixels inside the box keep their level. At JPEG
	// quality 75, a full-contrast edge rings by up to 30 levels (12%) as far as 7
	// pixels away (TestJPEGMatchesPNG measures 29); counted, that ringing would widen
	// the box and shrink the digit (for a 40-pixel '7', the result's correlation with
	// that of the lossless image fell from 0.999 to 0.83). The cost: an
	// anti-aliased fringe fainter than 1/8 does not count either, so a small digit
	// whose outermost row is that faint is scaled one pixel larger
	// (TestMNISTRealDigitsUpscaled: 0.3% more one-pixel differences than with no
	// threshold).
	boxLevel = 32

	// maxMargin is the largest margin that border noise may set: 64 levels, a quarter
	// of full scale, i.e. a paper noise σ of 12.8 levels. Real paper in a usable photo
	// is far smoother (JPEG of a phone photo in dim light: σ of 2 to 6). A larger spread
	// means that the border is not mostly paper but mostly ink: a tight crop, the
	// digit touching every side. Then the margin is this cap, which is enough to tell
	// the ink's side (polarity), and the paper's level is taken again from the border
	// (see paperLevel). Without the cap, 9 of 500 tight crops of MNIST digits had a
	// "margin" of up to 414 levels, more than the whole grey scale, and no digit.
	maxMargin = 64

	// paperQuantile: in a tight crop the paper is the border's extreme away from the
	// ink; its level is the border's 10th percentile (light ink) or 90th (dark ink), so
	// that a few pixels darker than the paper (a speck, JPEG undershoot) do not set it.
	// In tight crops of MNIST digits a quarter to a half of the border is within 32
	// levels of the paper's (fewer in the thinnest '1's: 3 of 44 pixels at least).
	paperQuantile = 0.10

	// quartileToSigma turns the lower quartile of absolute deviations into the
	// standard deviation of a Gaussian: 1/Φ⁻¹(5/8) = 1/0.3186 = 3.138. In a tight crop
	// the border pixels near the paper's level include the ink's anti-aliased edge,
	// often more of them than paper; their lower quartile is still paper.
	quartileToSigma = 3.138

	// noPaperMargin: in a tight crop, a margin from the paper's noise above 128 levels
	// (σ above 25.6) means that no level of the border is paper: uniform noise gives
	// about 250. Between maxMargin and this the margin is capped at maxMargin. The
	// thinnest tight crops of '1's, whose border is nearly all ink and anti-aliased
	// edge, can land above (4 of the 10,000 MNIST test digits): see clearPolarity.
	noPaperMargin = 2 * maxMargin

	// clearPolarity: the ink's side is clear if its total contrast beyond the margin is
	// at least 16 times the other side's. Noise is nearly symmetric: uniform noise had
	// ratios of 1.0 to 2.6 (25 images of 80 to 60,000 pixels); the 4 tight crops of
	// MNIST test digits whose border has no paper level (thin '1's) have ratios above
	// 5,000, and are prepared with the plane and the capped margin.
	clearPolarity = 16

	// blackLevel is the most that the median of a Size×Size image's border (its 108
	// outermost pixels) may be for the image to be passed through as already prepared:
	// minMargin (8) levels, the least difference that counts as ink. MNIST's own images
	// have a border median of 0; a dark-mode canvas (grey 30 to 40) or a screenshot's
	// grey is prepared instead, since the model never saw a grey background.
	blackLevel = minMargin
)

// MNIST prepares img as MNIST was made and returns Size*Size bytes, row-major, 0 =
// background (black), 255 = ink (white).
//
// A Size×Size image that is grey-valued (every pixel opaque with R == G == B, as an
// [*image.Gray] is) and has light ink on a black background (its border's median level
// is at most 8) is taken to be prepared already: its grey levels are returned unchanged.
// Any other image goes through the recipe in the package documentation. An image with no ink is an error wrapping
// [ErrNoDigit]; an empty image, or one of more than [MaxPixels] pixels or [MaxSide]
// pixels a side, is a [*SizeError]. img is not modified.
func MNIST(img image.Image) ([]uint8, error) {
	b := img.Bounds()
	if err := checkSize(b.Dx(), b.Dy()); err != nil {
		return nil, err
	}
	g, greyValued := toGray(img)
	w, h := g.Rect.Dx(), g.Rect.Dy()

	// The paper's level under uneven light, and its noise, from the border: the
	// digit should not fill it. A pixel's difference from that level, in [-255, 255],
	// is ink if it exceeds the margin, on one side or the other.
	bg, sigma := fitBackground(g)
	margin := max(minMargin, int(math.Ceil(noiseSigmas*sigma)))
	mostlyInk := margin > maxMargin // a tight crop: see maxMargin
	margin = min(margin, maxMargin)
	level := make([]int, w) // the background level of one row
	var diffs histogram
	diffs.fill(g, bg, level)
	lightInk, clear, err := polarity(&diffs, margin, bg)
	if err != nil {
		return nil, err
	}
	if mostlyInk {
		paper, paperMargin, err := paperLevel(g, lightInk)
		switch {
		case err == nil:
			bg, margin = paper, paperMargin
			diffs = histogram{}
			diffs.fill(g, bg, level)
		case !clear:
			return nil, err
		}
		// Else the border has no paper level (the thinnest crops of a '1': all ink
		// and anti-aliased edge), but the ink's side is clear: keep the plane and the
		// capped margin.
	}

	if greyValued && lightInk && w == Size && h == Size && borderMedian(g) <= blackLevel {
		out := make([]uint8, Size*Size)
		copy(out, g.Pix)
		return out, nil
	}

	// From here on, differences are in ink orientation: sign*d > 0 is ink.
	sign := 1
	if !lightInk {
		sign = -1
	}
	var ink histogram
	for d := -255; d <= 255; d++ {
		if l := sign * d; l > margin {
			ink.add(l, diffs.count(d))
		}
	}
	top := ink.quantile(inkPercentile)
	if top-margin < minInk {
		return nil, fmt.Errorf("%w: the ink (%d grey levels from the background) is within %d levels of the noise margin (%d levels)",
			ErrNoDigit, max(top, 0), minInk, margin)
	}

	// Remove the background and stretch: margin -> 0, top -> 255, clamped. g is our
	// own copy: overwrite it, and find the bounding box of what is left.
	box := image.Rectangle{Min: image.Pt(w, h)} // empty; grows below
	for y := range h {
		bg.fillRow(y, level)
		row := g.Pix[y*g.Stride : y*g.Stride+w]
		for x, v := range row {
			l := sign * (int(v) - level[x])
			switch {
			case l <= margin:
				row[x] = 0
				continue
			case l >= top:
				row[x] = 255
			default:
				row[x] = uint8(((l-margin)*255 + (top-margin)/2) / (top - margin))
			}
			if row[x] >= boxLevel {
				box.Min.X, box.Min.Y = min(box.Min.X, x), min(box.Min.Y, y)
				box.Max.X, box.Max.Y = max(box.Max.X, x+1), max(box.Max.Y, y+1)
			}
		}
	}
	if box.Empty() { // cannot happen: the pixels at the top level map to 255
		return nil, fmt.Errorf("%w: no pixel beyond the noise margin", ErrNoDigit)
	}

	digit := scaleToFit(g, box)
	if digit == nil {
		return nil, fmt.Errorf("%w: the ink vanished when scaled from %dx%d to fit %dx%d pixels",
			ErrNoDigit, box.Dx(), box.Dy(), DigitSize, DigitSize)
	}
	return center(digit), nil
}

// polarity reports whether the ink is lighter than the background: it is on the side
// of the background with more total contrast beyond the margin; the background's level
// decides a tie. clear reports that one side has at least clearPolarity times the other's
// contrast. An image with no pixel beyond the margin is an error wrapping ErrNoDigit.
func polarity(diffs *histogram, margin int, bg background) (lightInk, clear bool, err error) {
	var up, down int64
	for d := -255; d <= 255; d++ {
		n := int64(diffs.count(d))
		if d > margin {
			up += int64(d-margin) * n
		}
		if d < -margin {
			down += int64(-margin-d) * n
		}
	}
	if up == 0 && down == 0 {
		return false, false, fmt.Errorf("%w: every pixel is within %d grey levels of the background (level %.0f at the centre)",
			ErrNoDigit, margin, min(255, max(0, bg.a)))
	}
	return up > down || (up == down && bg.a < 128), max(up, down) >= clearPolarity*min(up, down), nil
}

// paperLevel is the background of an image whose border is mostly ink (a tight crop),
// once the ink's side is known: a constant, the border's paperQuantile on the side away
// from the ink, and the margin from the noise of the border pixels within maxMargin of
// that level (quartileToSigma times the lower quartile of their distances to it,
// noiseSigmas of that, at least minMargin, at most maxMargin). A margin above
// noPaperMargin means that there is no paper level on the border either (noise
// everywhere): an error wrapping ErrNoDigit.
func paperLevel(g *image.Gray, lightInk bool) (background, int, error) {
	border := borderPixels(g)
	slices.Sort(border)
	q := paperQuantile
	if !lightInk {
		q = 1 - paperQuantile
	}
	paper := int(border[min(len(border)-1, int(q*float64(len(border))))])
	var dev []float64
	for _, v := range border {
		d := int(v) - paper
		if !lightInk {
			d = -d
		}
		if d >= -maxMargin && d <= maxMargin {
			dev = append(dev, math.Abs(float64(d)))
		}
	}
	slices.Sort(dev)
	sigma := 0.0
	if len(dev) > 0 {
		sigma = quartileToSigma * dev[(len(dev)-1)/4]
	}
	margin := max(minMargin, int(math.Ceil(noiseSigmas*sigma)))
	w, h := g.Rect.Dx(), g.Rect.Dy()
	bg := background{a: float64(paper), x0: float64(w-1) / 2, y0: float64(h-1) / 2}
	if margin > noPaperMargin {
		return bg, 0, fmt.Errorf("%w: no paper on the border: its levels near the lightest or darkest spread as noise of more than %d grey levels", ErrNoDigit, noPaperMargin)
	}
	return bg, min(margin, maxMargin), nil
}

// borderPixels returns the levels of g's outermost rows and columns, each pixel once.
func borderPixels(g *image.Gray) []uint8 {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	var out []uint8
	for x := range w {
		out = append(out, g.Pix[x])
		if h > 1 {
			out = append(out, g.Pix[(h-1)*g.Stride+x])
		}
	}
	for y := 1; y < h-1; y++ {
		out = append(out, g.Pix[y*g.Stride])
		if w > 1 {
			out = append(out, g.Pix[y*g.Stride+w-1])
		}
	}
	return out
}

// borderMedian is the lower median of g's border pixels (see borderPixels).
func borderMedian(g *image.Gray) uint8 {
	b := borderPixels(g)
	slices.Sort(b)
	return b[(len(b)-1)/2]
}

// scaleToFit scales the part box of g so that its longer side is DigitSize pixels,
// keeping the aspect ratio (the shorter side is rounded, and at least 1), with
// Catmull-Rom resampling, which filters properly when shrinking. The result is
// stretched so that its brightest pixel is 255: a thin stroke in a large photo comes
// out faint after shrinking, and MNIST strokes reach 255. It returns nil if nothing is
// left: a few isolated pixels in a large box can cancel out against the kernel's
// negative lobes.
func scaleToFit(g *image.Gray, box image.Rectangle) *image.Gray {
	bw, bh := box.Dx(), box.Dy()
	w, h := DigitSize, DigitSize
	if bw >= bh {
		h = max(1, (2*DigitSize*bh+bw)/(2*bw)) // round(DigitSize*bh/bw)
	} else {
		w = max(1, (2*DigitSize*bw+bh)/(2*bh))
	}
	// Scale into 16 bits, so that the stretch below rounds once.
	wide := image.NewGray16(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(wide, wide.Rect, g, box, draw.Src, nil)
	var peak uint32
	for i := 0; i < len(wide.Pix); i += 2 {
		peak = max(peak, uint32(wide.Pix[i])<<8|uint32(wide.Pix[i+1]))
	}
	if peak == 0 {
		return nil
	}
	out := image.NewGray(wide.Rect)
	for i := range out.Pix {
		v := uint32(wide.Pix[2*i])<<8 | uint32(wide.Pix[2*i+1])
		out.Pix[i] = uint8((v*255 + peak/2) / peak)
	}
	return out
}

// center pastes digit into a black Size×Size image so that its centre of mass lands on
// pixel (Size/2, Size/2), rounding the shift to whole pixels. Coordinates are pixel
// indices: in MNIST's own test set the mean centre of mass is (14.008, 13.993) in
// these coordinates. If the shift would push part of the digit out of the image, it is
// clamped so that nothing is cut off; the centre of mass then misses the centre.
func center(digit *image.Gray) []uint8 {
	w, h := digit.Rect.Dx(), digit.Rect.Dy()
	var mass, mx, my float64
	for y := range h {
		for x := range w {
			v := float64(digit.Pix[y*digit.Stride+x])
			mass += v
			mx += v * float64(x)
			my += v * float64(y)
		}
	}
	cx, cy := float64(w-1)/2, float64(h-1)/2 // geometric centre if there is no mass
	if mass > 0 {
		cx, cy = mx/mass, my/mass
	}
	ox := min(max(int(math.Round(Size/2-cx)), 0), Size-w)
	oy := min(max(int(math.Round(Size/2-cy)), 0), Size-h)
	out := make([]uint8, Size*Size)
	for y := range h {
		copy(out[(oy+y)*Size+ox:], digit.Pix[y*digit.Stride:y*digit.Stride+w])
	}
	return out
}

// toGray converts img to 8-bit luma in a new image with origin (0,0), and reports
// whether img is grey-valued: every pixel opaque with R == G == B. Luma is that of
// color.GrayModel (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B).
//
// A translucent image is first composited onto a backdrop, chosen from the typical
// colour of its visible part: the median luma (un-premultiplied) of its pixels,
// weighted by opacity. If the image is mostly transparent (strokes on a transparent
// canvas) that colour is the ink's, and the backdrop is black or white, whichever is
// farther from it. If it is mostly opaque (transparent corners or holes in a picture)
// that colour is the paper's, and the backdrop is that colour, so the clear parts look
// like paper.
func toGray(img image.Image) (g *image.Gray, greyValued bool) {
	b := img.Bounds()
	at := rgbaAt(img)
	var backdrop uint32 // 16-bit grey level under translucent pixels
	if o, ok := img.(interface{ Opaque() bool }); !ok || !o.Opaque() {
		var weight [256]uint64 // alpha-weighted histogram of un-premultiplied luma
		var sumAlpha uint64    // < 50e6 * 0xffff: no overflow
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, gr, bl, a := at(x, y)
				if a == 0 {
					continue
				}
				weight[min(0xffff, luma16(r, gr, bl)*0xffff/a)>>8] += uint64(a)
				sumAlpha += uint64(a)
			}
		}
		var typical uint32 // the weighted median, in 16 bits
		for v, cum := 0, uint64(0); v < len(weight); v++ {
			if cum += weight[v]; 2*cum >= sumAlpha {
				typical = uint32(v) * 0x101
				break
			}
		}
		switch full := uint64(b.Dx()) * uint64(b.Dy()) * 0xffff; {
		case 2*sumAlpha >= full:
			backdrop = typical
		case typical < 0x8000:
			backdrop = 0xffff
		}
	}

	g = image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	greyValued = true
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := g.Pix[(y-b.Min.Y)*g.Stride:]
		for x := b.Min.X; x < b.Max.X; x++ {
			r, gr, bl, a := at(x, y)
			if a != 0xffff || r != gr || r != bl {
				greyValued = false
			}
			// Premultiplied "over": luma plus the backdrop where the pixel is clear.
			row[x-b.Min.X] = uint8((luma16(r, gr, bl) + (0xffff-a)*backdrop/0xffff) >> 8)
		}
	}
	return g, greyValued
}

// luma16 is the 16-bit luma of color.GrayModel, before its final shift by 8: the
// weights 19595 + 38470 + 7471 sum to 65536, so the sum fits in a uint32.
func luma16(r, g, b uint32) uint32 {
	return (19595*r + 38470*g + 7471*b + 1<<15) >> 16
}

// rgbaAt returns a function that gives img.At(x, y).RGBA(). For the types that the
// decoders return it calls the typed accessor, which avoids allocating a color.Color
// per pixel; the result is the same, since At calls that accessor too.
func rgbaAt(img image.Image) func(x, y int) (r, g, b, a uint32) {
	switch m := img.(type) {
	case *image.Gray:
		return func(x, y int) (r, g, b, a uint32) { return m.GrayAt(x, y).RGBA() }
	case *image.Gray16:
		return func(x, y int) (r, g, b, a uint32) { return m.Gray16At(x, y).RGBA() }
	case *image.RGBA:
		return func(x, y int) (r, g, b, a uint32) { return m.RGBAAt(x, y).RGBA() }
	case *image.NRGBA:
		return func(x, y int) (r, g, b, a uint32) { return m.NRGBAAt(x, y).RGBA() }
	case *image.YCbCr:
		return func(x, y int) (r, g, b, a uint32) { return m.YCbCrAt(x, y).RGBA() }
	case *image.NYCbCrA:
		return func(x, y int) (r, g, b, a uint32) { return m.NYCbCrAAt(x, y).RGBA() }
	case image.RGBA64Image: // an oriented JPEG (see orient), and other types with RGBA64At
		return func(x, y int) (r, g, b, a uint32) {
			c := m.RGBA64At(x, y)
			return uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A)
		}
	}
	return func(x, y int) (r, g, b, a uint32) { return img.At(x, y).RGBA() }
}

// histogram counts pixels per difference from the background level, -255 to 255.
type histogram [511]int

func (h *histogram) add(d, n int) { h[d+255] += n }

// fill counts the difference of every pixel of g from the background bg; level is a
// scratch row of g's width.
func (h *histogram) fill(g *image.Gray, bg background, level []int) {
	w := len(level)
	for y := range g.Rect.Dy() {
		bg.fillRow(y, level)
		for x, v := range g.Pix[y*g.Stride : y*g.Stride+w] {
			h.add(int(v)-level[x], 1)
		}
	}
}
func (h *histogram) count(d int) int { return h[d+255] }

// quantile returns the smallest difference d such that at least a fraction q of the
// counted pixels are at or below d (the lower median for q = 0.5). It returns -255
// for an empty histogram.
func (h *histogram) quantile(q float64) int {
	total := 0
	for _, n := range h {
		total += n
	}
	rank := max(1, int(math.Ceil(q*float64(total))))
	cum := 0
	for i, n := range h {
		cum += n
		if cum >= rank {
			return i - 255
		}
	}
	return -255
}
