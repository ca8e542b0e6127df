package ptq

import (
	"fmt"
	"strings"

	"tinyq/infer"
	"tinyq/quant"
)

// LayerPlan is how Simulate quantizes one layer: its weights with Weight (symmetric; Bits 0
// keeps the layer in float32) and its input with Input (per tensor, from Calibrate at the
// wanted activation width; zero for a float layer).
type LayerPlan struct {
	Weight quant.Spec
	Input  quant.Params
	// WeightRange is how the weight's range is chosen (Config.WeightRange; 0 is MinMax).
	WeightRange quant.ObserverKind
}

// Simulate returns the fake-quant simulation of m with one plan per layer: layers may have
// different widths or stay in float32, which no integer model can (the sensitivity of one
// layer quantized alone). Weight parameters are chosen as Convert chooses them
// (WeightParams). Where every layer is quantized, the simulation is what the integer runtime
// computes up to the rounding of float sums (ptq.Compare measures the agreement). m is not
// modified.
func Simulate(m *infer.FloatModel, plans []LayerPlan) (*infer.FloatModel, error) {
	if err := checkModel(m); err != nil {
		return nil, fmt.Errorf("ptq: simulate: %w", err)
	}
	if len(plans) != len(m.Layers) {
		return nil, fmt.Errorf("ptq: simulate: %d layer plans for %d layers", len(plans), len(m.Layers))
	}
	// NewFloatModel replaces quantized layers' parameters in this copy of the layer list;
	// the float parameters themselves are only read, so they are shared.
	layers := append([]infer.FloatLayer(nil), m.Layers...)
	sim := &infer.Simulation{}
	var names []string
	for i, p := range plans {
		name := m.Layers[i].Name
		if p.Weight.Bits == 0 {
			if len(p.Input.Scales) != 0 {
				return nil, fmt.Errorf("ptq: simulate %s: input parameters for a float layer", name)
			}
			sim.Inputs = append(sim.Inputs, quant.Params{})
			sim.Weights = append(sim.Weights, quant.Params{})
			names = append(names, "f")
			continue
		}
		if err := p.Weight.Validate(); err != nil || p.Weight.Scheme != quant.Symmetric {
			return nil, fmt.Errorf("ptq: simulate %s: weight spec %v: want symmetric (%v)", name, p.Weight, err)
		}
		wp, err := WeightParams(m.Layers[i], p.Weight, p.WeightRange)
		if err != nil {
			return nil, fmt.Errorf("ptq: simulate %s: %w", name, err)
		}
		if len(p.Input.Scales) != 1 {
			return nil, fmt.Errorf("ptq: simulate %s: %d input scales, want 1 (per tensor)", name, len(p.Input.Scales))
		}
		sim.Inputs = append(sim.Inputs, p.Input)
		sim.Weights = append(sim.Weights, wp)
		names = append(names, quant.Widths{Weight: p.Weight.Bits, Activation: bitsOf(p.Input)}.String())
	}
	sim.Name = strings.Join(names, "-")
	fm, err := infer.NewFloatModel(infer.F32, layers, sim)
	if err != nil {
		return nil, fmt.Errorf("ptq: simulate: %w", err)
	}
	return fm, nil
}

// bitsOf returns the width of an integer range [QMin, QMax].
func bitsOf(p quant.Params) int {
	n := 0
	for span := int64(p.QMax) - int64(p.QMin); span > 0; span >>= 1 {
		n++
	}
	return n
}
