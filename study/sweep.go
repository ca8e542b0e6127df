package study

import (
	"fmt"

	"tinyq/infer"
	"tinyq/ptq"
	"tinyq/quant"
	"tinyq/study/schema"
)

// ptqPoints lists the PTQ sweep's points (results not filled in): static points for every
// weight width, activation width, granularity and observer, those with weights under 8
// bits also with MSE-clipped weight ranges (the ranges ptq.Choose tries there), and
// dynamic points for every weight width and granularity.
func ptqPoints(set schema.Settings) []schema.PTQPoint {
	var pts []schema.PTQPoint
	for _, g := range []string{schema.PerChannel, schema.PerTensor} {
		for _, w := range set.PTQWeightBits {
			ranges := []string{""}
			if w < 8 {
				ranges = append(ranges, schema.MSEWeights)
			}
			for _, a := range set.PTQActivationBits {
				for _, o := range set.Observers {
					for _, wr := range ranges {
						pts = append(pts, schema.PTQPoint{WBits: w, ABits: a, Granularity: g, Mode: schema.Static, Observer: o, WeightRange: wr})
					}
				}
			}
			pts = append(pts, schema.PTQPoint{WBits: w, ABits: 8, Granularity: g, Mode: schema.Dynamic})
		}
	}
	return pts
}

// donePTQ is the set of the finished PTQ points' keys.
func donePTQ(r *schema.Results) map[string]bool {
	done := map[string]bool{}
	for _, p := range r.PTQ {
		done[ptqKey(p)] = true
	}
	return done
}

func ptqKey(p schema.PTQPoint) string {
	k := fmt.Sprintf("%d/%d/%s/%s/%s", p.WBits, p.ABits, p.Granularity, p.Mode, p.Observer)
	if p.WeightRange != "" {
		k += "/weights " + p.WeightRange
	}
	return k
}

// ptqConfig is the converter configuration of a point.
func ptqConfig(p schema.PTQPoint) ptq.Config {
	mode := ptq.Static
	if p.Mode == schema.Dynamic {
		mode = ptq.Dynamic
	}
	c := ptq.Spec(mode, p.WBits, p.ABits)
	if p.Granularity == schema.PerTensor {
		c = c.PerTensor()
	}
	if p.WeightRange == schema.MSEWeights {
		c.WeightRange = quant.MSEObserver
	}
	return c
}

// convertPoint converts the FP32 model as the point says.
func (e *env) convertPoint(p schema.PTQPoint) (*infer.IntModel, error) {
	cfg := ptqConfig(p)
	plan := ptq.Plan{}
	if p.Mode == schema.Static {
		r, err := e.inputs(p.ABits, p.Observer)
		if err != nil {
			return nil, err
		}
		plan.Inputs = r
	}
	return ptq.Convert(e.ref, cfg, plan)
}

// pendingPTQ returns the PTQ points of set not yet in the results (without dynamic points
// for a convolutional model).
func (s *Study) pendingPTQ(set schema.Settings) []schema.PTQPoint {
	done := donePTQ(&s.Results)
	var left []schema.PTQPoint
	conv := schema.Convolutional(s.Results.FP32.Layers)
	for _, p := range ptqPoints(set) {
		// Dynamic quantization applies to fully connected layers only (ptq.CheckDynamic).
		if !done[ptqKey(p)] && !(conv && p.Mode == schema.Dynamic) {
			left = append(left, p)
		}
	}
	return left
}

// runPTQ measures every PTQ point not yet done: the integer runtime's test accuracy, and
// the logit MSE against FP32 on held-out training images (what a user may choose by).
func (s *Study) runPTQ(e *env) error {
	for _, p := range s.pendingPTQ(e.set) {
		im, err := e.convertPoint(p)
		if err != nil {
			return fmt.Errorf("%s: %w", ptqKey(p), err)
		}
		if p.Accuracy, err = e.testAccuracy(im); err != nil {
			return err
		}
		if p.LogitMSE, _, err = e.score(im); err != nil {
			return err
		}
		p.WeightBytes = im.WeightBytes()
		s.Results.PTQ = append(s.Results.PTQ, p)
		if err := s.save(); err != nil {
			return err
		}
		s.add(unitPTQ)
	}
	return nil
}
