package analysis

import (
	"math"
	"reflect"
	"slices"
	"testing"

	"tinyq/quant"
	"tinyq/study/schema"
)

// BestPTQ keeps, per widths, the point of the asked granularity and mode with the lowest
// held-out MSE; a tie keeps the first, a NaN MSE loses to any number.
func TestBestPTQ(t *testing.T) {
	pc, pt, st, dy := schema.PerChannel, schema.PerTensor, schema.Static, schema.Dynamic
	pts := []schema.PTQPoint{
		{WBits: 8, ABits: 8, Granularity: pc, Mode: st, Observer: "minmax", LogitMSE: 0.2, Accuracy: 99},
		{WBits: 8, ABits: 8, Granularity: pc, Mode: st, Observer: "mse", LogitMSE: 0.1, Accuracy: 90},
		{WBits: 8, ABits: 8, Granularity: pc, Mode: st, Observer: "percentile", LogitMSE: 0.1},
		{WBits: 8, ABits: 8, Granularity: pt, Mode: st, Observer: "minmax", LogitMSE: 0.01},
		{WBits: 8, ABits: 8, Granularity: pc, Mode: dy, LogitMSE: 0.001},
		{WBits: 4, ABits: 8, Granularity: pc, Mode: st, Observer: "minmax", LogitMSE: math.NaN()},
		{WBits: 4, ABits: 8, Granularity: pc, Mode: st, Observer: "mse", LogitMSE: 5},
		{WBits: 2, ABits: 8, Granularity: pc, Mode: st, Observer: "minmax", LogitMSE: math.NaN()},
		{WBits: 2, ABits: 8, Granularity: pc, Mode: st, Observer: "mse", LogitMSE: math.NaN()},
	}
	got := BestPTQ(pts, pc, st)
	want := map[schema.Pair]string{{W: 8, A: 8}: "mse", {W: 4, A: 8}: "mse", {W: 2, A: 8}: "minmax"}
	if len(got) != len(want) {
		t.Fatalf("%d pairs, want %d: %+v", len(got), len(want), got)
	}
	for k, o := range want {
		if got[k].Observer != o {
			t.Errorf("%v: observer %q, want %q", k, got[k].Observer, o)
		}
	}
	if d := BestPTQ(pts, pc, dy); len(d) != 1 || d[schema.Pair{W: 8, A: 8}].LogitMSE != 0.001 {
		t.Errorf("dynamic: %+v", d)
	}
	if n := BestPTQ(nil, pc, st); len(n) != 0 {
		t.Errorf("no points: %+v", n)
	}
}

func TestPairsAndDistinct(t *testing.T) {
	m := map[schema.Pair]schema.PTQPoint{{W: 4, A: 8}: {}, {W: 8, A: 2}: {}, {W: 8, A: 8}: {}, {W: 2, A: 2}: {}}
	if got, want := Pairs(m), []schema.Pair{{W: 8, A: 8}, {W: 8, A: 2}, {W: 4, A: 8}, {W: 2, A: 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Pairs: %v, want %v", got, want)
	}
	in := []int{4, 8, 2, 8, 4}
	if got := Distinct(in); !reflect.DeepEqual(got, []int{2, 4, 8}) {
		t.Errorf("Distinct: %v", got)
	}
	if got := DistinctDesc(in); !reflect.DeepEqual(got, []int{8, 4, 2}) {
		t.Errorf("DistinctDesc: %v", got)
	}
	if !reflect.DeepEqual(in, []int{4, 8, 2, 8, 4}) {
		t.Errorf("the input changed: %v", in)
	}
}

// SortedQAT: widest weights, then widest activations, observed before LSQ; a copy.
func TestSortedQAT(t *testing.T) {
	in := []schema.QATPoint{
		{WBits: 4, ABits: 4, LSQ: true}, {WBits: 4, ABits: 8}, {WBits: 8, ABits: 8, LSQ: true},
		{WBits: 4, ABits: 4}, {WBits: 8, ABits: 8},
	}
	orig := slices.Clone(in)
	var got []string
	for _, q := range SortedQAT(in) {
		got = append(got, PairName(schema.Pair{W: q.WBits, A: q.ABits})+" "+ScaleMethod(q.LSQ))
	}
	want := []string{"W8A8 observed", "W8A8 LSQ", "W4A8 observed", "W4A4 observed", "W4A4 LSQ"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SortedQAT: %v, want %v", got, want)
	}
	if !reflect.DeepEqual(in, orig) {
		t.Error("the input changed")
	}
}

// LayerOrder: the model's layers in its order, names it does not know after, each once.
func TestLayerOrder(t *testing.T) {
	r := &schema.Results{FP32: schema.Reference{Layers: []schema.LayerShape{{Name: "fc1"}, {Name: "fc2"}, {Name: "fc3"}}}}
	got := LayerOrder(r, []string{"fc3", "x", "fc1", "fc3", "y", "x"})
	if want := []string{"fc1", "fc3", "x", "y"}; !reflect.DeepEqual(got, want) {
		t.Errorf("LayerOrder: %v, want %v", got, want)
	}
	if got := LayerOrder(&schema.Results{}, []string{"b", "a"}); !reflect.DeepEqual(got, []string{"b", "a"}) {
		t.Errorf("without layers: %v", got)
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Percent(97.375), "97.38%"}, // %.2f rounds half to even on the binary value: 97.375 is exact
		{Percent(84.3), "84.30%"},
		{Percent(100), "100.00%"},
		{BudgetName(64 << 10), "64 KB"},
		{BudgetName(1536), "1.5 KB"},
		{PairName(schema.Pair{W: 4, A: 8}), "W4A8"},
		{ScaleMethod(true), "LSQ"},
		{ScaleMethod(false), "observed"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
	if KB(1024) != 1 || KB(512) != 0.5 {
		t.Errorf("KB: %g, %g", KB(1024), KB(512))
	}
	r := &schema.Results{FP32: schema.Reference{Layers: []schema.LayerShape{{Name: "fc1"}, {Name: "fc2"}}}}
	if got := LayerWidths(r, []quant.Widths{{Weight: 2, Activation: 8}, {Weight: 8, Activation: 4}}); got != "fc1 W2A8, fc2 W8A4" {
		t.Errorf("LayerWidths: %q", got)
	}
	// Widths for another number of layers are not named after the wrong layers.
	if got := LayerWidths(r, []quant.Widths{{Weight: 2, Activation: 8}, {Weight: 8, Activation: 4}, {Weight: 4, Activation: 4}}); got != "W2A8, W8A4, W4A4" {
		t.Errorf("LayerWidths of 3 layers on a 2-layer model: %q", got)
	}
}
