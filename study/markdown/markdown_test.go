package markdown

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tinyq/quant"
	"tinyq/study/analysis"
	"tinyq/study/schema"
)

// update rewrites the golden report: go test ./study/markdown -update
var update = flag.Bool("update", false, "rewrite testdata/synthetic.md")

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

// synFigures are two figures as package figures returns them (the report only embeds them).
var synFigures = []schema.Figure{
	{File: schema.FigurePTQBits, Title: "Accuracy against bit width", Caption: "Test accuracy against weight bits."},
	{File: schema.FigurePareto, Title: "Accuracy against weight size", Caption: "Test accuracy against the weights' size."},
}

// TestReportFile writes the synthetic study's report: it equals testdata/synthetic.md, and
// holds the run, every part's table, the findings and the figures (checked line by line so
// that a golden file refreshed without looking still cannot lose them).
func TestReportFile(t *testing.T) {
	dir := t.TempDir()
	r := synthetic(t)
	if err := Write(dir, r, synFigures); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, schema.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	golden := filepath.Join("testdata", "synthetic.md")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if md != string(want) {
		t.Errorf("report.md differs from %s (go test ./study/markdown -update rewrites it after a deliberate change)", golden)
	}
	for _, f := range synFigures {
		if link := "![" + f.Title + "](" + f.File + ")"; !strings.Contains(md, link) {
			t.Errorf("report does not embed %s", link)
		}
		if !strings.Contains(md, f.Caption) {
			t.Errorf("report lacks the caption of %s", f.File)
		}
	}
	var findings []string
	for _, f := range analysis.Findings(r) {
		findings = append(findings, "- "+f+"\n")
	}
	if len(findings) != 6 {
		t.Errorf("%d findings, want the synthetic study's 6", len(findings))
	}
	for _, s := range append([]string{
		"`go run ./cmd/mnist -study out`", "Machine: linux/amd64, 2 CPUs", "Kernels: avx2", "Seed: 1",
		"Date: 2026-12-01T16:00:00Z", "Total time: 12 min 14 s",
		"## Findings", "## Post-training quantization", "## Quantization-aware training",
		"## Per-layer sensitivity", "## Mixed precision", "### Best model under a weight budget",
		"| W4 | 97.37% (mse) | 97.40% (mse) | 74.40% (percentile) |",
		"| under 64 KB | fc1 W2A8, fc2 W2A8, fc3 W4A8 | 60.7 KB (62160 B) | 71.20% | 90.40% |",
	}, findings...) {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	// No temp file of the atomic write is left behind.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in the directory, want report.md alone", len(ents))
	}
}

// TestRenderEmpty: a study with no points yet has its run section and nothing else; no
// results is an error, not a panic, and writes nothing.
func TestRenderEmpty(t *testing.T) {
	md, err := Render(&schema.Results{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "# tinyq quantization study\n\n" +
		"- Command: `unknown`\n- Machine: unknown\n- Kernels: unknown\n- Date: unknown\n- Seed: 0\n- Study: full\n" +
		"- FP32 model: hidden layers [], 0 epochs, batch 0, learning rate 0, training images: all\n" +
		"- Calibration: the first 0 training images; choices (observers, mixed bits) are scored on the last 0, " +
		"\"held-out\" below: kept apart from calibration and never the test set, though the FP32 model trained on them\n" +
		"- Total time: 0.0 s, over all runs that resumed the study\n\n"
	if md != want {
		t.Errorf("empty study:\n got  %q\n want %q", md, want)
	}
	if _, err := Render(nil, nil); err == nil || !strings.HasPrefix(err.Error(), "markdown: ") {
		t.Errorf("Render(nil): %v", err)
	}
	dir := t.TempDir()
	if err := Write(dir, nil, nil); err == nil {
		t.Error("Write(nil results) succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Write(nil) left %d files", len(ents))
	}
	if err := Write(filepath.Join(dir, "missing", "dir"), &schema.Results{}, nil); err == nil || !strings.HasPrefix(err.Error(), "markdown: ") {
		t.Errorf("Write into a missing directory: %v", err)
	}
}

// section renders one section writer over r.
func section(f func(*strings.Builder, *schema.Results), r *schema.Results) string {
	var b strings.Builder
	f(&b, r)
	return b.String()
}

// TestRunSection: a loaded model is named by its file, notes are listed, a Go version only
// when known, and a training limit is printed.
func TestRunSection(t *testing.T) {
	r := &schema.Results{Seconds: 3725, Notes: []string{"mixed precision skipped: a | b"}}
	r.Config.Quick = true
	r.Config.Load = "m.safetensors"
	r.Config.Run = schema.RunInfo{Command: "c", Date: "d", Machine: "m", Kernels: "k"}
	r.Config.Seed, r.Config.CalibrationImages, r.Config.ValidationImages = 3, 10, 20
	got := section(repRun, r)
	for _, s := range []string{
		"- Study: quick (-study-quick)\n", "- FP32 model: loaded from `m.safetensors`\n", "- Seed: 3\n",
		"the first 10 training images", "on the last 20,", "- Total time: 1 h 02 min,", "- Note: mixed precision skipped: a | b\n",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("run section lacks %q:\n%s", s, got)
		}
	}
	if strings.Contains(got, "- Go:") {
		t.Errorf("run section names an unknown Go version:\n%s", got)
	}
	r.Config.Load, r.Config.TrainLimit, r.Config.Hidden, r.Config.Epochs = "", 8000, []int{32}, 1
	r.Config.Batch, r.Config.LR, r.Config.Run.Go = 128, 0.001, "go1.26"
	got = section(repRun, r)
	for _, s := range []string{"- Go: go1.26\n", "- FP32 model: hidden layers [32], 1 epochs, batch 128, learning rate 0.001, training images: 8000\n"} {
		if !strings.Contains(got, s) {
			t.Errorf("run section lacks %q:\n%s", s, got)
		}
	}
}

// TestPTQSection renders a small sweep: the observer with the lowest held-out MSE is the one
// shown (not the most accurate), a missing cell stays empty, per-tensor minus per-channel is
// signed, the observers' table bolds the chosen one (at min/max weight ranges), and the
// weight ranges' table compares the two ranges' best points.
func TestPTQSection(t *testing.T) {
	pc, pt, st, dy := schema.PerChannel, schema.PerTensor, schema.Static, schema.Dynamic
	r := &schema.Results{PTQ: []schema.PTQPoint{
		{WBits: 8, ABits: 8, Granularity: pc, Mode: st, Observer: "minmax", Accuracy: 98.5, WeightBytes: 2048, LogitMSE: 0.002},
		{WBits: 8, ABits: 8, Granularity: pc, Mode: st, Observer: "mse", Accuracy: 98.0, WeightBytes: 2048, LogitMSE: 0.001},
		{WBits: 8, ABits: 4, Granularity: pc, Mode: st, Observer: "minmax", Accuracy: 90, WeightBytes: 2048, LogitMSE: 0.5},
		{WBits: 8, ABits: 4, Granularity: pc, Mode: st, Observer: "mse", Accuracy: 95, WeightBytes: 2048, LogitMSE: 0.25},
		{WBits: 4, ABits: 8, Granularity: pc, Mode: st, Observer: "mse", Accuracy: 97.25, WeightBytes: 1024, LogitMSE: 0.01},
		{WBits: 4, ABits: 8, Granularity: pt, Mode: st, Observer: "mse", Accuracy: 96, WeightBytes: 1000, LogitMSE: 0.02},
		{WBits: 4, ABits: 8, Granularity: pc, Mode: dy, Accuracy: 97.5, WeightBytes: 1024},
		{WBits: 4, ABits: 8, Granularity: pc, Mode: st, Observer: "mse", WeightRange: schema.MSEWeights, Accuracy: 97.75, WeightBytes: 1024, LogitMSE: 0.005},
	}}
	want := `## Post-training quantization

Integer runtime, full test set. Static points use, for each (weight, activation) width, the observer (and under 8-bit weights the weight range: min/max, or MSE-clipped, "weights mse") with the lowest logit MSE against FP32 on held-out training images (in brackets), not the best test accuracy.

### Static, per-channel weights: weight bits x activation bits

| weights \ activations | A8 | A4 | weight size |
|---|---:|---:|---:|
| W8 | 98.00% (mse) | 95.00% (mse) | 2.0 KB (2048 B) |
| W4 | 97.75% (mse; weights mse) |  | 1.0 KB (1024 B) |

### Per-tensor against per-channel weights, static and dynamic activations (8-bit activations)

| weight bits | per-channel static | per-tensor static | per-tensor - per-channel | per-channel dynamic | per-tensor dynamic | weight size (per-channel) |
|---|---:|---:|---:|---:|---:|---:|
| W8 | 98.00% |  |  |  |  | 2.0 KB (2048 B) |
| W4 | 97.75% | 96.00% | -1.75 | 97.50% |  | 1.0 KB (1024 B) |

### Observers (static, per-channel, W8): test accuracy (held-out logit MSE)

| activations | minmax | mse |
|---|---:|---:|
| A8 | 98.50% (0.002) | **98.00% (0.001)** |
| A4 | 90.00% (0.5) | **95.00% (0.25)** |

### Weight ranges (static, per-channel): test accuracy with min/max ranges -> MSE-clipped ranges

| weights \ activations | A8 |
|---|---:|
| W4 | 97.25% -> 97.75% |

`
	if got := section(repPTQ, r); got != want {
		t.Errorf("PTQ section:\n%s\nwant:\n%s", got, want)
	}
	// One observer only: no observers' table.
	r.PTQ = r.PTQ[4:5]
	if got := section(repPTQ, r); strings.Contains(got, "### Observers") {
		t.Errorf("observers' table with one observer:\n%s", got)
	}
	if got := section(repPTQ, &schema.Results{}); got != "" {
		t.Errorf("PTQ section without points: %q", got)
	}
}

// TestQATSection: runs sorted widest first, observed before LSQ, each beside static
// per-channel PTQ at its widths when there is one.
func TestQATSection(t *testing.T) {
	r := &schema.Results{
		PTQ: []schema.PTQPoint{{WBits: 4, ABits: 4, Granularity: schema.PerChannel, Mode: schema.Static, Observer: "mse", Accuracy: 90}},
		QAT: []schema.QATPoint{
			{WBits: 4, ABits: 4, LSQ: true, Accuracy: 97, IntAccuracy: 96.5, WeightBytes: 512, EpochSeconds: 2.25},
			{WBits: 8, ABits: 8, Accuracy: 98, IntAccuracy: 97.75, WeightBytes: 1024, EpochSeconds: 2},
			{WBits: 4, ABits: 4, Accuracy: 96, IntAccuracy: 89.5, WeightBytes: 512, EpochSeconds: 1.5},
		},
	}
	got := section(repQAT, r)
	rows := "| widths | scales | fake-quant | integer | PTQ | integer - PTQ | weight size | s/epoch |\n" +
		"|---|---|---:|---:|---:|---:|---:|---:|\n" +
		"| W8A8 | observed | 98.00% | 97.75% |  |  | 1.0 KB (1024 B) | 2.0 |\n" +
		"| W4A4 | observed | 96.00% | 89.50% | 90.00% | -0.50 | 0.5 KB (512 B) | 1.5 |\n" +
		"| W4A4 | LSQ | 97.00% | 96.50% | 90.00% | +6.50 | 0.5 KB (512 B) | 2.2 |\n\n"
	if !strings.HasPrefix(got, "## Quantization-aware training\n\n") || !strings.HasSuffix(got, rows) {
		t.Errorf("QAT section:\n%s\nwant it to end with:\n%s", got, rows)
	}
}

// TestSensitivitySection: layers in model order, widths widest first, a missing cell empty.
func TestSensitivitySection(t *testing.T) {
	r := &schema.Results{
		FP32: schema.Reference{Layers: []schema.LayerShape{{Name: "fc1", In: 4, Out: 3}, {Name: "fc2", In: 3, Out: 2}}},
		Sensitivity: []schema.SensitivityPoint{
			{Layer: "fc2", WBits: 2, ABits: 2, Drop: 12.5, LogitMSE: 0.75},
			{Layer: "fc1", WBits: 8, ABits: 8, Drop: -0.01, LogitMSE: 1e-5},
			{Layer: "fc1", WBits: 2, ABits: 2, Drop: 3.25, LogitMSE: 0.125},
		},
	}
	want := "| layer | 8 bits | 2 bits |\n|---|---:|---:|\n| fc1 | -0.01 (1e-05) | 3.25 (0.125) |\n| fc2 |  | 12.50 (0.75) |\n\n"
	if got := section(repSensitivity, r); !strings.HasSuffix(got, want) {
		t.Errorf("sensitivity section:\n%s\nwant it to end with:\n%s", got, want)
	}
}

// TestMixedSection: the front in order of size with QAT accuracy only for fine-tuned points;
// a budget nothing fits says so; a fine-tuned file is linked.
func TestMixedSection(t *testing.T) {
	r := &schema.Results{
		FP32: schema.Reference{Layers: []schema.LayerShape{{Name: "fc1"}, {Name: "fc2"}}},
		Mixed: []schema.MixedPoint{
			{Bits: []quant.Widths{{Weight: 8, Activation: 8}, {Weight: 8, Activation: 8}}, WeightBytes: 2048, ValLogitMSE: 0.001, ValAccuracy: 98, Accuracy: 97.75, Pareto: true},
			{Bits: []quant.Widths{{Weight: 2, Activation: 8}, {Weight: 2, Activation: 8}}, WeightBytes: 1024, ValLogitMSE: 0.5, ValAccuracy: 60, Accuracy: 61, Pareto: true, Budget: true, QATAccuracy: 90, File: "mixed-a.safetensors"},
			{Bits: []quant.Widths{{Weight: 2, Activation: 8}, {Weight: 8, Activation: 8}}, WeightBytes: 1536, ValLogitMSE: 0.9, ValAccuracy: 55},
		},
		Budgets: []schema.Budget{
			{Bytes: 512},
			{Bytes: 1500, Bits: []quant.Widths{{Weight: 2, Activation: 8}, {Weight: 2, Activation: 8}}, Accuracy: 61, QATAccuracy: 90, WeightBytes: 1024, File: "mixed-a.safetensors"},
		},
	}
	r.Config.KneeQATEpochs = 2
	got := section(repMixed, r)
	for _, s := range []string{
		"The Pareto front among 3 candidates:", "fine-tuned with QAT for 2 epoch(s).",
		"| fc1 W2A8, fc2 W2A8 | 1.0 KB (1024 B) | 0.5 | 60.00% | 61.00% | 90.00% |\n| fc1 W8A8, fc2 W8A8 | 2.0 KB (2048 B) | 0.001 | 98.00% | 97.75% |  |\n",
		"| under 0.5 KB | none fits |  |  |  |  |\n",
		"| under 1.46484375 KB | fc1 W2A8, fc2 W2A8 | 1.0 KB (1024 B) | 61.00% | 90.00% | [mixed-a.safetensors](mixed-a.safetensors) |\n",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("mixed section lacks %q:\n%s", s, got)
		}
	}
	if strings.Contains(got, "55.00%") {
		t.Errorf("mixed section lists a point off the front:\n%s", got)
	}
	if got := section(repMixed, &schema.Results{}); got != "" {
		t.Errorf("mixed section without points: %q", got)
	}
}

// TestFiguresSection embeds each figure with its title as alt text and its caption.
func TestFiguresSection(t *testing.T) {
	var b strings.Builder
	repFigures(&b, synFigures[:1])
	want := "## Figures\n\n### Accuracy against bit width\n\n![Accuracy against bit width](ptq_bits.png)\n\nTest accuracy against weight bits.\n\n"
	if b.String() != want {
		t.Errorf("figures section %q, want %q", b.String(), want)
	}
	b.Reset()
	repFigures(&b, nil)
	if b.Len() != 0 {
		t.Errorf("figures section without figures: %q", b.String())
	}
}

// TestFormats: durations at each unit, sizes, and table cells with a "|" escaped.
func TestFormats(t *testing.T) {
	for sec, want := range map[float64]string{0: "0.0 s", 42.04: "42.0 s", 59.96: "60.0 s", 60: "1 min 00 s", 734: "12 min 14 s", 3599.6: "60 min 00 s", 3600: "1 h 00 min", 3725: "1 h 02 min"} {
		if got := repDuration(sec); got != want {
			t.Errorf("repDuration(%g) = %q, want %q", sec, got, want)
		}
	}
	if got := repSize(62160); got != "60.7 KB (62160 B)" {
		t.Errorf("repSize = %q", got)
	}
	var b strings.Builder
	repHeaderLeft(&b, 2, "a|b", "c", "d")
	repRow(&b, "x", "y|z", "1")
	if want := "| a\\|b | c | d |\n|---|---|---:|\n| x | y\\|z | 1 |\n"; b.String() != want {
		t.Errorf("table %q, want %q", b.String(), want)
	}
}

// A convolutional reference names its network and each layer's kind; the settings line says
// the network and its translations instead of hidden layers.
func TestConvReference(t *testing.T) {
	r := &schema.Results{FP32: schema.Reference{Accuracy: 99.3, WeightBytes: 861480, Arch: "conv(16,5,pad=2),relu,maxpool(2),flatten,dense(10)",
		Layers: []schema.LayerShape{{Name: "fc1", In: 25, Out: 16, Kind: "conv2d"}, {Name: "fc2", In: 3136, Out: 10}}}}
	r.Config.Settings.Arch, r.Config.Settings.Shift = r.FP32.Arch, 2
	md, err := Render(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"network `conv(16,5,pad=2),relu,maxpool(2),flatten,dense(10)`, translations of up to 2 pixels",
		"Network: `conv(16,5,pad=2)", "| fc1 | conv2d | 25 | 16 | 400 |", "| fc2 | dense | 3136 | 10 | 31360 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
