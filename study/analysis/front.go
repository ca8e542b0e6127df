package analysis

import (
	"cmp"
	"math"
	"slices"
	"sort"

	"tinyq/study/schema"
)

// ParetoFront marks the mixed points no other beats: none has fewer or equal weight bytes
// and a lower held-out logit MSE (ValLogitMSE). Of points equal in both, the first is on the
// front; a NaN MSE never is. The Pareto fields of pts are not read.
func ParetoFront(pts []schema.MixedPoint) []bool {
	order := make([]int, len(pts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool {
		a, b := pts[order[x]], pts[order[y]]
		if a.WeightBytes != b.WeightBytes {
			return a.WeightBytes < b.WeightBytes
		}
		return a.ValLogitMSE < b.ValLogitMSE
	})
	front := make([]bool, len(pts))
	best := math.Inf(1)
	for _, k := range order {
		if pts[k].ValLogitMSE < best {
			front[k] = true
			best = pts[k].ValLogitMSE
		}
	}
	return front
}

// Front returns the points marked Pareto, in order of weight bytes (ties in input order).
func Front(mixed []schema.MixedPoint) []schema.MixedPoint {
	var front []schema.MixedPoint
	for _, m := range mixed {
		if m.Pareto {
			front = append(front, m)
		}
	}
	slices.SortStableFunc(front, func(a, b schema.MixedPoint) int { return cmp.Compare(a.WeightBytes, b.WeightBytes) })
	return front
}

// kneeMSEFloor keeps the logarithm of a held-out logit MSE finite when a point equals FP32
// (MSE 0): 1e-12 is far below any MSE a quantized model reaches (8-bit points are about 1e-4).
const kneeMSEFloor = 1e-12

// Knee returns the index in pts of the front's knee, or -1 if no front point lies below the
// chord (a front of one or two points, a straight or concave one, or ends sharing a size or
// an MSE). The knee is the front
// point (Pareto) farthest below the straight line between the front's ends, both axes scaled
// to [0, 1] (weight bytes; held-out logit MSE on a log scale): where the error has fallen
// most for the bytes spent.
func Knee(pts []schema.MixedPoint) int {
	var front []int
	for k, p := range pts {
		if p.Pareto {
			front = append(front, k)
		}
	}
	if len(front) == 0 {
		return -1
	}
	sort.Slice(front, func(x, y int) bool { return pts[front[x]].WeightBytes < pts[front[y]].WeightBytes })
	x := func(k int) float64 { return float64(pts[k].WeightBytes) }
	y := func(k int) float64 { return math.Log(pts[k].ValLogitMSE + kneeMSEFloor) }
	first, last := front[0], front[len(front)-1]
	dx, dy := x(last)-x(first), y(last)-y(first)
	knee, far := -1, 0.0
	if dx != 0 && dy != 0 {
		for _, k := range front {
			// Distance from the chord in scaled units.
			u, v := (x(k)-x(first))/dx, (y(k)-y(first))/dy
			if d := v - u; d > far {
				knee, far = k, d
			}
		}
	}
	return knee
}

// BudgetPicks returns, for each limit in bytes, the index in pts of the front point (Pareto)
// with the most weight bytes within it (on the front, more bytes means a lower held-out
// error; of equal sizes, the first), or -1 if no front point fits.
func BudgetPicks(pts []schema.MixedPoint, limits []int) []int {
	picks := make([]int, len(limits))
	for i, lim := range limits {
		picks[i] = -1
		for k, p := range pts {
			if p.Pareto && p.WeightBytes <= lim && (picks[i] < 0 || p.WeightBytes > pts[picks[i]].WeightBytes) {
				picks[i] = k
			}
		}
	}
	return picks
}

// Budgets returns, for each limit in bytes, the point BudgetPicks picks as a schema.Budget
// (its widths, accuracies, size and fine-tuned file), or a Budget with nil Bits if none fits.
func Budgets(pts []schema.MixedPoint, limits []int) []schema.Budget {
	var out []schema.Budget
	for i, k := range BudgetPicks(pts, limits) {
		b := schema.Budget{Bytes: limits[i]}
		if k >= 0 {
			p := pts[k]
			b.Bits, b.Accuracy, b.QATAccuracy, b.WeightBytes, b.File = p.Bits, p.Accuracy, p.QATAccuracy, p.WeightBytes, p.File
		}
		out = append(out, b)
	}
	return out
}
