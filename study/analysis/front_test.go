package analysis

import (
	"math"
	"reflect"
	"slices"
	"testing"

	"tinyq/quant"
	"tinyq/study/schema"
)

// mp is a mixed point of the given size and held-out MSE, on the front or not.
func mp(bytes int, mse float64, pareto bool) schema.MixedPoint {
	return schema.MixedPoint{Bits: []quant.Widths{{Weight: 8, Activation: 8}}, WeightBytes: bytes, ValLogitMSE: mse, Pareto: pareto}
}

// The front keeps a point only if nothing as small or smaller has a lower error.
func TestParetoFront(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name string
		pts  []schema.MixedPoint
		want []bool
	}{
		{"empty", nil, []bool{}},
		{"one", []schema.MixedPoint{mp(10, 1, false)}, []bool{true}},
		{
			"dominated", // same size worse; larger and worse than a smaller one
			[]schema.MixedPoint{mp(100, 10, false), mp(100, 12, false), mp(200, 0.5, false), mp(200, 0.7, false), mp(300, 0.6, false), mp(400, 0.01, false)},
			[]bool{true, false, true, false, false, true},
		},
		{"input order does not matter", []schema.MixedPoint{mp(400, 0.01, false), mp(100, 10, false), mp(200, 0.5, false)}, []bool{true, true, true}},
		{"a tie in both keeps the first", []schema.MixedPoint{mp(100, 1, false), mp(100, 1, false)}, []bool{true, false}},
		{"a larger point of equal error is not on it", []schema.MixedPoint{mp(100, 1, false), mp(200, 1, false)}, []bool{true, false}},
		{"NaN is never on it", []schema.MixedPoint{mp(50, nan, false), mp(100, 1, false)}, []bool{false, true}},
		{"Pareto fields are not read", []schema.MixedPoint{mp(100, 1, false), mp(200, 2, true)}, []bool{true, false}},
	} {
		in := slices.Clone(c.pts)
		got := ParetoFront(c.pts)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if !reflect.DeepEqual(in, c.pts) && c.name != "NaN is never on it" { // NaN != NaN for DeepEqual
			t.Errorf("%s: the input changed", c.name)
		}
	}
}

// Front returns the marked points by size, equal sizes in input order.
func TestFront(t *testing.T) {
	pts := []schema.MixedPoint{mp(300, 0.1, true), mp(100, 5, true), mp(200, 1, false), mp(100, 6, true)}
	got := Front(pts)
	if len(got) != 3 || got[0].ValLogitMSE != 5 || got[1].ValLogitMSE != 6 || got[2].WeightBytes != 300 {
		t.Errorf("Front: %+v", got)
	}
	if Front(nil) != nil {
		t.Error("Front(nil) is not nil")
	}
}

// The knee is the front point farthest below the chord between the front's ends, with the
// MSE on a log scale; no point below it, no knee.
func TestKnee(t *testing.T) {
	for _, c := range []struct {
		name string
		pts  []schema.MixedPoint
		want int
	}{
		{"no front", []schema.MixedPoint{mp(100, 1, false)}, -1},
		{"one point", []schema.MixedPoint{mp(100, 1, true)}, -1},
		{"two points", []schema.MixedPoint{mp(100, 1, true), mp(200, 0.1, true)}, -1},
		// bytes 100, 200, 400; ln MSE: ln 10, ln 0.5, ln 0.01. Point 2: u = 1/3,
		// v = (ln 0.5 - ln 10)/(ln 0.01 - ln 10) = 0.43 > u: below the chord. Point 1 is off the front.
		{"hand example", []schema.MixedPoint{mp(100, 10, true), mp(150, 20, false), mp(200, 0.5, true), mp(400, 0.01, true)}, 2},
		// The middle point has fallen less than the chord (v = 0.1 < u = 0.5): concave, no knee.
		{"concave", []schema.MixedPoint{mp(100, 1, true), mp(200, math.Exp(-0.1*math.Log(1/0.001)), true), mp(300, 0.001, true)}, -1},
		// Two points below the chord: the farther one (v - u of 0.8 - 0.25 against 0.9 - 0.5).
		{"the farthest", []schema.MixedPoint{mp(100, 1, true), mp(200, math.Pow(0.001, 0.8), true), mp(300, math.Pow(0.001, 0.9), true), mp(500, 0.001, true)}, 1},
		{"ends of one size", []schema.MixedPoint{mp(100, 1, true), mp(100, 0.5, true)}, -1},
		{"ends of one error", []schema.MixedPoint{mp(100, 1, true), mp(200, 0.5, true), mp(300, 1, true)}, -1},
		// An MSE of 0 (a point equal to FP32) is floored, not -Inf: the knee is still found.
		{"zero MSE", []schema.MixedPoint{mp(100, 1, true), mp(200, 1e-6, true), mp(400, 0, true)}, 1},
	} {
		if got := Knee(c.pts); got != c.want {
			t.Errorf("%s: knee %d, want %d", c.name, got, c.want)
		}
	}
}

// Each budget picks the largest front point within it; a point exactly at the limit fits,
// one byte over does not; points off the front are never picked.
func TestBudgetPicks(t *testing.T) {
	pts := []schema.MixedPoint{
		mp(100, 10, true),
		mp(250, 0.5, false), // fits 250 and is larger than the front's 200, but off the front
		mp(200, 1, true),
		mp(400, 0.1, true),
		mp(400, 0.2, true), // same size as the one before: the first stays
	}
	for _, c := range []struct {
		limits []int
		want   []int
	}{
		{[]int{99}, []int{-1}},
		{[]int{100}, []int{0}},
		{[]int{199, 200, 250}, []int{0, 2, 2}},
		{[]int{399, 400, 1 << 30}, []int{2, 3, 3}},
		{nil, []int{}},
	} {
		if got := BudgetPicks(pts, c.limits); !reflect.DeepEqual(got, c.want) {
			t.Errorf("limits %v: picks %v, want %v", c.limits, got, c.want)
		}
	}
	if got := BudgetPicks([]schema.MixedPoint{mp(10, 1, false)}, []int{100}); !reflect.DeepEqual(got, []int{-1}) {
		t.Errorf("no front: %v, want [-1]", got)
	}
}

// Budgets carries the picked point's widths, accuracies, size and file, or nil widths.
func TestBudgets(t *testing.T) {
	p := schema.MixedPoint{Bits: []quant.Widths{{Weight: 4, Activation: 8}, {Weight: 8, Activation: 8}}, WeightBytes: 200, Accuracy: 97.5, QATAccuracy: 97.75, File: "mixed-w4a8-w8a8.safetensors", Pareto: true, ValLogitMSE: 0.5}
	got := Budgets([]schema.MixedPoint{p, mp(500, 0.1, true)}, []int{100, 300})
	want := []schema.Budget{
		{Bytes: 100},
		{Bytes: 300, Bits: p.Bits, Accuracy: 97.5, QATAccuracy: 97.75, WeightBytes: 200, File: p.File},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Budgets:\n got  %+v\n want %+v", got, want)
	}
	if got := Budgets(nil, nil); got != nil {
		t.Errorf("Budgets of nothing: %+v", got)
	}
}
