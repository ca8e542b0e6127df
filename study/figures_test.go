package study

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

	"tinyq/safetensors"
)

// figuresOut, if set, also writes the synthetic figures and report there, to look at them:
//
//	go test ./study/ -run FigureLook -figures /tmp/figs
var figuresOut = flag.String("figures", "", "also write the synthetic figures and report into this directory")

// studyJSON, with -figures, renders a real study instead of the synthetic one (fc1 from the
// fp32.safetensors beside it, if there is one), to look at real figures:
//
//	go test ./study/ -run FigureStudyJSON -study-json DIR/study.json -figures /tmp/figs
var studyJSON = flag.String("study-json", "", "render this study.json into the -figures directory")

// Synthetic accuracy model of the test study, in points. A PTQ point's accuracy is
//
//	fp32 - synWeightLoss[w] - synActLoss[a] - synTensorLoss[w] (per-tensor only) + synObserverGain[a][observer]
//
// and its logit MSE is synMSEFactor[a][observer] times a base that grows as bits shrink, so
// that the observer the study would pick (lowest MSE) is known: mse at 8 and 4 bits,
// percentile at 2 bits. The expected findings below are worked out by hand from these.
const synFP32 = 98.0

var (
	synWeightLoss   = map[int]float64{8: 0.10, 4: 0.60, 2: 30}
	synActLoss      = map[int]float64{8: 0.05, 4: 0.50, 2: 25}
	synTensorLoss   = map[int]float64{8: 0.20, 4: 2.50, 2: 20}
	synObserverGain = map[int]map[string]float64{
		8: {"minmax": 0, "percentile": -0.05, "mse": 0.02},
		4: {"minmax": -1.0, "percentile": 0.3, "mse": 0.5},
		2: {"minmax": -5, "percentile": 2, "mse": 1},
	}
	synMSEFactor = map[int]map[string]float64{
		8: {"minmax": 1.1, "percentile": 1.2, "mse": 1.0},
		4: {"minmax": 2, "percentile": 1.5, "mse": 1.0},
		2: {"minmax": 3, "percentile": 1.0, "mse": 1.2},
	}
	synLayers = []LayerShape{{"fc1", 784, 256}, {"fc2", 256, 128}, {"fc3", 128, 10}}
)

// synWeightBytes is the packed weight size of the synthetic model at per-layer widths, with
// one float32 scale per output channel and float32 biases.
func synWeightBytes(bits [][2]int) int {
	n := 0
	for i, l := range synLayers {
		n += l.In*l.Out*bits[i][0]/8 + 4*l.Out + 4*l.Out
	}
	return n
}

// synUniform returns per-layer widths (w, a) for every layer.
func synUniform(w, a int) [][2]int {
	return [][2]int{{w, a}, {w, a}, {w, a}}
}

// synCurve returns n epochs of a plausible training curve from acc0 to acc1.
func synCurve(n int, loss0, acc0, acc1 float64) []EpochPoint {
	var out []EpochPoint
	for i := range n {
		f := float64(i+1) / float64(n)
		out = append(out, EpochPoint{
			Epoch:        i + 1,
			TrainLoss:    loss0 * (1.2 - f),
			TestLoss:     loss0 * (1.3 - f),
			TestAccuracy: acc0 + (acc1-acc0)*math.Sqrt(f),
			Seconds:      4,
		})
	}
	return out
}

// synResults returns a study with every part filled.
func synResults() *Results {
	r := &Results{
		Config: Config{
			Settings: Full(),
			Run: RunInfo{
				Command: "go run ./cmd/mnist -study out",
				Date:    "2026-12-01T16:00:00Z",
				Machine: "linux/amd64, 2 CPUs",
				Kernels: "avx2",
				Go:      "go1.26",
			},
		},
		FP32: Reference{
			Accuracy:    synFP32,
			WeightBytes: 4 * (784*256 + 256 + 256*128 + 128 + 128*10 + 10),
			Layers:      synLayers,
			Curve:       synCurve(5, 0.5, 93, 98),
		},
		Seconds: 734,
	}
	r.Config.Seed = 1
	r.Config.Hidden = []int{256, 128}
	r.Config.Epochs, r.Config.Batch, r.Config.LR = 5, 64, 0.05
	for _, gran := range []string{PerChannel, PerTensor} {
		for _, w := range []int{8, 4, 2} {
			for _, a := range []int{8, 4, 2} {
				for _, obs := range []string{"minmax", "percentile", "mse"} {
					acc := synFP32 - synWeightLoss[w] - synActLoss[a] + synObserverGain[a][obs]
					if gran == PerTensor {
						acc -= synTensorLoss[w]
					}
					base := 1e-3 * float64(9-w) * float64(9-a)
					r.PTQ = append(r.PTQ, PTQPoint{
						WBits: w, ABits: a, Granularity: gran, Mode: Static, Observer: obs,
						Accuracy: acc, WeightBytes: synWeightBytes(synUniform(w, a)),
						LogitMSE: base * synMSEFactor[a][obs],
					})
				}
			}
			acc := synFP32 - synWeightLoss[w] - 0.03
			if gran == PerTensor {
				acc -= synTensorLoss[w]
			}
			r.PTQ = append(r.PTQ, PTQPoint{
				WBits: w, ABits: 8, Granularity: gran, Mode: Dynamic,
				Accuracy: acc, WeightBytes: synWeightBytes(synUniform(w, 8)),
			})
		}
	}
	qat := []struct {
		w, a       int
		lsq        bool
		fake, intg float64
	}{
		{8, 8, false, 97.95, 97.90}, {8, 8, true, 97.97, 97.93},
		{4, 4, false, 97.60, 97.55}, {4, 4, true, 97.70, 97.66},
		{2, 2, false, 88.30, 88.00}, {2, 2, true, 91.70, 91.50},
		{4, 8, false, 97.80, 97.78}, {4, 8, true, 97.85, 97.81},
	}
	for _, q := range qat {
		r.QAT = append(r.QAT, QATPoint{
			WBits: q.w, ABits: q.a, LSQ: q.lsq, Accuracy: q.fake, IntAccuracy: q.intg,
			WeightBytes: synWeightBytes(synUniform(q.w, q.a)), EpochSeconds: 6.5,
			Curve: synCurve(2, 0.3, q.fake-1.5, q.fake),
		})
	}
	drops := map[string][3]float64{"fc1": {0.05, 0.8, 12.5}, "fc2": {0.02, 0.4, 6.0}, "fc3": {0.01, 0.3, 3.25}}
	for _, l := range synLayers {
		for i, b := range []int{8, 4, 2} {
			d := drops[l.Name][i]
			r.Sensitivity = append(r.Sensitivity, SensitivityPoint{
				Layer: l.Name, WBits: b, ABits: b, Accuracy: synFP32 - d, Drop: d,
				LogitMSE: d / 50, Observer: "mse",
			})
		}
	}
	front := []struct {
		bits     [][2]int
		val, acc float64
		knee     bool
		qat      float64
	}{
		{[][2]int{{2, 8}, {2, 8}, {2, 8}}, 62.0, 61.5, false, 0},
		{[][2]int{{2, 8}, {2, 8}, {4, 8}}, 71.8, 71.2, true, 90.4},
		{[][2]int{{2, 8}, {4, 8}, {8, 8}}, 80.1, 79.6, false, 0},
		{[][2]int{{4, 8}, {4, 8}, {8, 8}}, 97.4, 97.3, true, 97.7},
		{[][2]int{{4, 8}, {8, 8}, {8, 8}}, 97.6, 97.5, true, 97.8},
		{[][2]int{{8, 8}, {8, 8}, {8, 8}}, 97.9, 97.87, false, 0},
	}
	for _, f := range front {
		r.Mixed = append(r.Mixed, MixedPoint{
			Bits: f.bits, Accuracy: f.acc, ValAccuracy: f.val, WeightBytes: synWeightBytes(f.bits),
			Pareto: true, Knee: f.knee, QATAccuracy: f.qat,
		})
	}
	r.Mixed = append(r.Mixed, MixedPoint{Bits: [][2]int{{2, 8}, {8, 8}, {2, 8}}, ValAccuracy: 60, WeightBytes: synWeightBytes([][2]int{{2, 8}, {8, 8}, {2, 8}})})
	for _, lim := range r.Config.Budgets {
		b := Budget{Bytes: lim}
		for _, m := range r.Mixed {
			if m.Pareto && m.WeightBytes <= lim && m.WeightBytes > b.WeightBytes {
				b.Bits, b.Accuracy, b.QATAccuracy, b.WeightBytes = m.Bits, m.Accuracy, m.QATAccuracy, m.WeightBytes
			}
		}
		r.Budgets = append(r.Budgets, b)
	}
	return r
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
	figFilePTQBits: figWideWidth, figFileHeatmap: figWidth, figFilePareto: figWidth,
	figFileSensitivity: figWidth, figFileHist: figWidth, figFileCurves: figWideWidth,
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

// wantFindings are the findings of synResults, worked out by hand from the synthetic model:
//   - within 0.5 of 98: per-channel static W8A8 97.87 and W8A4 (mse) 98-0.1-0.5+0.5 = 97.90;
//     W4A8 is 97.37, so the fewest bits is W8A4.
//   - W4A8 static, mse chosen: per-channel 98-0.6-0.05+0.02 = 97.37, per-tensor 2.50 lower.
//   - W8A4 static per-channel, 98 - 0.1 - 0.5 + gain: minmax -1.0 -> 96.40, percentile +0.3
//     -> 97.70, mse +0.5 -> 97.90; mse also has the lowest logit MSE at A4.
//   - sensitivity at 2 bits: fc1 12.50, fc3 3.25.
//   - W2A2: PTQ percentile 98-30-25+2 = 45.00; QAT best integer 91.50 (LSQ): +46.50.
//   - under 64 KB: fc1 w2, fc2 w2, fc3 w4: 50176+8192+640 weights bytes + 2*4*(256+128+10)
//     = 62160 bytes = 60.7 KB; test 71.20, after QAT 90.40.
var wantFindings = []string{
	"Static per-channel PTQ stays within 0.5 points of FP32 down to W8A4 (97.90% against 98.00%).",
	"Per-tensor weights lose 2.50 points against per-channel at 4 bits (W4A8, static): 94.87% against 97.37%.",
	"At 4-bit activations (static, 8-bit per-channel weights) the best observer is mse: 97.90% against 96.40% for minmax and 97.70% for percentile; the held-out logit MSE picks it too.",
	"The most fragile layer is fc1: at 2 bits alone (weights and input) it costs 12.50 points; the most robust, fc3, costs 3.25.",
	"QAT recovers 46.50 points over PTQ at W2A2 in the integer runtime: 91.50% with LSQ scales against 45.00% for static per-channel PTQ.",
	"Under 64 KB of weights the best mixed model (fc1 W2A8, fc2 W2A8, fc3 W4A8; 60.7 KB) reaches 71.20%, 90.40% after QAT fine-tuning.",
}

func TestFigureFiles(t *testing.T) {
	dir := t.TempDir()
	if *figuresOut != "" {
		dir = *figuresOut
	}
	r := synResults()
	figs, err := WriteFigures(dir, r, synFC1())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{figFilePTQBits, figFileHeatmap, figFilePareto, figFileSensitivity, figFileHist, figFileCurves}
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
		if !strings.HasSuffix(e.Name(), ".png") && !strings.HasSuffix(e.Name(), ".md") {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

func TestReportFindings(t *testing.T) {
	r := synResults()
	got := repFindingsOf(r)
	if len(got) != len(wantFindings) {
		t.Fatalf("%d findings, want %d:\n%s", len(got), len(wantFindings), strings.Join(got, "\n"))
	}
	for i := range got {
		if got[i] != wantFindings[i] {
			t.Errorf("finding %d:\n got  %s\n want %s", i, got[i], wantFindings[i])
		}
	}
}

func TestReportFile(t *testing.T) {
	dir := t.TempDir()
	if *figuresOut != "" {
		dir = *figuresOut
	}
	r := synResults()
	figs, err := WriteFigures(dir, r, synFC1())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(dir, r, figs); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, f := range figs {
		if link := "![" + f.Title + "](" + f.File + ")"; !strings.Contains(md, link) {
			t.Errorf("report does not embed %s", link)
		}
		if !strings.Contains(md, f.Caption) {
			t.Errorf("report lacks the caption of %s", f.File)
		}
	}
	for _, s := range append([]string{
		"`go run ./cmd/mnist -study out`", "Machine: linux/amd64, 2 CPUs", "Kernels: avx2", "Seed: 1",
		"Date: 2026-12-01T16:00:00Z", "Total time: 12 min 14 s",
		"## Findings", "## Post-training quantization", "## Quantization-aware training",
		"## Per-layer sensitivity", "## Mixed precision", "### Best model under a weight budget",
		"| W4 | 97.37% (mse) | 97.40% (mse) | 74.40% (percentile) |",
		"| under 64 KB | fc1 W2A8, fc2 W2A8, fc3 W4A8 | 60.7 KB (62160 B) | 71.20% | 90.40% |",
	}, wantFindings...) {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if t.Failed() {
		t.Logf("report.md:\n%s", md)
	}
}

// TestFigureEmpty: a study with no points yet draws nothing and reports what it has.
func TestFigureEmpty(t *testing.T) {
	dir := t.TempDir()
	r := &Results{}
	figs, err := WriteFigures(dir, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != 0 {
		t.Errorf("figures of an empty study: %+v", figs)
	}
	if err := WriteReport(dir, r, figs); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "report.md" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files of an empty study: %v, want [report.md]", names)
	}
	if _, err := WriteFigures(dir, nil, nil); err == nil {
		t.Error("WriteFigures(nil results) succeeded")
	}
	if err := WriteReport(dir, nil, nil); err == nil {
		t.Error("WriteReport(nil results) succeeded")
	}
}

// TestFigurePartial: a study interrupted after the PTQ sweep (no QAT, sensitivity or mixed
// points, a loaded model without a curve) draws the figures its data allows.
func TestFigurePartial(t *testing.T) {
	dir := t.TempDir()
	full := synResults()
	r := &Results{Config: full.Config, PTQ: full.PTQ}
	r.FP32 = full.FP32
	r.FP32.Curve = nil
	figs, err := WriteFigures(dir, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range figs {
		got = append(got, f.File)
		checkPNG(t, filepath.Join(dir, f.File), figWantWidth[f.File], figHeight)
	}
	if want := []string{figFilePTQBits, figFileHeatmap, figFilePareto}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("figures %v, want %v", got, want)
	}
	if err := WriteReport(dir, r, figs); err != nil {
		t.Fatal(err)
	}
	// A single point of each kind must not trip gonum's range checks (min == max).
	one := &Results{
		FP32:        Reference{Accuracy: 98},
		PTQ:         []PTQPoint{{WBits: 8, ABits: 8, Granularity: PerChannel, Mode: Static, Observer: "minmax", Accuracy: 97, WeightBytes: 1000}},
		QAT:         []QATPoint{{WBits: 8, ABits: 8, Accuracy: 97.5, IntAccuracy: 97.4, WeightBytes: 1000, Curve: synCurve(1, 0.3, 97, 97.5)}},
		Sensitivity: []SensitivityPoint{{Layer: "fc1", WBits: 8, ABits: 8, Accuracy: 98, Drop: 0}},
		Mixed:       []MixedPoint{{Bits: [][2]int{{8, 8}}, Accuracy: 97, WeightBytes: 1000, Pareto: true}},
	}
	if _, err := WriteFigures(t.TempDir(), one, []float32{0, 0, 0}); err != nil {
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
	var r Results
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
	figs, err := WriteFigures(*figuresOut, &r, fc1)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range figs {
		checkPNG(t, filepath.Join(*figuresOut, f.File), figWantWidth[f.File], figHeight)
	}
	if err := WriteReport(*figuresOut, &r, figs); err != nil {
		t.Fatal(err)
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
