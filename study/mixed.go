package study

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"tinyq/infer"
	"tinyq/ptq"
	"tinyq/quant"
)

// mixedGrid returns the per-layer widths the search tries for nl layers: the settings'
// weight widths (distinct sizes) and activation widths; if that makes more than
// maxMixedCandidates combinations, 8-bit activations only (they cost no weight bytes); if
// still too many, ok is false and the search is skipped.
func mixedGrid(set Settings, nl int) (wbits, abits []int, ok bool) {
	wbits, abits = distinctSizes(set.MixedWeightBits), set.MixedActivationBits
	count := func() float64 { return math.Pow(float64(len(wbits)*len(abits)), float64(nl)) }
	if count() > maxMixedCandidates {
		abits = []int{slices.Max(abits)}
	}
	return wbits, abits, count() <= maxMixedCandidates
}

// mixedCount is the number of mixed-precision candidates for nl layers (0 if skipped).
func mixedCount(set Settings, nl int) int {
	w, a, ok := mixedGrid(set, nl)
	if !ok {
		return 0
	}
	return int(math.Pow(float64(len(w)*len(a)), float64(nl)))
}

// maxMixedCandidates bounds the exhaustive search (deeper models would need a greedy one).
const maxMixedCandidates = 20000

// candidate is one mixed choice while searching.
type candidate struct {
	bits   [][2]int
	bytes  int
	valMSE float64
	valAcc float64
}

// runMixed searches per-layer widths: every combination of the settings' weight and
// activation widths is converted to a mixed integer model and scored on the held-out
// training images by its logit MSE against FP32 (the choice never sees the test set); the
// Pareto front of MSE against weight bytes is then measured on the test set.
func (s *Study) runMixed(e *env) error {
	if len(s.Results.Mixed) > 0 {
		return nil
	}
	nl := len(e.in.Model.Layers)
	wbits, abits, ok := mixedGrid(e.set, nl)
	if !ok {
		note := fmt.Sprintf("mixed precision skipped: %d layers give more than %d combinations of widths even with 8-bit activations", nl, maxMixedCandidates)
		s.note(note)
		s.logf("study: %s", note)
		return s.save()
	}
	if len(abits) < len(e.set.MixedActivationBits) {
		s.note(fmt.Sprintf("mixed precision: %d layers, so only %d-bit activations were searched (activation widths cost no weight bytes)", nl, abits[0]))
	}
	// One observer per activation width: the one closest to FP32 with every layer at
	// 8-bit weights and that width (on held-out images).
	observer := map[int]string{}
	for _, a := range abits {
		_, o, _, err := e.bestSimulation(func(o string) ([]ptq.LayerPlan, error) {
			plans := make([]ptq.LayerPlan, nl)
			for i := range plans {
				p, err := e.layerPlan(i, 8, a, o)
				if err != nil {
					return nil, err
				}
				plans[i] = p
			}
			return plans, nil
		})
		if err != nil {
			return err
		}
		observer[a] = o
	}
	var choices [][2]int
	for _, w := range wbits {
		for _, a := range abits {
			choices = append(choices, [2]int{w, a})
		}
	}
	var cands []candidate
	idx := make([]int, nl)
	for {
		c := candidate{bits: make([][2]int, nl)}
		for i, k := range idx {
			c.bits[i] = choices[k]
		}
		im, err := e.convertMixed(c.bits, observer)
		if err != nil {
			return fmt.Errorf("%v: %w", c.bits, err)
		}
		c.bytes = im.WeightBytes()
		if c.valMSE, c.valAcc, err = e.score(im); err != nil {
			return err
		}
		cands = append(cands, c)
		// Next combination (odometer).
		i := 0
		for ; i < nl; i++ {
			idx[i]++
			if idx[i] < len(choices) {
				break
			}
			idx[i] = 0
		}
		if i == nl {
			break
		}
	}
	front := paretoFront(cands)
	var pts []MixedPoint
	for k, c := range cands {
		p := MixedPoint{Bits: c.bits, ValAccuracy: c.valAcc, ValLogitMSE: c.valMSE, WeightBytes: c.bytes, Pareto: front[k]}
		if p.Pareto {
			im, err := e.convertMixed(c.bits, observer)
			if err != nil {
				return err
			}
			if p.Accuracy, err = e.testAccuracy(im); err != nil {
				return err
			}
		}
		pts = append(pts, p)
	}
	markKnees(pts, e.set.Budgets)
	s.Results.Mixed = pts
	s.Results.Budgets = budgets(pts, e.set.Budgets)
	if err := s.save(); err != nil {
		return err
	}
	s.add(mixedUnits(e.set, nl))
	return nil
}

// distinctSizes drops the widths that pack into the same bytes as a wider one in bits
// (3 bits is stored as int4, 5 and 6 as int8): the wider one is as small and never worse
// to search.
func distinctSizes(bits []int) []int {
	var out []int
	for _, w := range bits {
		pw, err := quant.PackingFor(w)
		wider := false
		for _, v := range bits {
			if pv, err2 := quant.PackingFor(v); err == nil && err2 == nil && v > w && pv == pw {
				wider = true
			}
		}
		if !wider {
			out = append(out, w)
		}
	}
	return out
}

// paretoFront marks the candidates no other beats: none has fewer or equal weight bytes and
// a lower held-out logit MSE (ties in both: the first).
func paretoFront(cands []candidate) []bool {
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool {
		a, b := cands[order[x]], cands[order[y]]
		if a.bytes != b.bytes {
			return a.bytes < b.bytes
		}
		return a.valMSE < b.valMSE
	})
	front := make([]bool, len(cands))
	best := math.Inf(1)
	for _, k := range order {
		if cands[k].valMSE < best {
			front[k] = true
			best = cands[k].valMSE
		}
	}
	return front
}

// budgets picks, for each budget, the front point with the most weight bytes within it
// (on the front, more bytes means a lower held-out error).
func budgets(pts []MixedPoint, limits []int) []Budget {
	var out []Budget
	for i, k := range budgetPicks(pts, limits) {
		b := Budget{Bytes: limits[i]}
		if k >= 0 {
			p := pts[k]
			b.Bits, b.Accuracy, b.QATAccuracy, b.WeightBytes, b.File = p.Bits, p.Accuracy, p.QATAccuracy, p.WeightBytes, p.File
		}
		out = append(out, b)
	}
	return out
}

// budgetPicks returns, for each limit, the index in pts of the point budgets picks, or -1 if
// no front point fits.
func budgetPicks(pts []MixedPoint, limits []int) []int {
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

// kneeBudgetsLeft lists the mixed points chosen for QAT fine-tuning (the knee and the
// budgets' choices) not yet fine-tuned, or whose saved model is missing from dir.
func kneeBudgetsLeft(pts []MixedPoint, dir string) []int {
	var left []int
	for k, p := range pts {
		if !p.Knee && !p.Budget {
			continue
		}
		if p.QATAccuracy == 0 || p.File == "" {
			left = append(left, k)
		} else if _, err := os.Stat(filepath.Join(dir, p.File)); err != nil {
			left = append(left, k)
		}
	}
	return left
}

// markKnees marks the front points QAT fine-tunes: the knee of the front and the point each
// budget picks. The knee is the point farthest below the straight line between the front's
// ends, both axes scaled to [0, 1] (held-out logit MSE on a log scale): where the error has
// fallen most for the bytes spent.
func markKnees(pts []MixedPoint, limits []int) {
	var front []int
	for k, p := range pts {
		if p.Pareto {
			front = append(front, k)
		}
	}
	if len(front) == 0 {
		return
	}
	sort.Slice(front, func(x, y int) bool { return pts[front[x]].WeightBytes < pts[front[y]].WeightBytes })
	x := func(k int) float64 { return float64(pts[k].WeightBytes) }
	y := func(k int) float64 { return math.Log(pts[k].ValLogitMSE + 1e-12) }
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
	if knee >= 0 {
		pts[knee].Knee = true
	}
	for _, k := range budgetPicks(pts, limits) {
		if k >= 0 {
			pts[k].Budget = true
		}
	}
}

// convertMixed converts the FP32 model with per-layer widths, each layer's input calibrated
// at its width with the observer chosen for that width.
func (e *env) convertMixed(bits [][2]int, observer map[int]string) (*infer.IntModel, error) {
	cfg := ptq.Spec(ptq.Static, 8, 8)
	cfg.LayerBits = bits
	plan := ptq.Plan{Calibration: "mixed"}
	for i, b := range bits {
		r, err := e.inputs(b[1], observer[b[1]])
		if err != nil {
			return nil, err
		}
		plan.Inputs = append(plan.Inputs, r[i])
	}
	return ptq.Convert(e.in.Model, cfg, plan)
}
