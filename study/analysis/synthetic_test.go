package analysis

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"tinyq/quant"
	"tinyq/study/schema"
)

// update rewrites the golden files: go test ./study/analysis -run Synthetic -update
var update = flag.Bool("update", false, "rewrite the golden files")

// syntheticFile is the synthetic study the figures' and the report's tests render
// (../testdata/synthetic.json, in study.json's schema): synResults, written by
// TestSyntheticFile -update and checked against it on every run.
var syntheticFile = filepath.Join("..", "testdata", "synthetic.json")

// fullSettings are the full study's settings (study.Full, which this package cannot
// import: the runner imports it), as synResults records them.
func fullSettings() schema.Settings {
	return schema.Settings{
		CalibrationImages: 1024, ValidationImages: 5000,
		PTQWeightBits:       []int{8, 6, 5, 4, 3, 2},
		PTQActivationBits:   []int{8, 6, 4, 3, 2},
		Observers:           []string{"minmax", "percentile", "mse"},
		QATBits:             []schema.Pair{{W: 8, A: 8}, {W: 6, A: 6}, {W: 4, A: 4}, {W: 3, A: 3}, {W: 2, A: 2}, {W: 4, A: 8}, {W: 2, A: 4}},
		QATLSQ:              []bool{false, true},
		QATEpochs:           5,
		SensitivityBits:     []int{8, 4, 3, 2},
		MixedWeightBits:     []int{8, 6, 5, 4, 3, 2},
		MixedActivationBits: []int{8, 4},
		Budgets:             []int{64 << 10, 100 << 10, 128 << 10},
		KneeQATEpochs:       2,
	}
}

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
	synLayers = []schema.LayerShape{{Name: "fc1", In: 784, Out: 256}, {Name: "fc2", In: 256, Out: 128}, {Name: "fc3", In: 128, Out: 10}}
)

// synWeightBytes is the packed weight size of the synthetic model at per-layer widths, with
// one float32 scale per output channel and float32 biases.
func synWeightBytes(bits []quant.Widths) int {
	n := 0
	for i, l := range synLayers {
		n += l.In*l.Out*bits[i].Weight/8 + 4*l.Out + 4*l.Out
	}
	return n
}

// synUniform returns per-layer widths (w, a) for every layer.
func synUniform(w, a int) []quant.Widths {
	return []quant.Widths{{Weight: w, Activation: a}, {Weight: w, Activation: a}, {Weight: w, Activation: a}}
}

// synCurve returns n epochs of a plausible training curve from acc0 to acc1.
func synCurve(n int, loss0, acc0, acc1 float64) []schema.EpochPoint {
	var out []schema.EpochPoint
	for i := range n {
		f := float64(i+1) / float64(n)
		out = append(out, schema.EpochPoint{
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
func synResults() *schema.Results {
	r := &schema.Results{
		Config: schema.Config{
			Settings: fullSettings(),
			Run: schema.RunInfo{
				Command: "go run ./cmd/mnist -study out",
				Date:    "2026-12-01T16:00:00Z",
				Machine: "linux/amd64, 2 CPUs",
				Kernels: "avx2",
				Go:      "go1.26",
			},
		},
		FP32: schema.Reference{
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
	for _, gran := range []string{schema.PerChannel, schema.PerTensor} {
		for _, w := range []int{8, 4, 2} {
			for _, a := range []int{8, 4, 2} {
				for _, obs := range []string{"minmax", "percentile", "mse"} {
					acc := synFP32 - synWeightLoss[w] - synActLoss[a] + synObserverGain[a][obs]
					if gran == schema.PerTensor {
						acc -= synTensorLoss[w]
					}
					base := 1e-3 * float64(9-w) * float64(9-a)
					r.PTQ = append(r.PTQ, schema.PTQPoint{
						WBits: w, ABits: a, Granularity: gran, Mode: schema.Static, Observer: obs,
						Accuracy: acc, WeightBytes: synWeightBytes(synUniform(w, a)),
						LogitMSE: base * synMSEFactor[a][obs],
					})
				}
			}
			acc := synFP32 - synWeightLoss[w] - 0.03
			if gran == schema.PerTensor {
				acc -= synTensorLoss[w]
			}
			r.PTQ = append(r.PTQ, schema.PTQPoint{
				WBits: w, ABits: 8, Granularity: gran, Mode: schema.Dynamic,
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
		r.QAT = append(r.QAT, schema.QATPoint{
			WBits: q.w, ABits: q.a, LSQ: q.lsq, Accuracy: q.fake, IntAccuracy: q.intg,
			WeightBytes: synWeightBytes(synUniform(q.w, q.a)), EpochSeconds: 6.5,
			Curve: synCurve(2, 0.3, q.fake-1.5, q.fake),
		})
	}
	drops := map[string][3]float64{"fc1": {0.05, 0.8, 12.5}, "fc2": {0.02, 0.4, 6.0}, "fc3": {0.01, 0.3, 3.25}}
	for _, l := range synLayers {
		for i, b := range []int{8, 4, 2} {
			d := drops[l.Name][i]
			r.Sensitivity = append(r.Sensitivity, schema.SensitivityPoint{
				Layer: l.Name, WBits: b, ABits: b, Accuracy: synFP32 - d, Drop: d,
				LogitMSE: d / 50, Observer: "mse",
			})
		}
	}
	front := []struct {
		bits     []quant.Widths
		val, acc float64
		knee     bool
		qat      float64
	}{
		{[]quant.Widths{{Weight: 2, Activation: 8}, {Weight: 2, Activation: 8}, {Weight: 2, Activation: 8}}, 62.0, 61.5, false, 0},
		{[]quant.Widths{{Weight: 2, Activation: 8}, {Weight: 2, Activation: 8}, {Weight: 4, Activation: 8}}, 71.8, 71.2, true, 90.4},
		{[]quant.Widths{{Weight: 2, Activation: 8}, {Weight: 4, Activation: 8}, {Weight: 8, Activation: 8}}, 80.1, 79.6, false, 0},
		{[]quant.Widths{{Weight: 4, Activation: 8}, {Weight: 4, Activation: 8}, {Weight: 8, Activation: 8}}, 97.4, 97.3, true, 97.7},
		{[]quant.Widths{{Weight: 4, Activation: 8}, {Weight: 8, Activation: 8}, {Weight: 8, Activation: 8}}, 97.6, 97.5, true, 97.8},
		{[]quant.Widths{{Weight: 8, Activation: 8}, {Weight: 8, Activation: 8}, {Weight: 8, Activation: 8}}, 97.9, 97.87, false, 0},
	}
	for _, f := range front {
		r.Mixed = append(r.Mixed, schema.MixedPoint{
			Bits: f.bits, Accuracy: f.acc, ValAccuracy: f.val, WeightBytes: synWeightBytes(f.bits),
			Pareto: true, Knee: f.knee, QATAccuracy: f.qat,
		})
	}
	r.Mixed = append(r.Mixed, schema.MixedPoint{Bits: []quant.Widths{{Weight: 2, Activation: 8}, {Weight: 8, Activation: 8}, {Weight: 2, Activation: 8}}, ValAccuracy: 60, WeightBytes: synWeightBytes([]quant.Widths{{Weight: 2, Activation: 8}, {Weight: 8, Activation: 8}, {Weight: 2, Activation: 8}})})
	for _, lim := range r.Config.Budgets {
		b := schema.Budget{Bytes: lim}
		for _, m := range r.Mixed {
			if m.Pareto && m.WeightBytes <= lim && m.WeightBytes > b.WeightBytes {
				b.Bits, b.Accuracy, b.QATAccuracy, b.WeightBytes = m.Bits, m.Accuracy, m.QATAccuracy, m.WeightBytes
			}
		}
		r.Budgets = append(r.Budgets, b)
	}
	return r
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

// TestFindings: the findings of the synthetic study are those worked out by hand.
func TestFindings(t *testing.T) {
	got := Findings(synResults())
	if len(got) != len(wantFindings) {
		t.Fatalf("%d findings, want %d:\n%s", len(got), len(wantFindings), strings.Join(got, "\n"))
	}
	for i := range got {
		if got[i] != wantFindings[i] {
			t.Errorf("finding %d:\n got  %s\n want %s", i, got[i], wantFindings[i])
		}
	}
}

// TestSyntheticFile: ../testdata/synthetic.json is synResults as study.json would hold it,
// so that the figures' and the report's tests render the study these tests reason about.
func TestSyntheticFile(t *testing.T) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", " ")
	if err := enc.Encode(synResults()); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(syntheticFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(syntheticFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("%s differs from synResults; run go test ./study/analysis -run SyntheticFile -update", syntheticFile)
	}
	var back schema.Results
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, synResults()) {
		t.Error("synthetic.json does not read back as synResults")
	}
}

// TestSyntheticBudgets: Budgets over the synthetic front picks what synResults recorded by
// its own loop (the largest front point within each limit).
func TestSyntheticBudgets(t *testing.T) {
	r := synResults()
	if got := Budgets(r.Mixed, r.Config.Budgets); !reflect.DeepEqual(got, r.Budgets) {
		t.Errorf("Budgets:\n got  %+v\n want %+v", got, r.Budgets)
	}
}
