package qat

import (
	"fmt"

	"tinyq/infer"
	"tinyq/nn"
	"tinyq/ptq"
)

// Convert returns the integer model of m through the one convert path (ptq.Convert), with
// every bit width, scheme, scale and range taken from m's own quantizers: there is no second
// place to state them. Static mode uses the ranges the model observed or learned; Dynamic
// mode quantizes activations per row at 8 bits at run time, so it is refused for a model
// trained with narrower activations (it would not be the model that was trained).
func (m *Model) Convert(mode infer.Mode) (*infer.IntModel, error) {
	if err := m.checkFolded("convert"); err != nil {
		return nil, err
	}
	cfg := ptq.Config{Mode: mode, Spec: m.Config.Spec}
	plan := ptq.Plan{Calibration: "qat"}
	if m.Config.LearnScales {
		plan.Calibration = "qat-lsq"
	}
	switch mode {
	case infer.Static:
	case infer.Dynamic:
		if m.Config.Spec.PerLayer() {
			return nil, fmt.Errorf("qat: convert %s to dynamic mode: per-layer widths need static mode", m.Config.Name())
		}
		if a := m.Config.Spec.Layer(0).Activation.Bits; a != 8 {
			return nil, fmt.Errorf("qat: convert %s to dynamic mode: dynamic activations are 8-bit, this model was trained with %d-bit activations", m.Config.Name(), a)
		}
		plan.Calibration = ""
	default:
		return nil, fmt.Errorf("qat: convert: mode %v, want Static or Dynamic", mode)
	}
	for i := range m.Layers {
		if mode == infer.Static {
			plan.Inputs = append(plan.Inputs, m.Inputs[i].Params())
		}
		plan.Weights = append(plan.Weights, m.Weights[i].Params())
	}
	fm, err := m.MLP.FloatModel() // the float parameters, without the fake-quant hooks
	if err != nil {
		return nil, fmt.Errorf("qat: convert %s: %w", m.Config.Name(), err)
	}
	im, err := ptq.Convert(fm, cfg, plan)
	if err != nil {
		return nil, fmt.Errorf("qat: convert %s: %w", m.Config.Name(), err)
	}
	return im, nil
}

// Simulation returns the runtime's float model of m's fake-quant simulation: the same
// arithmetic as m's evaluation graph (fake-quantized inputs, weights and biases), without
// gorgonia. Parameters and scales are copied.
func (m *Model) Simulation() (*infer.FloatModel, error) {
	if err := m.checkFolded("simulate"); err != nil {
		return nil, err
	}
	sim := &infer.Simulation{Name: m.Config.Name()}
	var layers []infer.FloatLayer
	for i, l := range m.Layers {
		if l.Act != nn.ReLU && l.Act != nn.Identity {
			return nil, fmt.Errorf("qat: simulation: activation %v", l.Act)
		}
		layers = append(layers, infer.FloatLayer{
			Name: nn.LayerName(i), In: l.In, Out: l.Out, ReLU: l.Act == nn.ReLU,
			W: append([]float32(nil), l.Weights()...), B: append([]float32(nil), l.Bias()...),
			Conv: l.Conv, Pool: l.Pool,
		})
		sim.Inputs = append(sim.Inputs, m.Inputs[i].Params())
		sim.Weights = append(sim.Weights, m.Weights[i].Params())
	}
	fm, err := infer.NewFloatModel(infer.F32, layers, sim)
	if err == nil {
		err = fm.SetInput(m.InputRecord())
	}
	if err != nil {
		return nil, fmt.Errorf("qat: simulation: %w", err)
	}
	return fm, nil
}
