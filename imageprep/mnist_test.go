package imageprep

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/image/draw"
)

// A Size×Size grey-valued image with light ink on a black background comes back byte for
// byte, whatever its type and origin.
func TestMNISTPassThrough(t *testing.T) {
	// A digit-like pattern with every grey level, on black.
	pattern := newGray(Size, Size, func(x, y int) uint8 {
		if x < 6 || x > 21 || y < 4 || y > 23 {
			return 0
		}
		return uint8((x*37 + y*101) % 256)
	})
	asRGBA := image.NewRGBA(pattern.Rect)
	draw.Draw(asRGBA, asRGBA.Rect, pattern, image.Point{}, draw.Src)
	asGray16 := image.NewGray16(pattern.Rect)
	draw.Draw(asGray16, asGray16.Rect, pattern, image.Point{}, draw.Src)
	offset := image.NewGray(image.Rect(-5, 7, -5+Size, 7+Size))
	draw.Draw(offset, offset.Rect, pattern, image.Point{}, draw.Src)
	// Ink touching the border on one side: the border median is still the background.
	touching := newGray(Size, Size, func(x, y int) uint8 {
		if x >= 10 && x < 14 {
			return 255
		}
		return 0
	})

	tests := []struct {
		name string
		img  image.Image
		want []uint8
	}{
		{"Gray", pattern, pattern.Pix},
		{"RGBA with R==G==B", asRGBA, pattern.Pix},
		{"Gray16", asGray16, pattern.Pix},
		{"Gray with offset bounds", offset, pattern.Pix},
		{"hidden type", hideType{pattern}, pattern.Pix},
		{"ink touching the border", touching, touching.Pix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MNIST(tt.img)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("changed:\n%s\nwant:\n%s", ascii(got), ascii(tt.want))
			}
		})
	}
}

// Every MNIST test image, as an *image.Gray and written to and read back from a grey
// PNG, comes back byte for byte: a classifier fed through this package sees exactly
// the bytes of the IDX file.
func TestMNISTPassThroughRealDigits(t *testing.T) {
	for i, pix := range realMNIST(t) {
		got, err := MNIST(grayFromBytes(pix))
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		if !bytes.Equal(got, pix) {
			t.Fatalf("image %d changed:\n%s\nwant:\n%s", i, ascii(got), ascii(pix))
		}

		if testing.Short() && i >= 1000 {
			continue // the PNG round trip takes most of the time
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, grayFromBytes(pix)); err != nil {
			t.Fatal(err)
		}
		img, err := Decode(&buf)
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		if got, err := MNIST(img); err != nil || !bytes.Equal(got, pix) {
			t.Fatalf("image %d through PNG: err %v, changed: %t", i, err, !bytes.Equal(got, pix))
		}
	}
}

// Synthetic digits drawn at 28×28, upscaled 3 times (84×84) and inverted to black on
// white: the result's ink box has its longer side DigitSize, its shorter side in
// proportion (rounded), and its centre of mass within half a pixel of (14, 14), the
// most that rounding the shift to whole pixels allows.
func TestMNISTGeometry(t *testing.T) {
	one := strokes(Size, Size, 0, 255, 1.5, segment{14, 4, 14, 24}, segment{14, 4, 10, 8})
	tests := []struct {
		name         string
		img          *image.Gray // white on black, Size×Size
		wantW, wantH int         // size of the result's ink box
	}{
		{"square", rects(Size, Size, image.Rect(8, 8, 20, 20)), 20, 20},
		{"rectangle 10x20", rects(Size, Size, image.Rect(9, 4, 19, 24)), 10, 20},
		// 20*4/24 = 3.33: a tall thin bar stays tall and thin.
		{"tall bar 4x24", rects(Size, Size, image.Rect(12, 2, 16, 26)), 3, 20},
		{"wide bar 24x4", rects(Size, Size, image.Rect(2, 12, 26, 16)), 20, 3},
		// 20*6/9 = 13.33. In a corner: it moves to the centre.
		{"corner 6x9", rects(Size, Size, image.Rect(0, 0, 6, 9)), 13, 20},
		// The stroke's pixels span x 9-15 and y 3-24: 20*7/22 = 6.4. The flag puts
		// mass left of the stem, so the box is off centre.
		{"stroke 1", one, 6, 20},
		// An L: a bar and a heavy foot, so the centre of mass is low and left.
		{"L", rects(Size, Size, image.Rect(6, 4, 10, 24), image.Rect(6, 18, 22, 24)), 16, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MNIST(invert(upscale(tt.img, 3)))
			if err != nil {
				t.Fatal(err)
			}
			box, cx, cy := inkStats(got)
			if box.Dx() != tt.wantW || box.Dy() != tt.wantH {
				t.Errorf("ink box %v is %dx%d, want %dx%d\n%s", box, box.Dx(), box.Dy(), tt.wantW, tt.wantH, ascii(got))
			}
			if math.Abs(cx-Size/2) > 0.5 || math.Abs(cy-Size/2) > 0.5 {
				t.Errorf("centre of mass (%.3f, %.3f), want (14, 14) within 0.5\n%s", cx, cy, ascii(got))
			}
		})
	}
}

// A 28×28 black-on-white image is not taken as prepared: it is inverted, scaled and
// centred.
func TestMNISTLightBackground28(t *testing.T) {
	// A 6x12 black bar near the corner of a white 28x28 image.
	img := invert(rects(Size, Size, image.Rect(1, 1, 7, 13)))
	got, err := MNIST(img)
	if err != nil {
		t.Fatal(err)
	}
	// 10x20; its centre of mass, at index 4.5 and 9.5 in the bar, lands on 14.5 and
	// 14.5: the shifts 9.5 and 4.5 round away from zero.
	want := rects(Size, Size, image.Rect(10, 5, 20, 25))
	if !bytes.Equal(got, want.Pix) {
		t.Errorf("got\n%s\nwant\n%s", ascii(got), ascii(want.Pix))
	}
}

// Real MNIST digits, upscaled 3 times with nearest-neighbour sampling and inverted
// (black on white), come back close to the original. The originals were made by the
// same recipe, so the differences are the resampling filter, the rounding of the
// centring shift (where the original's centre of mass is near a half pixel, ours can
// round the other way: a one-pixel shift), and the box: a faint fringe below boxLevel
// does not count for it, and a digit whose fringe is a whole row or column is scaled
// one pixel larger.
//
// Thresholds: a one-pixel shift of an MNIST digit against itself has a correlation of
// 0.79 on average over the test set. So after the best alignment within one pixel,
// every digit must correlate above 0.85, closer than such a misregistered copy of
// itself (measured: min 0.88, 1st percentile 0.995, median 0.998). Without alignment,
// the mean must exceed 0.98 (measured 0.995) and at most 2% may fall at or below 0.95
// (measured 1.47%, most of them the one-pixel rounding flips).
func TestMNISTRealDigitsUpscaled(t *testing.T) {
	images := realMNIST(t)
	if testing.Short() {
		images = images[:500]
	}
	const minAligned, minMean, minRaw, maxLow = 0.85, 0.98, 0.95, 0.02
	var aligned []float64
	low, sum := 0, 0.0
	for i, pix := range images {
		got, err := MNIST(invert(upscale(grayFromBytes(pix), 3)))
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		c := correlation(got, pix)
		sum += c
		if c <= minRaw {
			low++
		}
		best := c
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				best = max(best, correlation(shift(got, dx, dy), pix))
			}
		}
		aligned = append(aligned, best)
		if best <= minAligned {
			t.Errorf("image %d: correlation %.3f after alignment, want > %.2f\ngot\n%s\nwant\n%s",
				i, best, minAligned, ascii(got), ascii(pix))
		}
	}
	n := float64(len(images))
	slices.Sort(aligned)
	t.Logf("%d images: aligned correlation min %.4f, 1st percentile %.4f, median %.4f; unaligned mean %.4f, %d (%.2f%%) at or below %.2f",
		len(images), aligned[0], aligned[len(aligned)/100], aligned[len(aligned)/2], sum/n, low, 100*float64(low)/n, minRaw)
	if sum/n <= minMean {
		t.Errorf("mean correlation %.4f, want > %.2f", sum/n, minMean)
	}
	if float64(low) > maxLow*n {
		t.Errorf("%d of %d images correlate at or below %.2f without alignment, want at most %.0f%%",
			low, len(images), minRaw, 100*maxLow)
	}
}

// shift moves a Size×Size image by (dx, dy) pixels, filling with black.
func shift(pix []uint8, dx, dy int) []uint8 {
	out := make([]uint8, Size*Size)
	for y := range Size {
		for x := range Size {
			if sx, sy := x-dx, y-dy; sx >= 0 && sx < Size && sy >= 0 && sy < Size {
				out[y*Size+x] = pix[sy*Size+sx]
			}
		}
	}
	return out
}

// A colour photo of grey pencil on grey paper, with noise and uneven light, gives the
// same digit as a clean white-on-black drawing of the same shape.
func TestMNISTPhoto(t *testing.T) {
	const w, h = 140, 140
	mask := strokes(w, h, 0, 255, 9, seven...)
	clean, err := MNIST(mask)
	if err != nil {
		t.Fatal(err)
	}
	paper := [3]float64{182, 176, 160} // greyish yellow: luma 176
	tests := []struct {
		name     string
		contrast float64 // pencil = paper - contrast (luma levels)
		falloff  float64 // light falls off by this many levels from left to right
		noise    float64 // σ of Gaussian noise per channel, in levels
	}{
		{"even light", 80, 0, 3},
		{"light falling off", 80, 30, 3},
		{"noisy", 80, 6, 8},
		// 40 levels of contrast, less than the 60 that the light falls off by.
		{"dim pencil, strong falloff", 40, 60, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			photo := image.NewRGBA(image.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					var c [3]uint8
					for i := range c {
						v := paper[i] - tt.falloff*float64(x)/w + tt.noise*rng.NormFloat64()
						if mask.GrayAt(x, y).Y != 0 {
							v -= tt.contrast
						}
						c[i] = uint8(min(255, max(0, math.Round(v))))
					}
					photo.SetRGBA(x, y, color.RGBA{c[0], c[1], c[2], 255})
				}
			}
			got, err := MNIST(photo)
			if err != nil {
				t.Fatal(err)
			}
			box, cx, cy := inkStats(got)
			if max(box.Dx(), box.Dy()) != DigitSize || math.Abs(cx-Size/2) > 0.5 || math.Abs(cy-Size/2) > 0.5 {
				t.Errorf("ink box %v, centre of mass (%.2f, %.2f)\n%s", box, cx, cy, ascii(got))
			}
			// 0.99: noise moves the stroke edges by about a source pixel, 1/5 of an
			// output pixel here. Measured: 0.9998 to 0.9999.
			c := correlation(got, clean)
			t.Logf("correlation with the clean drawing: %.4f", c)
			if c < 0.99 {
				t.Errorf("correlation with the clean drawing %.3f, want >= 0.99\ngot\n%s\nclean\n%s", c, ascii(got), ascii(clean))
			}
		})
	}
}

// Translucent images: strokes on a transparent canvas, black or white, and an opaque
// picture with transparent corners, give exactly what the same picture gives on an
// opaque background.
func TestMNISTTransparent(t *testing.T) {
	mask := strokes(140, 140, 0, 255, 9, seven...)
	want, err := MNIST(mask)
	if err != nil {
		t.Fatal(err)
	}
	// paint returns mask as an NRGBA image: ink where the mask is set, bg elsewhere.
	paint := func(ink, bg color.NRGBA) *image.NRGBA {
		m := image.NewNRGBA(mask.Rect)
		for i, v := range mask.Pix {
			c := bg
			if v != 0 {
				c = ink
			}
			m.SetNRGBA(i%140, i/140, c)
		}
		return m
	}
	clear := color.NRGBA{}
	corners := paint(color.NRGBA{0, 0, 0, 255}, color.NRGBA{255, 255, 255, 255})
	for _, p := range []image.Point{{0, 0}, {139, 0}, {0, 139}, {139, 139}} {
		draw.Draw(corners, image.Rectangle{Min: p, Max: p.Add(image.Pt(1, 1))}.Inset(-4), image.Transparent, image.Point{}, draw.Src)
	}
	tests := []struct {
		name string
		img  image.Image
	}{
		{"black strokes on transparent", paint(color.NRGBA{0, 0, 0, 255}, clear)},
		{"white strokes on transparent", paint(color.NRGBA{255, 255, 255, 255}, clear)},
		{"black strokes on transparent white", paint(color.NRGBA{0, 0, 0, 255}, color.NRGBA{255, 255, 255, 0})},
		{"black on white with transparent corners", corners},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MNIST(tt.img)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", ascii(got), ascii(want))
			}
		})
	}
}

// The contrast threshold, exactly: the ink must be minMargin + minInk = 24 levels from
// a noiseless background.
func TestMNISTFaintInk(t *testing.T) {
	for _, contrast := range []int{1, 8, 9, 23, 24, 25, 100} {
		img := strokes(60, 60, 200, uint8(200-contrast), 5, segment{30, 10, 30, 50})
		_, err := MNIST(img)
		if wantErr := contrast < minMargin+minInk; (err != nil) != wantErr {
			t.Errorf("contrast %d: error %v, want error: %t", contrast, err, wantErr)
		}
		if err != nil && !errors.Is(err, ErrNoDigit) {
			t.Errorf("contrast %d: error %v, want ErrNoDigit", contrast, err)
		}
	}
}

// bigImage claims huge bounds; MNIST must refuse it before reading any pixel.
type bigImage struct{ image.Rectangle }

func (bigImage) ColorModel() color.Model   { return color.GrayModel }
func (b bigImage) Bounds() image.Rectangle { return b.Rectangle }
func (bigImage) At(x, y int) color.Color   { panic("bigImage: At called") }

func TestMNISTErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name    string
		img     image.Image
		noDigit bool       // error wraps ErrNoDigit
		size    *SizeError // else error is this *SizeError
	}{
		{"blank white", newGray(50, 50, func(x, y int) uint8 { return 255 }), true, nil},
		{"blank black 28x28", image.NewGray(image.Rect(0, 0, Size, Size)), true, nil},
		{"infinite uniform", image.NewUniform(color.RGBA{90, 120, 150, 255}), false, &SizeError{2e9, 2e9}},
		{"blank grey RGBA 30x20", func() image.Image {
			m := image.NewRGBA(image.Rect(0, 0, 30, 20))
			draw.Draw(m, m.Rect, image.NewUniform(color.RGBA{90, 120, 150, 255}), image.Point{}, draw.Src)
			return m
		}(), true, nil},
		{"fully transparent", image.NewNRGBA(image.Rect(0, 0, 40, 40)), true, nil},
		// Uniform noise of ±3 levels around 128: its 5σ margin covers it all.
		{"noise only", newGray(100, 100, func(x, y int) uint8 { return uint8(125 + rng.IntN(7)) }), true, nil},
		{"1x1", newGray(1, 1, func(x, y int) uint8 { return 255 }), true, nil},
		{"empty", image.NewGray(image.Rectangle{}), false, &SizeError{0, 0}},
		{"zero height", image.NewGray(image.Rect(0, 0, 10, 0)), false, &SizeError{10, 0}},
		{"huge", bigImage{image.Rect(0, 0, 10000, 10000)}, false, &SizeError{10000, 10000}},
		{"one side too long", bigImage{image.Rect(0, 0, MaxSide+1, 1)}, false, &SizeError{MaxSide + 1, 1}},
		{"product overflows", bigImage{image.Rect(0, 0, 1<<32, 1<<32)}, false, &SizeError{1 << 32, 1 << 32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MNIST(tt.img)
			if err == nil {
				t.Fatalf("no error; got\n%s", ascii(got))
			}
			if !strings.HasPrefix(err.Error(), "imageprep: ") {
				t.Errorf("error %q does not start with \"imageprep: \"", err)
			}
			if tt.noDigit && !errors.Is(err, ErrNoDigit) {
				t.Errorf("error %v, want ErrNoDigit", err)
			}
			if tt.size != nil {
				var se *SizeError
				if !errors.As(err, &se) || *se != *tt.size {
					t.Errorf("error %v, want %v", err, tt.size)
				}
			}
		})
	}
}

// MNIST never changes its input.
func TestMNISTDoesNotModifyInput(t *testing.T) {
	gray := strokes(140, 140, 230, 20, 9, seven...)
	rgba := image.NewRGBA(gray.Rect)
	draw.Draw(rgba, rgba.Rect, gray, image.Point{}, draw.Src)
	prepared := rects(Size, Size, image.Rect(9, 4, 19, 24)) // passes through
	for _, tt := range []struct {
		img image.Image
		pix []uint8
	}{{gray, gray.Pix}, {rgba, rgba.Pix}, {prepared, prepared.Pix}} {
		before := slices.Clone(tt.pix)
		out, err := MNIST(tt.img)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, tt.pix) {
			t.Errorf("%T modified", tt.img)
		}
		out[0] = 1 // the result must not share memory with the input
		if !bytes.Equal(before, tt.pix) {
			t.Errorf("%T shares memory with the result", tt.img)
		}
	}
}

// MNIST's output, fed back to it, comes back unchanged: it is a prepared image.
func TestMNISTIdempotent(t *testing.T) {
	inputs := []image.Image{
		strokes(140, 140, 255, 0, 9, seven...),
		rects(Size, Size, image.Rect(0, 0, 6, 9)),
		invert(upscale(rects(Size, Size, image.Rect(2, 12, 26, 16)), 3)),
	}
	for i, img := range inputs {
		once, err := MNIST(img)
		if err != nil {
			t.Fatal(err)
		}
		twice, err := MNIST(grayFromBytes(once))
		if err != nil || !bytes.Equal(once, twice) {
			t.Errorf("input %d: second pass err %v, changed: %t", i, err, !bytes.Equal(once, twice))
		}
	}
}

// The typed pixel accessors give exactly what the generic At does, so MNIST gives the
// same bytes for an image whatever its concrete type is known to be.
func TestRGBAAtMatchesAt(t *testing.T) {
	const w, h = 37, 23
	rng := rand.New(rand.NewPCG(5, 6))
	fill := func(m draw.Image) draw.Image {
		for y := range h {
			for x := range w {
				m.Set(x, y, color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256))})
			}
		}
		return m
	}
	r := image.Rect(0, 0, w, h)
	ycc := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	nycca := image.NewNYCbCrA(r, image.YCbCrSubsampleRatio422)
	for _, p := range [][]uint8{ycc.Y, ycc.Cb, ycc.Cr, nycca.Y, nycca.Cb, nycca.Cr, nycca.A} {
		for i := range p {
			p[i] = uint8(rng.IntN(256))
		}
	}
	images := []image.Image{
		fill(image.NewGray(r)), fill(image.NewGray16(r)), fill(image.NewRGBA(r)),
		fill(image.NewNRGBA(r)), ycc, nycca,
	}
	for _, img := range images {
		at := rgbaAt(img)
		for y := range h {
			for x := range w {
				r0, g0, b0, a0 := img.At(x, y).RGBA()
				if r1, g1, b1, a1 := at(x, y); r0 != r1 || g0 != g1 || b0 != b1 || a0 != a1 {
					t.Fatalf("%T at (%d, %d): %x %x %x %x, want %x %x %x %x", img, x, y, r1, g1, b1, a1, r0, g0, b0, a0)
				}
			}
		}
	}
}

func TestHistogramQuantile(t *testing.T) {
	var h histogram
	for _, d := range []int{3, 1, -4, 1, 5, 255, -2, -255} { // sorted: -255 -4 -2 1 1 3 5 255
		h.add(d, 1)
	}
	for _, tt := range []struct {
		q    float64
		want int
	}{{0, -255}, {0.25, -4}, {0.5, 1}, {0.51, 1}, {0.75, 3}, {0.76, 5}, {0.95, 255}, {1, 255}} {
		if got := h.quantile(tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %d, want %d", tt.q, got, tt.want)
		}
	}
	var empty histogram
	if got := empty.quantile(0.5); got != -255 {
		t.Errorf("empty: quantile(0.5) = %d, want -255", got)
	}
}

// The largest side allowed, at the largest pixel count: no blow-up in the scaler.
func TestMNISTLongThinImage(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a 50-megapixel image")
	}
	g := image.NewGray(image.Rect(0, 0, MaxSide, MaxPixels/MaxSide))
	for i := range g.Pix {
		g.Pix[i] = 255
	}
	row := g.Rect.Dy() / 2
	for x := 100; x < MaxSide-100; x++ {
		g.Pix[row*g.Stride+x] = 0
	}
	got, err := MNIST(g)
	if err != nil {
		t.Fatal(err)
	}
	if box, _, _ := inkStats(got); box.Dx() != DigitSize || box.Dy() != 1 {
		t.Errorf("ink box %v, want %dx1", box, DigitSize)
	}
}
