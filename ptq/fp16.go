package ptq

import (
	"github.com/x448/float16"

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
