package figures

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"tinyq/study/schema"
)

// The accuracy axis spans the values at or above figClipFloor with half a point (or 8% of the
// span) of room, rounded outward to whole percents within [0, 100].
func TestAccRange(t *testing.T) {
	for _, c := range []struct {
		name   string
		vals   []float64
		lo, hi float64
	}{
		{"close values", []float64{98, 97}, 96, 99},                       // pad 0.5
		{"a broken point left off", []float64{98, 97, 45}, 96, 99},        // 45 < 50: below the axis
		{"all below the floor", []float64{30, 40}, 29, 41},                // pad 0.8
		{"wide", []float64{60, 100}, 56, 100},                             // pad 3.2, top clamped
		{"NaN ignored", []float64{math.NaN(), 90}, 89, 91},                // one value: pad 0.5
		{"nothing", nil, 0, 100},                                          // an empty chart
		{"zero", []float64{0}, 0, 1},                                      // bottom clamped, hi > lo
		{"one hundred", []float64{100}, 99, 100},                          // top clamped
		{"only NaN", []float64{math.NaN(), math.NaN()}, 0, 100},           // nothing to show
		{"the floor itself is kept", []float64{50, 60}, 49, 61},           // 50 is not below 50
		{"just under the floor is not", []float64{49.99, 60, 61}, 59, 62}, // pad 0.5
	} {
		lo, hi := figAccRange(c.vals)
		if lo != c.lo || hi != c.hi {
			t.Errorf("%s: [%g, %g], want [%g, %g]", c.name, lo, hi, c.lo, c.hi)
		}
	}
}

// Ticks fall on round steps (1, 2 or 5 times a power of ten), at most 6 intervals, labelled
// with the decimals the step needs, never "-0"; a minor tick halfway.
func TestNiceTicks(t *testing.T) {
	labels := func(lo, hi float64) (major []string, minor int) {
		for _, tk := range figNiceTicks.Ticks(lo, hi) {
			if tk.Label == "" {
				minor++
			} else {
				major = append(major, tk.Label)
			}
		}
		return major, minor
	}
	for _, c := range []struct {
		lo, hi float64
		want   []string
		minor  int
	}{
		{96, 99, []string{"96.0", "96.5", "97.0", "97.5", "98.0", "98.5", "99.0"}, 6},
		{56, 100, []string{"60", "70", "80", "90", "100"}, 4}, // minor ticks between labels only
		{-1, 1, []string{"-1.0", "-0.5", "0.0", "0.5", "1.0"}, 4},
		{0, 60000, []string{"0", "10000", "20000", "30000", "40000", "50000", "60000"}, 6},
	} {
		got, minor := labels(c.lo, c.hi)
		if !reflect.DeepEqual(got, c.want) || minor != c.minor {
			t.Errorf("[%g, %g]: %v and %d minor ticks, want %v and %d", c.lo, c.hi, got, minor, c.want, c.minor)
		}
	}
}

func TestClipNotes(t *testing.T) {
	cs := []figClipped{{"PTQ W2A2", 45}, {"QAT W2A2 epoch 3", 12.5}}
	if got, want := figClipNote(50, cs), " Below the axis (under 50%), not shown: PTQ W2A2 45.00%, QAT W2A2 epoch 3 12.50%."; got != want {
		t.Errorf("figClipNote: %q, want %q", got, want)
	}
	if got, want := figClipNote(math.NaN(), cs[:1]), " Below the axis, not shown: PTQ W2A2 45.00%."; got != want {
		t.Errorf("figClipNote of several panels: %q, want %q", got, want)
	}
	if figClipNote(50, nil) != "" || figAxisNote(50, 0) != "" {
		t.Error("notes without clipped points")
	}
	if got := figAxisNote(56, 1); got != "  [1 point below 56% not shown]" {
		t.Errorf("figAxisNote(1): %q", got)
	}
	if got := figAxisNote(56, 3); got != "  [3 points below 56% not shown]" {
		t.Errorf("figAxisNote(3): %q", got)
	}
}

func TestSmallFormats(t *testing.T) {
	for v, want := range map[float64]string{0.05: "0.05", -0.04: "-0.04", 9.994: "9.99", 12.5: "12.5", -10: "-10.0"} {
		if got := figDropLabel(v); got != want {
			t.Errorf("figDropLabel(%g) = %q, want %q", v, got, want)
		}
	}
	// The shade is log10 of the loss, floored at 0.05 points.
	if figLossShade(0) != math.Log10(0.05) || figLossShade(-3) != math.Log10(0.05) || figLossShade(5) != math.Log10(5) {
		t.Errorf("figLossShade: %g %g %g", figLossShade(0), figLossShade(-3), figLossShade(5))
	}
	if l := figLuminance(color.White); l != 1 {
		t.Errorf("luminance of white %g", l)
	}
	if l := figLuminance(color.Black); l != 0 {
		t.Errorf("luminance of black %g", l)
	}
	if a, b := figLuminance(figBlue), figLuminance(figOrange); !(a < 0.5 && b > 0.5) {
		t.Errorf("blue %g should take white text, orange %g black", a, b)
	}
}

// The histogram's grids are quant's per-tensor symmetric grids: 2^bits - 1 levels from
// -max|w| to max|w|.
func TestGridLevels(t *testing.T) {
	w := []float32{-0.5, 0.25, 1, 0.125}
	for bits, n := range map[int]int{2: 3, 4: 15, 8: 255} {
		levels, scale, err := figGridLevels(w, bits)
		if err != nil {
			t.Fatal(err)
		}
		if len(levels) != n || math.Abs(levels[n-1]-1) > 1e-6 || levels[0] != -levels[n-1] || levels[n/2] != 0 {
			t.Errorf("%d bits: %d levels from %g to %g, want %d from -1 to 1", bits, len(levels), levels[0], levels[len(levels)-1], n)
		}
		if want := float32(1) / float32(n/2); math.Abs(float64(scale-want)) > 1e-7 {
			t.Errorf("%d bits: scale %g, want %g", bits, scale, want)
		}
	}
}

// Figures drawn from a small hand-made study: one panel when the data has no W = A points,
// the heatmap against its best cell without an FP32 reference, the budgets in the Pareto
// caption, and training epochs below the axis named in the curves' caption.
func TestFiguresSmall(t *testing.T) {
	dir := t.TempDir()
	pc, st := schema.PerChannel, schema.Static
	r := &schema.Results{
		PTQ: []schema.PTQPoint{
			{WBits: 4, ABits: 8, Granularity: pc, Mode: st, Observer: "mse", Accuracy: 97, WeightBytes: 1024},
			{WBits: 2, ABits: 8, Granularity: pc, Mode: st, Observer: "mse", Accuracy: 80, WeightBytes: 512},
		},
		QAT: []schema.QATPoint{{WBits: 2, ABits: 4, Accuracy: 90, WeightBytes: 512, Curve: []schema.EpochPoint{
			{Epoch: 1, TrainLoss: 2, TestLoss: 2.1, TestAccuracy: 30}, {Epoch: 2, TrainLoss: 0.5, TestLoss: 0.6, TestAccuracy: 90},
		}}},
	}
	r.Config.Budgets = []int{768}
	figs, err := Write(dir, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string]schema.Figure{}
	for _, f := range figs {
		byFile[f.File] = f
	}
	if len(figs) != 4 || byFile[schema.FigureSensitivity].File != "" || byFile[schema.FigureHist].File != "" {
		t.Fatalf("figures %+v, want ptq_bits, heatmap, pareto and curves", figs)
	}
	bits := byFile[schema.FigurePTQBits]
	checkPNG(t, filepath.Join(dir, bits.File), figWidth, figHeight) // one panel: no W = A point
	if !strings.HasPrefix(bits.Caption, "Test accuracy against weight bits: activations at 8 bits") || strings.Contains(bits.Caption, "FP32") {
		t.Errorf("ptq_bits caption: %q", bits.Caption)
	}
	if c := byFile[schema.FigureHeatmap].Caption; !strings.Contains(c, "points lost against the best cell") || strings.Contains(c, "FP32") {
		t.Errorf("heatmap caption without FP32: %q", c)
	}
	if c := byFile[schema.FigurePareto].Caption; !strings.Contains(c, "Dotted verticals: the weight budgets.") {
		t.Errorf("pareto caption: %q", c)
	}
	curves := byFile[schema.FigureCurves]
	checkPNG(t, filepath.Join(dir, curves.File), figWideWidth, figHeight)
	if !strings.Contains(curves.Caption, "not shown: QAT W2A4 epoch 1 30.00%.") {
		t.Errorf("curves caption does not name the clipped epoch: %q", curves.Caption)
	}
}

// A figure that cannot be written (its directory is a file) is an error naming the package.
func TestWriteUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if _, err := Write(t.TempDir(), &schema.Results{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := writeEmpty(file); err != nil {
		t.Fatal(err)
	}
	r := &schema.Results{PTQ: []schema.PTQPoint{{WBits: 8, ABits: 8, Granularity: schema.PerChannel, Mode: schema.Static, Accuracy: 98}}}
	if _, err := Write(file, r, nil); err == nil || !strings.HasPrefix(err.Error(), "figures: ") {
		t.Errorf("Write into a file: %v", err)
	}
}

// writeEmpty creates an empty file at path.
func writeEmpty(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return f.Close()
}
