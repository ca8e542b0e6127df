package analysis

import (
	"cmp"
	"math"
	"slices"

	"tinyq/study/schema"
)

// BestPTQ returns, for each (weight, activation) pair, the PTQ point of the given
// granularity and mode with the lowest held-out logit MSE: the observer a user would pick
// without looking at the test set. Ties (and NaN MSEs, ranked last) keep the first point.
func BestPTQ(points []schema.PTQPoint, gran, mode string) map[schema.Pair]schema.PTQPoint {
	best := map[schema.Pair]schema.PTQPoint{}
	for _, p := range points {
		if p.Granularity != gran || p.Mode != mode {
			continue
		}
		k := schema.Pair{W: p.WBits, A: p.ABits}
		if b, ok := best[k]; !ok || mseLess(p.LogitMSE, b.LogitMSE) {
			best[k] = p
		}
	}
	return best
}

// Calibration names how a static point was calibrated: its observer, and "weights mse"
// after it when its weight ranges were MSE-clipped ("mse; weights mse").
func Calibration(p schema.PTQPoint) string {
	if p.WeightRange != "" {
		return p.Observer + "; weights " + p.WeightRange
	}
	return p.Observer
}

// mseLess orders logit MSEs with NaN last.
func mseLess(a, b float64) bool {
	if math.IsNaN(a) {
		return false
	}
	return math.IsNaN(b) || a < b
}

// Pairs returns the keys of m sorted by weight bits, then activation bits, descending.
func Pairs(m map[schema.Pair]schema.PTQPoint) []schema.Pair {
	ks := make([]schema.Pair, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b schema.Pair) int {
		if c := cmp.Compare(b.W, a.W); c != 0 {
			return c
		}
		return cmp.Compare(b.A, a.A)
	})
	return ks
}

// Distinct returns the distinct values of vs in ascending order.
func Distinct(vs []int) []int {
	out := slices.Clone(vs)
	slices.Sort(out)
	return slices.Compact(out)
}

// DistinctDesc returns the distinct values of vs in descending order (widest bits first).
func DistinctDesc(vs []int) []int {
	out := Distinct(vs)
	slices.Reverse(out)
	return out
}

// SortedQAT returns a copy of qs sorted by weight bits, then activation bits, descending,
// observed scales before learned ones: the order of the report's table and the curves'
// legend.
func SortedQAT(qs []schema.QATPoint) []schema.QATPoint {
	out := slices.Clone(qs)
	slices.SortStableFunc(out, func(a, b schema.QATPoint) int {
		if c := cmp.Compare(b.WBits, a.WBits); c != 0 {
			return c
		}
		if c := cmp.Compare(b.ABits, a.ABits); c != 0 {
			return c
		}
		return cmp.Compare(boolRank(a.LSQ), boolRank(b.LSQ))
	})
	return out
}

// boolRank orders false before true.
func boolRank(v bool) int {
	if v {
		return 1
	}
	return 0
}

// LayerOrder returns the names in names that are layers of r in model order, then any other
// names in their order of appearance, each once.
func LayerOrder(r *schema.Results, names []string) []string {
	var out []string
	seen := map[string]bool{}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	for _, l := range r.FP32.Layers {
		if present[l.Name] && !seen[l.Name] {
			out, seen[l.Name] = append(out, l.Name), true
		}
	}
	for _, n := range names {
		if !seen[n] {
			out, seen[n] = append(out, n), true
		}
	}
	return out
}
