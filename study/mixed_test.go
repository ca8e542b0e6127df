package study

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"tinyq/quant"
	"tinyq/study/schema"
)

func TestDistinctSizes(t *testing.T) {
	if got := distinctSizes([]int{8, 6, 5, 4, 3, 2}); !reflect.DeepEqual(got, []int{8, 4, 2}) {
		t.Errorf("distinctSizes(8..2) = %v, want [8 4 2]", got)
	}
	if got := distinctSizes([]int{3, 6}); !reflect.DeepEqual(got, []int{3, 6}) {
		t.Errorf("distinctSizes(3, 6) = %v, want both (no wider width of the same size)", got)
	}
}

// markKnees marks the knee and the budgets' picks of a front; kneeBudgetsLeft lists them
// until each is fine-tuned and its file is in the directory.
func TestMarkKneesAndLeft(t *testing.T) {
	pts := []schema.MixedPoint{
		{Bits: []quant.Widths{{Weight: 2, Activation: 8}}, WeightBytes: 100, ValLogitMSE: 10, Pareto: true},
		{Bits: []quant.Widths{{Weight: 3, Activation: 8}}, WeightBytes: 100, ValLogitMSE: 12},
		{Bits: []quant.Widths{{Weight: 4, Activation: 8}}, WeightBytes: 200, ValLogitMSE: 0.5, Pareto: true},
		{Bits: []quant.Widths{{Weight: 4, Activation: 4}}, WeightBytes: 200, ValLogitMSE: 0.7},
		{Bits: []quant.Widths{{Weight: 6, Activation: 8}}, WeightBytes: 300, ValLogitMSE: 0.6},
		{Bits: []quant.Widths{{Weight: 8, Activation: 8}}, WeightBytes: 400, ValLogitMSE: 0.01, Pareto: true},
	}
	markKnees(pts, []int{50, 250, 1000})
	for k, p := range pts {
		// Knee: bytes 200 (u = 1/3, v = (ln 0.5 - ln 10)/(ln 0.01 - ln 10) = 0.43); budget 250
		// picks it too, budget 1000 the 400-byte point, budget 50 nothing.
		if wantKnee, wantBudget := k == 2, k == 2 || k == 5; p.Knee != wantKnee || p.Budget != wantBudget {
			t.Errorf("point %d (%d bytes): knee %v budget %v, want %v and %v", k, p.WeightBytes, p.Knee, p.Budget, wantKnee, wantBudget)
		}
	}
	dir := t.TempDir()
	if left := kneeBudgetsLeft(pts, dir); !reflect.DeepEqual(left, []int{2, 5}) {
		t.Errorf("to fine-tune: %v, want [2 5]", left)
	}
	// Point 2 fine-tuned with its file present; point 5 fine-tuned but its file gone.
	pts[2].QATAccuracy, pts[2].File = 97, "mixed-a.safetensors"
	pts[5].QATAccuracy, pts[5].File = 98, "mixed-b.safetensors"
	if err := os.WriteFile(filepath.Join(dir, pts[2].File), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if left := kneeBudgetsLeft(pts, dir); !reflect.DeepEqual(left, []int{5}) {
		t.Errorf("to fine-tune after one: %v, want [5]", left)
	}
}

// Deep models narrow the mixed search to 8-bit activations, then skip it, rather than fail.
func TestMixedGrid(t *testing.T) {
	set := Full() // 3 distinct weight sizes x 2 activation widths
	for _, c := range []struct {
		layers int
		abits  int
		ok     bool
		count  int
	}{
		{3, 2, true, 216},
		{5, 2, true, 7776},
		{6, 1, true, 729},
		{9, 1, true, 19683},
		{10, 1, false, 0},
	} {
		w, a, ok := mixedGrid(set, c.layers)
		if len(w) != 3 || len(a) != c.abits || ok != c.ok || mixedCount(set, c.layers) != c.count {
			t.Errorf("%d layers: weights %v, activations %v, ok %v, count %d; want %d activation widths, ok %v, count %d",
				c.layers, w, a, ok, mixedCount(set, c.layers), c.abits, c.ok, c.count)
		}
	}
}

// Open refuses a study.json whose points the settings could not have produced.
func TestOpenRefusesEditedResults(t *testing.T) {
	cfg := schema.Config{Settings: Quick()}
	good := func() schema.Results {
		r := emptyResults(cfg)
		r.FP32.Layers = []schema.LayerShape{{Name: "fc1", In: 784, Out: 32}, {Name: "fc2", In: 32, Out: 10}}
		r.PTQ = []schema.PTQPoint{{WBits: 4, ABits: 4, Granularity: schema.PerChannel, Mode: schema.Static, Observer: "mse"}}
		r.QAT = []schema.QATPoint{{WBits: 2, ABits: 2}}
		r.Sensitivity = []schema.SensitivityPoint{{Layer: "fc2", WBits: 2, ABits: 2}}
		r.Mixed = []schema.MixedPoint{{Bits: []quant.Widths{{Weight: 2, Activation: 8}, {Weight: 8, Activation: 8}}, File: "mixed-w2a8-w8a8.safetensors"}}
		return r
	}
	for name, c := range map[string]struct {
		edit func(*schema.Results)
		want string
	}{
		"fine":        {func(*schema.Results) {}, ""},
		"ptq width":   {func(r *schema.Results) { r.PTQ[0].WBits = 7 }, "ptq point 0"},
		"qat lsq":     {func(r *schema.Results) { r.QAT[0].LSQ = true }, "qat point 0 (w2a2, lsq true) is not in the settings"},
		"layer":       {func(r *schema.Results) { r.Sensitivity[0].Layer = "fc9" }, "sensitivity point 0 (fc9 at w2a2)"},
		"mixed len":   {func(r *schema.Results) { r.Mixed[0].Bits = r.Mixed[0].Bits[:1] }, "widths for 1 layers"},
		"mixed width": {func(r *schema.Results) { r.Mixed[0].Bits[1].Activation = 3 }, "outside the settings"},
		"mixed file":  {func(r *schema.Results) { r.Mixed[0].File = "../x.safetensors" }, "names file"},
	} {
		r := good()
		c.edit(&r)
		err := check(&r)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
