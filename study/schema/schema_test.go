package schema

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"tinyq/quant"
)

// keys lists the JSON key paths of v ("fp32.layers.name"), arrays looked into.
func keys(prefix string, v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = true
			keys(p, e, out)
		}
	case []any:
		for _, e := range x {
			keys(prefix, e, out)
		}
	}
}

// TestPublishedFields: study.json keeps every field name the README publishes (fields are
// only ever added): a renamed Go field or tag fails here.
func TestPublishedFields(t *testing.T) {
	r := Results{
		Config: Config{Settings: Settings{QATBits: []Pair{{W: 4, A: 8}}, Load: "m"}, Run: RunInfo{Command: "c"}},
		FP32: Reference{Accuracy: 98, Layers: []LayerShape{{Name: "fc1", In: 784, Out: 32}}, Curve: []EpochPoint{{Epoch: 1}},
			Training: "{}", ParamsSHA256: "ab"},
		PTQ:         []PTQPoint{{WBits: 8}},
		QAT:         []QATPoint{{WBits: 8, Curve: []EpochPoint{{Epoch: 2}}}},
		Sensitivity: []SensitivityPoint{{Layer: "fc1"}},
		Mixed:       []MixedPoint{{Bits: []quant.Widths{{Weight: 8, Activation: 8}}, Knee: true, Budget: true, QATAccuracy: 97, File: "f"}},
		Budgets:     []Budget{{Bytes: 1, QATAccuracy: 97, File: "f"}},
		Notes:       []string{"n"},
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	keys("", doc, got)
	published := strings.Fields(`
		config config.quick config.seed config.hidden config.epochs config.batch config.lr config.train_limit config.load
		config.calibration_images config.validation_images config.ptq_weight_bits config.ptq_activation_bits config.observers
		config.qat_bits config.qat_bits.w config.qat_bits.a config.qat_lsq config.qat_epochs config.qat_lr config.sensitivity_bits
		config.mixed_weight_bits config.mixed_activation_bits config.budgets config.knee_qat_epochs
		config.run config.run.command config.run.date config.run.machine config.run.kernels config.run.go
		fp32 fp32.accuracy fp32.weight_bytes fp32.layers fp32.layers.name fp32.layers.in fp32.layers.out
		fp32.curve fp32.curve.epoch fp32.curve.train_loss fp32.curve.test_accuracy fp32.curve.test_loss fp32.curve.seconds
		fp32.training fp32.params_sha256
		ptq ptq.w_bits ptq.a_bits ptq.granularity ptq.mode ptq.observer ptq.accuracy ptq.weight_bytes ptq.logit_mse
		qat qat.w_bits qat.a_bits qat.lsq qat.accuracy qat.int_accuracy qat.weight_bytes qat.epoch_seconds qat.curve qat.curve.epoch
		sensitivity sensitivity.layer sensitivity.w_bits sensitivity.a_bits sensitivity.accuracy sensitivity.drop sensitivity.logit_mse sensitivity.observer
		mixed mixed.bits mixed.accuracy mixed.val_accuracy mixed.val_logit_mse mixed.weight_bytes mixed.pareto mixed.knee mixed.budget mixed.qat_accuracy mixed.file
		budgets budgets.bytes budgets.bits budgets.accuracy budgets.qat_accuracy budgets.weight_bytes budgets.file
		seconds notes`)
	var missing []string
	for _, k := range published {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		var all []string
		for k := range got {
			all = append(all, k)
		}
		sort.Strings(all)
		t.Errorf("study.json lacks published fields %v; it has %v", missing, all)
	}
	// Optional fields are left out when empty, so that older study.json files read the same.
	b, _ = json.Marshal(Results{Mixed: []MixedPoint{{}}, Budgets: []Budget{{}}})
	for _, k := range []string{"notes", "knee", "qat_accuracy", "file", "training", "params_sha256", "curve", "load"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("an empty %s is written: %s", k, b)
		}
	}
}

func TestSettingsSameAndPair(t *testing.T) {
	a := Settings{Budgets: []int{1, 2}, QATBits: []Pair{{W: 4, A: 4}}}
	b := a
	b.Budgets = []int{1, 2}
	if !a.Same(b) {
		t.Error("equal settings differ")
	}
	b.Budgets = []int{2, 1}
	if a.Same(b) {
		t.Error("budgets in another order are the same")
	}
	if got := (Pair{W: 4, A: 8}).String(); got != "w4a8" {
		t.Errorf("Pair.String = %q", got)
	}
	// The README links docs/study/ptq_heatmap.png and pareto.png; every name is a distinct PNG.
	figs := []string{FigurePTQBits, FigureHeatmap, FigurePareto, FigureSensitivity, FigureHist, FigureCurves}
	if FigureHeatmap != "ptq_heatmap.png" || FigurePareto != "pareto.png" {
		t.Errorf("figure names %q, %q: the README links ptq_heatmap.png and pareto.png", FigureHeatmap, FigurePareto)
	}
	for i, f := range figs {
		if !strings.HasSuffix(f, ".png") || slices.Contains(figs[:i], f) {
			t.Errorf("figure file %q: want a distinct .png name", f)
		}
	}
}
