package ptq

import (
	"fmt"

	"github.com/x448/float16"

	"tinyq/infer"
	"tinyq/nn"
)

// Float16 returns a copy of m whose weights and biases are rounded to IEEE 754 half precision
// (github.com/x448/float16, round to nearest even) and computed in float32, as a model stored
// in FP16 and widened on load would be. m is not modified. Values beyond ±65504 become ±Inf,
// which Validate then rejects.
func Float16(m *nn.MLP) *nn.MLP {
	c := m.Clone()
	for _, l := range c.Layers {
		for _, p := range [][]float32{l.Weights(), l.Bias()} {
			for i, v := range p {
				p[i] = float16.Fromfloat32(v).Float32()
			}
		}
	}
	return c
}

// Float returns the runtime's float model of m at precision p (infer.F16 rounds the
// parameters as Float16 does), with m's input record. The parameters are copied.
func Float(m *nn.MLP, p infer.Precision) (*infer.FloatModel, error) {
	if p == infer.F16 {
		m = Float16(m)
	}
	layers, err := floatLayers(m)
	if err != nil {
		return nil, err
	}
	fm, err := infer.NewFloatModel(p, layers, nil)
	if err != nil {
		return nil, err
	}
	if err := fm.SetInput(m.InputRecord()); err != nil {
		return nil, fmt.Errorf("ptq: %w", err)
	}
	return fm, nil
}

// floatLayers copies m's layers into the runtime's form.
func floatLayers(m *nn.MLP) ([]infer.FloatLayer, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var layers []infer.FloatLayer
	for i, l := range m.Layers {
		layers = append(layers, infer.FloatLayer{
			Name: nn.LayerName(i), In: l.In, Out: l.Out, ReLU: l.Act == nn.ReLU,
			W: append([]float32(nil), l.Weights()...), B: append([]float32(nil), l.Bias()...),
		})
	}
	return layers, nil
}
