package imageprep

import (
	"errors"
	"image"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// tightCrop returns an MNIST image cropped to the bounding box of its nonzero pixels: the
// ink touches all four sides.
func tightCrop(pix []uint8) *image.Gray {
	box, _, _ := inkStats(pix)
	return newGray(box.Dx(), box.Dy(), func(x, y int) uint8 { return pix[(y+box.Min.Y)*Size+x+box.Min.X] })
}

// bestCorrelation is the correlation of got with want after the best shift of got by at
// most one pixel each way.
func bestCorrelation(got, want []uint8) float64 {
	best := -1.0
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			best = max(best, correlation(shift(got, dx, dy), want))
		}
	}
	return best
}

// TestMNISTTightCrops (issue 18, item 13): 500 real MNIST digits cropped to their ink's
// bounding box, as they are (light on black) and inverted (dark on white), are all
// prepared, none refused as "no digit" (before: 9 of 500 each way, "every pixel is within
// 414 grey levels"), and come back close to the original: after the best alignment within
// one pixel every correlation exceeds 0.95 and the median 0.99. (The crop of a digit that
// the same recipe made is scaled back to its own size, about 20 pixels: the differences
// are the resampling and the rounding of the centring shift. Measured: min 0.982, 1st
// percentile 0.995, median 1.000.)
func TestMNISTTightCrops(t *testing.T) {
	images := realMNIST(t)[:500]
	for _, inverted := range []bool{false, true} {
		var corr []float64
		for i, pix := range images {
			g := tightCrop(pix)
			if inverted {
				g = invert(g)
			}
			got, err := MNIST(g)
			if err != nil {
				t.Errorf("inverted %t, image %d (%dx%d): %v", inverted, i, g.Rect.Dx(), g.Rect.Dy(), err)
				continue
			}
			corr = append(corr, bestCorrelation(got, pix))
		}
		if len(corr) == 0 {
			continue
		}
		slices.Sort(corr)
		low := 0
		for _, c := range corr {
			if c <= 0.95 {
				low++
			}
		}
		t.Logf("inverted %t: %d crops prepared; aligned correlation min %.3f, 1st percentile %.3f, median %.3f; %d at or below 0.95",
			inverted, len(corr), corr[0], corr[len(corr)/100], corr[len(corr)/2], low)
		if m := corr[len(corr)/2]; m <= 0.99 {
			t.Errorf("inverted %t: median correlation %.3f, want > 0.99", inverted, m)
		}
		if low > 0 {
			t.Errorf("inverted %t: %d of %d at or below 0.95, want none", inverted, low, len(corr))
		}
	}
}

// TestNoDigitLevelsInRange (issue 18, item 13): a "no digit" error never names a number of
// grey levels outside 0 to 255, for blank images, uniform noise (before: "within 456 grey
// levels") and the tight crops of the whole MNIST test set, of which none may be refused
// (before: 94 of 10,000).
func TestNoDigitLevelsInRange(t *testing.T) {
	var rng uint32 = 1
	noise := func(w, h int) *image.Gray {
		return newGray(w, h, func(x, y int) uint8 { rng = rng*1664525 + 1013904223; return uint8(rng >> 24) })
	}
	imgs := []*image.Gray{
		newGray(40, 40, func(x, y int) uint8 { return 0 }),
		newGray(40, 40, func(x, y int) uint8 { return 200 }),
		noise(100, 100), noise(28, 28), noise(7, 90),
		newGray(60, 60, func(x, y int) uint8 { return uint8(100 + (x+y)%3) }),
	}
	for _, pix := range realMNIST(t) {
		imgs = append(imgs, tightCrop(pix))
	}
	number := regexp.MustCompile(`(\d+) (grey )?levels`)
	refused := 0
	for i, g := range imgs {
		_, err := MNIST(g)
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrNoDigit) {
			t.Errorf("image %d: %v, want ErrNoDigit", i, err)
		}
		if i < 6 {
			t.Logf("image %d: %v", i, err)
		} else {
			refused++
		}
		for _, m := range number.FindAllStringSubmatch(err.Error(), -1) {
			if n, _ := strconv.Atoi(m[1]); n < 0 || n > 255 {
				t.Errorf("image %d: %q names %d levels, outside 0-255", i, err, n)
			}
		}
	}
	t.Logf("%d of %d tight crops of the MNIST test set refused", refused, len(imgs)-6)
	if refused > 0 {
		t.Errorf("%d tight crops refused, want none", refused)
	}
	// Blank images and noise are still refused.
	for i := range 3 {
		if _, err := MNIST(imgs[i]); !errors.Is(err, ErrNoDigit) {
			t.Errorf("image %d: %v, want ErrNoDigit", i, err)
		}
	}
}

// TestMNISTGreyBackground28 (issue 18, item 6): a 28x28 grey image with light ink on a
// grey background (a dark-mode canvas: grey 40 or 80) is not passed through as if it were
// prepared: it is prepared, and gives the same result as the same image one pixel larger
// (29x29, which was always prepared), within a correlation of 0.98 (the resampling of a
// 28- and a 29-pixel-wide canvas differ only by the canvas's extra row and column, which
// is background; measured: median 1.000). MNIST's own images (border median 0) still pass
// through byte for byte: TestMNISTPassThroughRealDigits.
func TestMNISTGreyBackground28(t *testing.T) {
	images := realMNIST(t)[:300]
	for _, grey := range []int{40, 80} {
		var corr []float64
		for i, pix := range images {
			on := func(w int) *image.Gray {
				return newGray(w, w, func(x, y int) uint8 {
					v := 0
					if x < Size && y < Size {
						v = int(pix[y*Size+x])
					}
					return uint8(grey + (255-grey)*v/255) // ink over the grey canvas
				})
			}
			g28, g29 := on(Size), on(Size+1)
			got28, err := MNIST(g28)
			if err != nil {
				t.Fatalf("grey %d, image %d: %v", grey, i, err)
			}
			if slices.Equal(got28, g28.Pix) {
				t.Fatalf("grey %d, image %d: passed through unprepared:\n%s", grey, i, ascii(got28))
			}
			got29, err := MNIST(g29)
			if err != nil {
				t.Fatalf("grey %d, image %d at 29x29: %v", grey, i, err)
			}
			corr = append(corr, bestCorrelation(got28, got29))
		}
		slices.Sort(corr)
		t.Logf("grey %d: 28x28 against 29x29, aligned correlation min %.4f, median %.4f", grey, corr[0], corr[len(corr)/2])
		if corr[len(corr)/2] < 0.98 {
			t.Errorf("grey %d: median correlation %.4f with the 29x29 result, want at least 0.98", grey, corr[len(corr)/2])
		}
	}
	// The rule's edge: a border median of blackLevel passes through, one more does not.
	for _, level := range []uint8{blackLevel, blackLevel + 1} {
		g := newGray(Size, Size, func(x, y int) uint8 {
			if x >= 12 && x < 16 && y >= 4 && y < 24 {
				return 230
			}
			return level
		})
		got, err := MNIST(g)
		if err != nil {
			t.Fatal(err)
		}
		if passed := slices.Equal(got, g.Pix); passed != (level <= blackLevel) {
			t.Errorf("background %d: passed through %t, want %t", level, passed, level <= blackLevel)
		}
	}
}
