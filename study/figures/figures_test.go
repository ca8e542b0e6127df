package figures

import (
	"encoding/json"
	"flag"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"tinyq/quant"
	"tinyq/safetensors"
	"tinyq/study/schema"
)

// figuresOut, if set, also writes the synthetic figures there, to look at them:
//
//	go test ./study/figures -run FigureFiles -figures /tmp/figs
var figuresOut = flag.String("figures", "", "also write the synthetic figures into this directory")

// studyJSON, with -figures, renders a real study instead of the synthetic one (fc1 from the
// fp32.safetensors beside it, if there is one), to look at real figures:
//
//	go test ./study/figures -run FigureStudyJSON -study-json DIR/study.json -figures /tmp/figs
var studyJSON = flag.String("study-json", "", "render this study.json into the -figures directory")

// synthetic reads the synthetic study of package analysis's tests (../testdata/synthetic.json:
// every part filled, its findings worked out by hand there).
func synthetic(t *testing.T) *schema.Results {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "synthetic.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r schema.Results
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// synFC1 returns fc1's weights: Gaussian with a few outliers, as a trained layer has.
func synFC1() []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]float32, 784*256)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.03)
	}
	w[17], w[1234] = 0.21, -0.18
	return w
}

// figWantWidth is each figure's width in inches (the height is figHeight for all).
var figWantWidth = map[string]vg.Length{
	schema.FigurePTQBits: figWideWidth, schema.FigureHeatmap: figWidth, schema.FigurePareto: figWidth,
	schema.FigureSensitivity: figWidth, schema.FigureHist: figWidth, schema.FigureCurves: figWideWidth,
}

// checkPNG decodes path and checks its size in pixels and that it holds a drawing: at least
// minColors distinct colours (axes, text anti-aliasing and series give hundreds; a blank or
// one-colour image has 1 or 2) and at least 3% of non-white pixels.
func checkPNG(t *testing.T, path string, w, h vg.Length) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	wantW, wantH := int(math.Round(w.Dots(vgimg.DefaultDPI))), int(math.Round(h.Dots(vgimg.DefaultDPI)))
	if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH {
		t.Errorf("%s: %dx%d pixels, want %dx%d", filepath.Base(path), b.Dx(), b.Dy(), wantW, wantH)
	}
	const minColors, minInk = 50, 0.03
	colors, ink, total := map[[4]uint32]bool{}, 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			colors[[4]uint32{r, g, bl, a}] = true
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				ink++
			}
			total++
		}
	}
	if len(colors) < minColors {
		t.Errorf("%s: %d distinct colours, want >= %d", filepath.Base(path), len(colors), minColors)
	}
	if frac := float64(ink) / float64(total); frac < minInk {
		t.Errorf("%s: %.1f%% of pixels drawn, want >= %.0f%%", filepath.Base(path), 100*frac, 100*minInk)
	}
}

func TestFigureFiles(t *testing.T) {
	dir := t.TempDir()
	if *figuresOut != "" {
		dir = *figuresOut
	}
	r := synthetic(t)
	figs, err := Write(dir, r, synFC1())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{schema.FigurePTQBits, schema.FigureHeatmap, schema.FigurePareto, schema.FigureSensitivity, schema.FigureHist, schema.FigureCurves}
	if len(figs) != len(want) {
		t.Fatalf("%d figures, want %d: %+v", len(figs), len(want), figs)
	}
	for i, f := range figs {
		if f.File != want[i] {
			t.Errorf("figure %d is %s, want %s", i, f.File, want[i])
		}
		if f.Title == "" || f.Caption == "" {
			t.Errorf("%s: empty title or caption", f.File)
		}
		checkPNG(t, filepath.Join(dir, f.File), figWantWidth[f.File], figHeight)
	}
	// The W=A panel clips PTQ W2A2 (45%) and says so in the caption.
	if c := figs[0].Caption; !strings.Contains(c, "PTQ per-channel W2A2 45.00%") {
		t.Errorf("ptq_bits caption does not name the clipped W2A2 point: %q", c)
	}
	// No temp files of the atomic writes are left behind.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".png") {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

// TestFigureEmpty: a study with no points yet draws nothing and writes no file.
func TestFigureEmpty(t *testing.T) {
	dir := t.TempDir()
	r := &schema.Results{}
	figs, err := Write(dir, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != 0 {
		t.Errorf("figures of an empty study: %+v", figs)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files of an empty study: %v, want none", names)
	}
	if _, err := Write(dir, nil, nil); err == nil {
		t.Error("Write(nil results) succeeded")
	}
}

// TestFigurePartial: a study interrupted after the PTQ sweep (no QAT, sensitivity or mixed
// points, a loaded model without a curve) draws the figures its data allows.
func TestFigurePartial(t *testing.T) {
	dir := t.TempDir()
	full := synthetic(t)
	r := &schema.Results{Config: full.Config, PTQ: full.PTQ}
	r.FP32 = full.FP32
	r.FP32.Curve = nil
	figs, err := Write(dir, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range figs {
		got = append(got, f.File)
		checkPNG(t, filepath.Join(dir, f.File), figWantWidth[f.File], figHeight)
	}
	if want := []string{schema.FigurePTQBits, schema.FigureHeatmap, schema.FigurePareto}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("figures %v, want %v", got, want)
	}
	// A single point of each kind must not trip gonum's range checks (min == max).
	one := &schema.Results{
		FP32:        schema.Reference{Accuracy: 98},
		PTQ:         []schema.PTQPoint{{WBits: 8, ABits: 8, Granularity: schema.PerChannel, Mode: schema.Static, Observer: "minmax", Accuracy: 97, WeightBytes: 1000}},
		QAT:         []schema.QATPoint{{WBits: 8, ABits: 8, Accuracy: 97.5, IntAccuracy: 97.4, WeightBytes: 1000, Curve: []schema.EpochPoint{{Epoch: 1, TrainLoss: 0.18, TestLoss: 0.21, TestAccuracy: 97.5, Seconds: 4}}}},
		Sensitivity: []schema.SensitivityPoint{{Layer: "fc1", WBits: 8, ABits: 8, Accuracy: 98, Drop: 0}},
		Mixed:       []schema.MixedPoint{{Bits: []quant.Widths{{Weight: 8, Activation: 8}}, Accuracy: 97, WeightBytes: 1000, Pareto: true}},
	}
	if _, err := Write(t.TempDir(), one, []float32{0, 0, 0}); err != nil {
		t.Fatal(err)
	}
}

func TestFigureStudyJSON(t *testing.T) {
	if *studyJSON == "" || *figuresOut == "" {
		t.Skip("needs -study-json and -figures")
	}
	b, err := os.ReadFile(*studyJSON)
	if err != nil {
		t.Fatal(err)
	}
	var r schema.Results
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var fc1 []float32
	if f, err := safetensors.ReadFile(filepath.Join(filepath.Dir(*studyJSON), "fp32.safetensors")); err == nil {
		if tn, ok := f.Tensor("fc1.w"); ok {
			if fc1, err = tn.F32(); err != nil {
				t.Fatal(err)
			}
		}
	}
	figs, err := Write(*figuresOut, &r, fc1)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range figs {
		checkPNG(t, filepath.Join(*figuresOut, f.File), figWantWidth[f.File], figHeight)
	}
}

// TestFigurePanicIsError: a panic inside gonum/plot while drawing is an error, and no file
// is written.
func TestFigurePanicIsError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.png")
	err := figSave(path, figWidth, figHeight, func(draw.Canvas) { panic("plotter: ColorMap Max==Min") })
	if err == nil || !strings.Contains(err.Error(), "ColorMap Max==Min") {
		t.Errorf("figSave of a panicking drawing: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("file after a failed drawing: %v", err)
	}
}
