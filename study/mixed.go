package study

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"tinyq/infer"
	"tinyq/ptq"
	"tinyq/quant"
	"tinyq/study/analysis"
	"tinyq/study/schema"
)

// mixedGrid returns the per-layer widths the search tries for nl layers: the settings'
// weight widths (distinct sizes) and activation widths; if that makes more than
// maxMixedCandidates combinations, 8-bit activations only (they cost no weight bytes); if
// still too many, ok is false and the search is skipped.
func mixedGrid(set schema.Settings, nl int) (wbits, abits []int, ok bool) {
	wbits, abits = distinctSizes(set.MixedWeightBits), set.MixedActivationBits
	count := func() float64 { return math.Pow(float64(len(wbits)*len(abits)), float64(nl)) }
	if count() > maxMixedCandidates {
		abits = []int{slices.Max(abits)}
	}
	return wbits, abits, count() <= maxMixedCandidates
}

// mixedCount is the number of mixed-precision candidates for nl layers (0 if skipped).
func mixedCount(set schema.Settings, nl int) int {
	w, a, ok := mixedGrid(set, nl)
	if !ok {
		return 0
	}
	return int(math.Pow(float64(len(w)*len(a)), float64(nl)))
}

// maxMixedCandidates bounds the exhaustive search (deeper models would need a greedy one).
const maxMixedCandidates = 20000

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
	var choices []quant.Widths
	for _, w := range wbits {
		for _, a := range abits {
			choices = append(choices, quant.Widths{Weight: w, Activation: a})
		}
	}
	var pts []schema.MixedPoint
	idx := make([]int, nl)
	for {
		c := schema.MixedPoint{Bits: make([]quant.Widths, nl)}
		for i, k := range idx {
			c.Bits[i] = choices[k]
		}
		im, err := e.convertMixed(c.Bits, observer)
		if err != nil {
			return fmt.Errorf("%v: %w", c.Bits, err)
		}
		c.WeightBytes = im.WeightBytes()
		if c.ValLogitMSE, c.ValAccuracy, err = e.score(im); err != nil {
			return err
		}
		pts = append(pts, c)
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
	for k, on := range analysis.ParetoFront(pts) {
		p := &pts[k]
		p.Pareto = on
		if p.Pareto {
			im, err := e.convertMixed(p.Bits, observer)
			if err != nil {
				return err
			}
			if p.Accuracy, err = e.testAccuracy(im); err != nil {
				return err
			}
		}
	}
	markKnees(pts, e.set.Budgets)
	s.Results.Mixed = pts
	s.Results.Budgets = analysis.Budgets(pts, e.set.Budgets)
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

// kneeBudgetsLeft lists the mixed points chosen for QAT fine-tuning (the knee and the
// budgets' choices) not yet fine-tuned, or whose saved model is missing from dir.
func kneeBudgetsLeft(pts []schema.MixedPoint, dir string) []int {
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

// markKnees marks the front points QAT fine-tunes: the knee of the front (analysis.Knee)
// and the point each budget picks (analysis.BudgetPicks).
func markKnees(pts []schema.MixedPoint, limits []int) {
	if k := analysis.Knee(pts); k >= 0 {
		pts[k].Knee = true
	}
	for _, k := range analysis.BudgetPicks(pts, limits) {
		if k >= 0 {
			pts[k].Budget = true
		}
	}
}

// convertMixed converts the FP32 model with per-layer widths, each layer's input calibrated
// at its width with the observer chosen for that width.
func (e *env) convertMixed(bits []quant.Widths, observer map[int]string) (*infer.IntModel, error) {
	cfg := ptq.Spec(ptq.Static, 8, 8).WithWidths(bits)
	plan := ptq.Plan{Calibration: "mixed"}
	for i, b := range bits {
		r, err := e.inputs(b.Activation, observer[b.Activation])
		if err != nil {
			return nil, err
		}
		plan.Inputs = append(plan.Inputs, r[i])
	}
	return ptq.Convert(e.ref, cfg, plan)
}
