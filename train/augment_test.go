package train

import (
	"math/rand"
	"testing"

	"tinyq/arch"
	"tinyq/nn"
)

func TestShifted(t *testing.T) {
	const h, w, c = 4, 5, 2
	src := make([]float32, h*w*c)
	for i := range src {
		src[i] = float32(i + 1)
	}
	dst := make([]float32, len(src))
	for dy := -4; dy <= 4; dy++ {
		for dx := -5; dx <= 5; dx++ {
			shifted(dst, src, h, w, c, dy, dx)
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					for k := 0; k < c; k++ {
						var want float32
						if sy, sx := y-dy, x-dx; sy >= 0 && sy < h && sx >= 0 && sx < w {
							want = src[(sy*w+sx)*c+k]
						}
						if got := dst[(y*w+x)*c+k]; got != want {
							t.Fatalf("shift (%d,%d): pixel (%d,%d,%d) = %v, want %v", dy, dx, y, x, k, got, want)
						}
					}
				}
			}
		}
	}
}

// Every translation in [-s, s]² is drawn, about equally often, and the draw depends on the
// seed, the epoch and the position only.
func TestShiftOf(t *testing.T) {
	const s, n = 2, 25000
	count := map[[2]int]int{}
	for pos := 0; pos < n; pos++ {
		dy, dx := shiftOf(7, 3, pos, s)
		if dy < -s || dy > s || dx < -s || dx > s {
			t.Fatalf("shift (%d, %d) beyond %d", dy, dx, s)
		}
		count[[2]int{dy, dx}]++
		if a, b := shiftOf(7, 3, pos, s); a != dy || b != dx {
			t.Fatal("not deterministic")
		}
	}
	if len(count) != 25 {
		t.Fatalf("%d distinct shifts, want 25", len(count))
	}
	for k, c := range count {
		if c < n/25*8/10 || c > n/25*12/10 {
			t.Errorf("shift %v drawn %d times of %d, want about %d", k, c, n, n/25)
		}
	}
	same := 0
	for pos := 0; pos < 1000; pos++ {
		a, b := shiftOf(7, 3, pos, s)
		c, d := shiftOf(7, 4, pos, s)
		if a == c && b == d {
			same++
		}
	}
	if same > 100 {
		t.Errorf("epochs 3 and 4 draw the same shift at %d of 1000 positions", same)
	}
}

// Training with Shift sees translated images: the same seed gives the same model, a shift
// of 0 gives the plain run's model, and a shift changes the result.
func TestFitShift(t *testing.T) {
	tr, te := loadMNIST(t, 600, 100)
	run := func(shift int) []float32 {
		m, err := nn.NewMLP([]int{784, 8, 10}, rand.New(rand.NewSource(1)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Fit(m, tr, te, Config{Epochs: 1, Batch: 50, Shift: shift}); err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), m.Layers[0].Weights()...)
	}
	a, b, c := run(2), run(2), run(0)
	if !equal(a, b) {
		t.Error("two runs with the same seed and shift differ")
	}
	if equal(a, c) {
		t.Error("a shift of 2 trained the same model as no shift")
	}
	if _, err := Fit(nil, tr, te, Config{}); err == nil {
		t.Error("a nil model accepted")
	}
	m, _ := nn.NewMLP([]int{784, 8, 10}, rand.New(rand.NewSource(1)))
	if _, err := Fit(m, tr, te, Config{Shift: MaxShift + 1}); err == nil {
		t.Error("shift beyond MaxShift accepted")
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A partial batch's padding rows repeat its real images when the model has a BatchNorm:
// 32 images in a batch of 64 give the running mean that a batch of exactly those 32 gives
// (zero rows would halve it).
func TestBatchNormPadding(t *testing.T) {
	tr, te := loadMNIST(t, 32, 10)
	a, err := arch.Parse("conv(3,3),bn,relu,flatten,dense(10)", arch.Shape{H: 28, W: 28, C: 1})
	if err != nil {
		t.Fatal(err)
	}
	mean := func(batch int) []float32 {
		m, err := nn.New(a, rand.New(rand.NewSource(1)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Fit(m, tr, te, Config{Epochs: 1, Batch: batch}); err != nil {
			t.Fatal(err)
		}
		return m.Layers[0].BN.State.Mean
	}
	padded, exact := mean(64), mean(32)
	for c := range exact {
		if d := padded[c] - exact[c]; d > 1e-6 || d < -1e-6 || exact[c] == 0 {
			t.Errorf("channel %d: running mean %v with padding, %v without", c, padded[c], exact[c])
		}
	}
}
