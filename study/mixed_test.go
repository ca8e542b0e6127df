package study

import (
	"reflect"
	"strings"
	"testing"
)

func TestDistinctSizes(t *testing.T) {
	if got := distinctSizes([]int{8, 6, 5, 4, 3, 2}); !reflect.DeepEqual(got, []int{8, 4, 2}) {
		t.Errorf("distinctSizes(8..2) = %v, want [8 4 2]", got)
	}
	if got := distinctSizes([]int{3, 6}); !reflect.DeepEqual(got, []int{3, 6}) {
		t.Errorf("distinctSizes(3, 6) = %v, want both (no wider width of the same size)", got)
	}
}

// The front keeps a candidate only if nothing as small or smaller has a lower error; the
// knee is the front point that gained most error reduction per byte; budgets pick the
// largest front point that fits.
func TestFrontKneeBudgets(t *testing.T) {
	cands := []candidate{
		{bits: [][2]int{{2, 8}}, bytes: 100, valMSE: 10},
		{bits: [][2]int{{3, 8}}, bytes: 100, valMSE: 12}, // same size, worse
		{bits: [][2]int{{4, 8}}, bytes: 200, valMSE: 0.5},
		{bits: [][2]int{{4, 4}}, bytes: 200, valMSE: 0.7},
		{bits: [][2]int{{6, 8}}, bytes: 300, valMSE: 0.6}, // larger and worse than 200
		{bits: [][2]int{{8, 8}}, bytes: 400, valMSE: 0.01},
	}
	front := paretoFront(cands)
	want := []bool{true, false, true, false, false, true}
	if !reflect.DeepEqual(front, want) {
		t.Fatalf("front %v, want %v", front, want)
	}
	var pts []MixedPoint
	for k, c := range cands {
		pts = append(pts, MixedPoint{Bits: c.bits, WeightBytes: c.bytes, ValLogitMSE: c.valMSE, Pareto: front[k], Accuracy: float64(90 + k)})
	}
	markKnees(pts, []int{50, 250, 1000})
	for k, p := range pts {
		// Knee: bytes 200 (u = 1/3, v = (ln 0.5 - ln 10)/(ln 0.01 - ln 10) = 0.43); budget 250
		// picks it too, budget 1000 the 400-byte point, budget 50 nothing.
		if wantKnee, wantBudget := k == 2, k == 2 || k == 5; p.Knee != wantKnee || p.Budget != wantBudget {
			t.Errorf("point %d (%d bytes): knee %v budget %v, want %v and %v", k, p.WeightBytes, p.Knee, p.Budget, wantKnee, wantBudget)
		}
	}
	if left := kneeBudgetsLeft(pts, t.TempDir()); len(left) != 2 || left[0] != 2 || left[1] != 5 {
		t.Errorf("to fine-tune: %v, want [2 5]", left)
	}
	b := budgets(pts, []int{50, 250, 1000})
	if b[0].Bits != nil || b[1].WeightBytes != 200 || b[1].Accuracy != 92 || b[2].WeightBytes != 400 {
		t.Errorf("budgets %+v", b)
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
	cfg := Config{Settings: Quick()}
	good := func() Results {
		r := emptyResults(cfg)
		r.FP32.Layers = []LayerShape{{"fc1", 784, 32}, {"fc2", 32, 10}}
		r.PTQ = []PTQPoint{{WBits: 4, ABits: 4, Granularity: PerChannel, Mode: Static, Observer: "mse"}}
		r.QAT = []QATPoint{{WBits: 2, ABits: 2}}
		r.Sensitivity = []SensitivityPoint{{Layer: "fc2", WBits: 2, ABits: 2}}
		r.Mixed = []MixedPoint{{Bits: [][2]int{{2, 8}, {8, 8}}, File: "mixed-w2a8-w8a8.safetensors"}}
		return r
	}
	for name, c := range map[string]struct {
		edit func(*Results)
		want string
	}{
		"fine":        {func(*Results) {}, ""},
		"ptq width":   {func(r *Results) { r.PTQ[0].WBits = 7 }, "ptq point 0"},
		"qat lsq":     {func(r *Results) { r.QAT[0].LSQ = true }, "qat point 0"},
		"layer":       {func(r *Results) { r.Sensitivity[0].Layer = "fc9" }, "sensitivity point 0"},
		"mixed len":   {func(r *Results) { r.Mixed[0].Bits = r.Mixed[0].Bits[:1] }, "widths for 1 layers"},
		"mixed width": {func(r *Results) { r.Mixed[0].Bits[1][1] = 3 }, "outside the settings"},
		"mixed file":  {func(r *Results) { r.Mixed[0].File = "../x.safetensors" }, "names file"},
	} {
		r := good()
		c.edit(&r)
		err := r.check()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
