package ptq

import (
	"fmt"

	"github.com/x448/float16"

	"tinyq/infer"
)

// Float16 returns the fp16 model of the float model m: its weights and biases rounded to IEEE
// 754 half precision (github.com/x448/float16, round to nearest even) and computed in
// float32, as a model stored in FP16 and widened on load is; with m's input record. m is not
// modified. A value beyond ±65504 would become ±Inf: such a model is refused (an error).
func Float16(m *infer.FloatModel) (*infer.FloatModel, error) {
	if err := checkModel(m); err != nil {
		return nil, fmt.Errorf("ptq: fp16: %w", err)
	}
	layers := make([]infer.FloatLayer, len(m.Layers))
	for i, l := range m.Layers {
		l.W, l.B = half(l.W), half(l.B)
		layers[i] = l
	}
	h, err := infer.NewFloatModel(infer.F16, layers, nil)
	if err != nil {
		return nil, fmt.Errorf("ptq: fp16: %w", err)
	}
	if err := h.SetInput(m.Input()); err != nil {
		return nil, fmt.Errorf("ptq: fp16: %w", err)
	}
	return h, nil
}

// half returns a copy of v with each value rounded to half precision.
func half(v []float32) []float32 {
	h := make([]float32, len(v))
	for i, x := range v {
		h[i] = float16.Fromfloat32(x).Float32()
	}
	return h
}
