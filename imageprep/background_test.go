package imageprep

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The fit recovers a plane exactly from clean border pixels, ignores ink on up to half
// of the border, and measures Gaussian noise.
func TestFitBackground(t *testing.T) {
	const w, h = 60, 40
	plane := func(x, y int) float64 { return 150 + 0.5*float64(x) - 0.25*float64(y) }
	rng := rand.New(rand.NewPCG(7, 8))
	tests := []struct {
		name      string
		img       func(x, y int) uint8
		sigma     [2]float64 // want σ in this range
		tolerance float64    // on the plane's level, anywhere
	}{
		{"uniform", func(x, y int) uint8 { return 200 }, [2]float64{0, 0}, 0},
		// Truncating the plane to whole levels leaves residuals in [0, 1): a σ below 1.
		{"plane", func(x, y int) uint8 { return uint8(plane(x, y)) }, [2]float64{0, 1}, 1},
		// Ink across the top row and down the left side: 79 of 196 border pixels.
		{"plane, ink on the border", func(x, y int) uint8 {
			if y == 0 || (x == 0 && y < 20) {
				return 10
			}
			return uint8(plane(x, y))
		}, [2]float64{0, 1}, 1},
		// σ within 10%: from 196 samples the MAD estimate has a standard error of
		// about 8% (1.17/√n); the seed is fixed.
		{"noise σ=5", func(x, y int) uint8 { return uint8(math.Round(plane(x, y) + 5*rng.NormFloat64())) }, [2]float64{4.5, 5.5}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGray(w, h, tt.img)
			bg, sigma := fitBackground(g)
			if sigma < tt.sigma[0] || sigma > tt.sigma[1] {
				t.Errorf("σ = %.3f, want %v", sigma, tt.sigma)
			}
			level := make([]int, w)
			for y := range h {
				bg.fillRow(y, level)
				for x := range w {
					want := float64(tt.img(x, y))
					if tt.name != "uniform" {
						want = plane(x, y)
					}
					if d := math.Abs(float64(level[x]) - want); d > tt.tolerance {
						t.Fatalf("level at (%d, %d) = %d, want %.2f within %.0f (plane %+v)", x, y, level[x], want, tt.tolerance, bg)
					}
				}
			}
		})
	}
	// Degenerate sizes: no panic, and the level of a uniform image.
	for _, size := range [][2]int{{1, 1}, {1, 5}, {5, 1}, {2, 2}} {
		g := newGray(size[0], size[1], func(x, y int) uint8 { return 77 })
		bg, sigma := fitBackground(g)
		level := make([]int, size[0])
		bg.fillRow(size[1]-1, level)
		if level[size[0]-1] != 77 || sigma != 0 {
			t.Errorf("%dx%d: level %d, σ %v, want 77, 0", size[0], size[1], level[size[0]-1], sigma)
		}
	}
}
