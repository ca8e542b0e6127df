package analysis

import (
	"testing"

	"tinyq/quant"
	"tinyq/study/schema"
)

// static is a static per-channel PTQ point (or per-tensor with tensor) chosen by its MSE.
func static(w, a int, observer string, acc, mse float64) schema.PTQPoint {
	return schema.PTQPoint{WBits: w, ABits: a, Granularity: schema.PerChannel, Mode: schema.Static, Observer: observer, Accuracy: acc, LogitMSE: mse}
}

func tensor(p schema.PTQPoint) schema.PTQPoint {
	p.Granularity = schema.PerTensor
	return p
}

// A study without points has no findings.
func TestFindingsEmpty(t *testing.T) {
	if got := Findings(&schema.Results{}); len(got) != 0 {
		t.Errorf("findings of an empty study: %q", got)
	}
	// PTQ points but no FP32 reference: nothing to be near.
	r := &schema.Results{PTQ: []schema.PTQPoint{static(8, 8, "mse", 98, 0.1)}}
	if got := findNearFP32(r); got != "" {
		t.Errorf("near FP32 without a reference: %q", got)
	}
}

func TestFindNearFP32(t *testing.T) {
	r := &schema.Results{FP32: schema.Reference{Accuracy: 98}}
	r.PTQ = []schema.PTQPoint{
		static(8, 8, "mse", 97.6, 0.1), static(4, 8, "mse", 97.5, 0.2), // 97.5 = 98 - NearFP32: within
		static(4, 4, "mse", 97.49, 0.3), static(2, 8, "mse", 60, 1),
		static(4, 4, "minmax", 98, 0.5), // more accurate, but not the observer the MSE picks
	}
	want := "Static per-channel PTQ stays within 0.5 points of FP32 down to W4A8 (97.50% against 98.00%)."
	if got := findNearFP32(r); got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}
	r.FP32.Accuracy = 99
	want = "No static per-channel PTQ point stays within 0.5 points of FP32 (99.00%); the best is W8A8 at 97.60%."
	if got := findNearFP32(r); got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}
}

// Per-tensor against per-channel at 4 bits, or the fewest bits both have; a gain is a gain.
func TestFindGranularity(t *testing.T) {
	r := &schema.Results{PTQ: []schema.PTQPoint{
		static(8, 8, "mse", 98, 0.1), tensor(static(8, 8, "mse", 98.25, 0.1)),
		static(2, 8, "mse", 60, 1), tensor(static(2, 8, "mse", 40, 1)),
		static(2, 4, "mse", 50, 1), // no per-tensor twin, and not 8-bit activations
	}}
	want := "Per-tensor weights lose 20.00 points against per-channel at 2 bits (W2A8, static): 40.00% against 60.00%."
	if got := findGranularity(r); got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}
	r.PTQ = r.PTQ[:2]
	want = "Per-tensor weights gain 0.25 points against per-channel at 8 bits (W8A8, static): 98.25% against 98.00%."
	if got := findGranularity(r); got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}
	r.PTQ = r.PTQ[:1]
	if got := findGranularity(r); got != "" {
		t.Errorf("without per-tensor points: %q", got)
	}
}

// The best observer by test accuracy at the fewest activation bits below 8 (4 absent),
// said against the one the held-out MSE picks.
func TestFindObserver(t *testing.T) {
	r := &schema.Results{PTQ: []schema.PTQPoint{
		static(8, 2, "minmax", 70, 0.5), static(8, 2, "mse", 80, 0.9),
		static(4, 2, "minmax", 60, 0.5), static(4, 2, "mse", 65, 0.9),
		static(8, 3, "minmax", 90, 0.1), // 3 bits: not the fewest
		static(8, 8, "minmax", 98, 0.1),
	}}
	want := "At 2-bit activations (static, 8-bit per-channel weights) the best observer is mse: 80.00% against 70.00% for minmax; the held-out logit MSE picks minmax."
	if got := findObserver(r); got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}
	// One observer: nothing to compare.
	r.PTQ = []schema.PTQPoint{static(8, 4, "mse", 90, 0.1), static(8, 8, "mse", 98, 0.1)}
	if got := findObserver(r); got != "" {
		t.Errorf("one observer: %q", got)
	}
	// Only 8-bit activations: no finding.
	r.PTQ = []schema.PTQPoint{static(8, 8, "mse", 98, 0.1), static(8, 8, "minmax", 97, 0.2)}
	if got := findObserver(r); got != "" {
		t.Errorf("8-bit activations only: %q", got)
	}
	// No weight width that every observer has.
	r.PTQ = []schema.PTQPoint{static(8, 4, "mse", 98, 0.1), static(4, 4, "minmax", 97, 0.2)}
	if got := findObserver(r); got != "" {
		t.Errorf("no common weight width: %q", got)
	}
}

func TestFindFragile(t *testing.T) {
	r := &schema.Results{Sensitivity: []schema.SensitivityPoint{
		{Layer: "fc1", WBits: 4, Drop: 9}, // not the fewest bits
		{Layer: "fc1", WBits: 2, Drop: 3}, {Layer: "fc2", WBits: 2, Drop: 5.5}, {Layer: "fc3", WBits: 2, Drop: 1.25},
	}}
	want := "The most fragile layer is fc2: at 2 bits alone (weights and input) it costs 5.50 points; the most robust, fc3, costs 1.25."
	if got := findFragile(r); got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}
	r.Sensitivity = r.Sensitivity[1:2]
	want = "The most fragile layer is fc1: at 2 bits alone (weights and input) it costs 3.00 points."
	if got := findFragile(r); got != want {
		t.Errorf("one layer:\n got  %s\n want %s", got, want)
	}
}

// QAT against PTQ at the fewest W = A bits both have, the better scale method; a loss is
// said as one.
func TestFindQAT(t *testing.T) {
	r := &schema.Results{
		PTQ: []schema.PTQPoint{static(8, 8, "mse", 98, 0.1), static(4, 4, "mse", 95, 0.2)},
		QAT: []schema.QATPoint{
			{WBits: 8, ABits: 8, IntAccuracy: 98.5},
			{WBits: 4, ABits: 4, IntAccuracy: 94, LSQ: false},
			{WBits: 4, ABits: 4, IntAccuracy: 94.5, LSQ: true},
			{WBits: 2, ABits: 2, IntAccuracy: 80}, // no PTQ at W2A2
			{WBits: 4, ABits: 8, IntAccuracy: 99}, // not W = A
		},
	}
	want := "QAT loses 0.50 points over PTQ at W4A4 in the integer runtime: 94.50% with LSQ scales against 95.00% for static per-channel PTQ."
	if got := findQAT(r); got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}
	r.PTQ = nil
	if got := findQAT(r); got != "" {
		t.Errorf("without PTQ: %q", got)
	}
}

// The smallest budget something fits, after naming those nothing fits; none at all said so.
func TestFindBudget(t *testing.T) {
	r := &schema.Results{
		FP32: schema.Reference{Layers: []schema.LayerShape{{Name: "fc1"}, {Name: "fc2"}}},
		Budgets: []schema.Budget{
			{Bytes: 128 << 10, Bits: []quant.Widths{{Weight: 8, Activation: 8}, {Weight: 8, Activation: 8}}, Accuracy: 98, WeightBytes: 100 << 10},
			{Bytes: 16 << 10},
			{Bytes: 64 << 10, Bits: []quant.Widths{{Weight: 4, Activation: 8}, {Weight: 8, Activation: 8}}, Accuracy: 97.5, WeightBytes: 60 << 10},
			{Bytes: 32 << 10},
		},
	}
	want := "No mixed model fits under 16 KB or 32 KB; under 64 KB of weights the best mixed model (fc1 W4A8, fc2 W8A8; 60.0 KB) reaches 97.50%."
	if got := findBudget(r); got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}
	r.Budgets = []schema.Budget{{Bytes: 32 << 10}, {Bytes: 16 << 10}}
	want = "No mixed model fits under any budget (16 KB, 32 KB)."
	if got := findBudget(r); got != want {
		t.Errorf("\n got  %s\n want %s", got, want)
	}
	if got := findBudget(&schema.Results{}); got != "" {
		t.Errorf("no budgets: %q", got)
	}
}
