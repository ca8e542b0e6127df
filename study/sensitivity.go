package study

import (
	"fmt"
	"math"

	"tinyq/infer"
	"tinyq/ptq"
	"tinyq/quant"
	"tinyq/study/schema"
)

// layerPlan quantizes layer i with w-bit weights (symmetric per channel) and its input at
// a bits with the given calibration.
func (e *env) layerPlan(i, w, a int, observer string) (ptq.LayerPlan, error) {
	r, err := e.inputs(a, observer)
	if err != nil {
		return ptq.LayerPlan{}, err
	}
	ls := quant.LayerSpecFor(quant.Widths{Weight: w, Activation: a}, quant.PerChannel)
	return ptq.LayerPlan{Weight: ls.Weight, Input: r[i]}, nil
}

// bestSimulation simulates plans built by plan(observer) for every observer and returns the
// one whose logits are closest to FP32 on the held-out training images, as ptq.Choose does.
func (e *env) bestSimulation(plan func(observer string) ([]ptq.LayerPlan, error)) (*infer.FloatModel, string, float64, error) {
	var best *infer.FloatModel
	bestObs, bestMSE := "", math.Inf(1)
	for _, o := range e.set.Observers {
		plans, err := plan(o)
		if err != nil {
			return nil, "", 0, err
		}
		sim, err := ptq.Simulate(e.ref, plans)
		if err != nil {
			return nil, "", 0, err
		}
		mse, _, err := e.score(sim)
		if err != nil {
			return nil, "", 0, err
		}
		if mse < bestMSE {
			best, bestObs, bestMSE = sim, o, mse
		}
	}
	return best, bestObs, bestMSE, nil
}

// runSensitivity quantizes each layer alone (weights and input at the same width), the rest
// in FP32, and measures the test accuracy drop and logit MSE.
func (s *Study) runSensitivity(e *env) error {
	done := map[string]bool{}
	key := func(layer string, b int) string { return fmt.Sprintf("%s/%d", layer, b) }
	for _, p := range s.Results.Sensitivity {
		done[key(p.Layer, p.WBits)] = true
	}
	nl := len(e.in.Model.Layers)
	for _, b := range e.set.SensitivityBits {
		for i, l := range s.Results.FP32.Layers {
			if done[key(l.Name, b)] {
				continue
			}
			sim, obs, _, err := e.bestSimulation(func(o string) ([]ptq.LayerPlan, error) {
				plans := make([]ptq.LayerPlan, nl)
				p, err := e.layerPlan(i, b, b, o)
				plans[i] = p
				return plans, err
			})
			if err != nil {
				return fmt.Errorf("%s at %d bits: %w", l.Name, b, err)
			}
			pt := schema.SensitivityPoint{Layer: l.Name, WBits: b, ABits: b, Observer: obs}
			if pt.LogitMSE, pt.Accuracy, err = e.testScore(sim); err != nil {
				return err
			}
			pt.Drop = math.Round((s.Results.FP32.Accuracy-pt.Accuracy)*100) / 100 // both have two decimals
			s.Results.Sensitivity = append(s.Results.Sensitivity, pt)
			if err := s.save(); err != nil {
				return err
			}
			s.add(unitSensitivity)
		}
	}
	return nil
}
